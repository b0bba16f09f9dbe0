"""A real SMTP server for the tests (aiosmtpd on loopback) that records what arrived, and can
refuse addresses, answer 4xx, or stall at RCPT or after DATA so a test can kill a worker
mid-send."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from penvoice.dev.postgres import free_port


@dataclass
class Arrived:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SinkHandler:
    arrived: list[Arrived] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # 550 at RCPT
    tempfail: set[str] = field(default_factory=set)  # 451 at RCPT
    stall_at_rcpt: bool = False  # once: block at the first RCPT (before any DATA)
    stall_after_data: bool = False  # once: keep the message, then never answer DATA
    stalled: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        if address in self.tempfail:
            return "451 4.3.0 Try again later"
        if self.stall_at_rcpt:
            self.stall_at_rcpt = False
            self.stalled.set()
            await asyncio.sleep(3600)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrived.append(Arrived(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if self.stall_after_data:
            self.stall_after_data = False
            self.stalled.set()
            await asyncio.sleep(3600)
        return "250 2.0.0 Queued as sink-" + str(len(self.arrived))


class SmtpSink:
    def __init__(self, **controller_options: Any) -> None:
        self.handler = SinkHandler()
        self.port = free_port()
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **controller_options
        )

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop(no_assert=True)

    @property
    def arrived(self) -> list[Arrived]:
        return self.handler.arrived

    def environ(self) -> dict[str, str]:
        """The worker's SMTP settings for this sink (plain: loopback only)."""
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_SECURITY": "none",
            "SMTP_FROM": "Penvoice Billing <billing@penvoice.test>",
            "SMTP_TIMEOUT_SECONDS": "10",
        }
