"""A real webhook receiver for the tests: an HTTP server on loopback that verifies each
delivery with the standardwebhooks library's own verifier (401 when the signature or the
timestamp fails), refuses a webhook-id it has already accepted (409: a replay), and records
everything. It can answer with scripted statuses, redirect, stall the first request, answer
slowly, or answer an accepted delivery with a huge body, or one byte at a time, counting what
the client let it send."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verdict: int


@dataclass
class ReceiverState:
    secrets: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    accepted_ids: set[str] = field(default_factory=set)
    script: list[int] = field(default_factory=list)  # statuses to answer first, in order
    redirect_to: str | None = None
    stall_first: bool = False
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answer_delay: float = 0.0  # seconds before answering a delivery: a slow receiver
    huge_body: int = 0  # answer an accepted delivery 200 with this many bytes of body
    trickle_every: float = 0.0  # answer an accepted delivery one byte this often, …
    trickle_body_only: bool = False  # … from the status line on, or the body only
    sent: int = 0  # bytes of such answers the client took (the kernel's buffers included)

    def verify(self, body: bytes, headers: dict[str, str]) -> int:
        """What a careful receiver answers: 401 unverifiable, 409 a replay, else 204."""
        verified = False
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified = True
                break
            except WebhookVerificationError:
                continue
        if not verified:
            return 401
        if headers.get("webhook-id") in self.accepted_ids:
            return 409
        return 204

    @property
    def delivered_ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received if r.verdict == 204]


class _Handler(BaseHTTPRequestHandler):
    state: ReceiverState

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        state = self.state
        with state.lock:
            stall = state.stall_first
            state.stall_first = False
        if stall:
            state.received.append(Received(headers, body, 0))
            state.stalled.set()
            state.release.wait(60)
            return  # the client is gone by then
        with state.lock:
            verdict = state.verify(body, headers)
            if state.redirect_to:
                verdict = 302
            elif state.script and verdict == 204:
                verdict = state.script.pop(0)
            if verdict == 204:
                state.accepted_ids.add(headers.get("webhook-id", ""))
            state.received.append(Received(headers, body, verdict))
        if state.answer_delay:
            state.release.wait(state.answer_delay)
        if verdict == 204 and state.huge_body:
            self._answer_huge(state.huge_body)
            return
        if verdict == 204 and state.trickle_every:
            self._trickle(state.trickle_every, state.trickle_body_only)
            return
        self.send_response(verdict)
        if verdict == 302 and state.redirect_to:
            self.send_header("Location", state.redirect_to)
        reply = f"verdict {verdict}".encode()
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def _answer_huge(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b"0123456789" * 6400
        try:
            while self.state.sent < size:
                part = chunk[: size - self.state.sent]
                self.wfile.write(part)
                self.state.sent += len(part)
        except OSError:
            pass  # the client hung up

    def _trickle(self, every: float, body_only: bool) -> None:
        body = b"." * 2000
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        try:
            if body_only:
                self.wfile.write(head)
            for byte in body if body_only else head + body:
                if self.state.release.wait(every):
                    return  # the test is over
                self.wfile.write(bytes([byte]))
                self.state.sent += 1
        except OSError:
            pass  # the client hung up


@contextmanager
def receiver() -> Iterator[tuple[ReceiverState, str]]:
    """(state, URL) of a receiver on a free loopback port."""
    state = ReceiverState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hooks/penvoice"
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
