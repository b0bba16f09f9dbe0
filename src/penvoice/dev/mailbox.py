"""A local mailbox for `penvoice dev`: an SMTP server on loopback (aiosmtpd, a development
dependency) that writes every message the worker sends to DIR/<time>-<n>.eml, so that
`make run` sends invoices end to end without a mail provider."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from penvoice.dev.postgres import free_port


class _Writer:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self._count += 1
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{self._count:04d}.eml"
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        (self._directory / name).write_bytes(content)
        return f"250 2.0.0 Saved as {name}"


class LocalMailbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._controller = Controller(_Writer(self.directory), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop(no_assert=True)

    def environ(self) -> dict[str, str]:
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_SECURITY": "none",
            "SMTP_FROM": "Penvoice (dev) <invoices@penvoice.local>",
        }
