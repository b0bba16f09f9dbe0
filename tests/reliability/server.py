"""A real `penvoice serve` process on loopback, its output collected line by line.

The reliability tests attack the server the way a client would: over TCP, through uvicorn's
HTTP parser, with the real lifespan, pool and signal handling. `ServerProcess` starts one,
waits until `/readyz` answers 200, keeps every line it prints (a reader thread, so a long
run never fills the pipe), and stops it with SIGTERM (then SIGKILL if it must).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from penvoice.dev.postgres import free_port


@dataclass
class ServerProcess:
    base_url: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError("server exited during start:\n" + self.output())
                try:
                    if client.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise AssertionError("server never became ready:\n" + self.output())

    def output(self) -> str:
        return "\n".join(self.lines)

    def records(self) -> list[dict[str, Any]]:
        """The JSON log records printed so far."""
        result = []
        for line in list(self.lines):
            if line.startswith("{"):
                try:
                    result.append(json.loads(line))
                except ValueError:
                    continue
        return result

    def error_lines(self) -> list[str]:
        """Lines logged at error level or above, tracebacks, and non-JSON noise from uvicorn."""
        return [
            line
            for line in list(self.lines)
            if '"level": "error"' in line
            or '"level": "critical"' in line
            or "Traceback" in line
            or not line.startswith("{")
        ]

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


@contextmanager
def serve(environ: Mapping[str, str], *, wait: bool = True) -> Iterator[ServerProcess]:
    """`penvoice serve` with `environ` (HOST/PORT are chosen here) until the block ends."""
    port = free_port()
    env = {**os.environ, **environ, "HOST": "127.0.0.1", "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "penvoice.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    server = ServerProcess(f"http://127.0.0.1:{port}", process)
    server._reader = threading.Thread(target=server._read, daemon=True)
    server._reader.start()
    try:
        if wait:
            server.wait_ready()
        yield server
    finally:
        server.stop()


def raw_exchange(server: ServerProcess, request: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes, return what the server answers until it closes (or a reset)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
    return received


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body
