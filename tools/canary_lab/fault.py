"""`python -m tools.canary_lab.fault`: `penvoice serve` with a bug, for the canary lab.

A "bad release": the real app from `create_app`, served by the real `penvoice.server.run`,
with one extra ASGI middleware that misbehaves on `/v1/...` requests as `CANARY_LAB_FAULT`
says — `;`-separated `key=value` pairs:

    every=N        one request in N (the first, then every Nth) answers 500
    status=C       ... answers C instead (a wrong 401/404/422 to a valid request)
    path=REGEX     only requests whose path matches (e.g. `/pdf$`); default every /v1 path
    latency=S      every matching request takes S seconds longer (real time: latency is
                   never compressed), inside the app's duration histogram
    warmup=S       500 for every matching request in the first S cluster seconds after the
                   process served its first /v1 request (CANARY_LAB_FACTOR compresses S)
    crash_after=N  the process dies (exit 3, no drain) after N matching requests: a crash
                   after becoming ready; every restart of the container crashes again

The probes and `/metrics` are left alone, as a bug in a handler would leave them.

Where the fault sits matters. Wrapping the app from outside (`Fault(create_app(...))`)
would hide the 500s from the app's own request metrics — the client would see them,
Prometheus never would, and the gate would pass a broken release. So the fault goes where a
failing handler is, with `Edge.wrap_handlers`: inside the edge's metrics and access log,
around routing and handling. It lets the route match (so the `route` label is the real
template) and the handler run, then replaces the response with a problem document; the edge
records the status (and the added latency) exactly as it would for a real handler bug. It
lives here, never in the served package.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from penvoice.access import configure_logging
from penvoice.app import create_app
from penvoice.config import ConfigError, Settings
from penvoice.server import run

_TITLES = {401: "Unauthorized", 404: "Not Found", 422: "Unprocessable Content"}


def _problem(status: int) -> bytes:
    return json.dumps(
        {
            "type": "https://penvoice.app/problems/"
            + ("internal" if status == 500 else str(status)),
            "title": _TITLES.get(status, "Internal Server Error"),
            "status": status,
            "detail": "Injected by the canary lab's fault shim.",
        }
    ).encode()


@dataclass(frozen=True)
class FaultSpec:
    every: int | None = None
    status: int = 500
    path: str = r"^/v1/"
    latency: float = 0.0
    warmup: float = 0.0  # wall seconds
    crash_after: int | None = None

    @classmethod
    def parse(cls, text: str, factor: float = 1.0) -> FaultSpec:
        """`every=3;status=404;path=/pdf$` (see the module docstring)."""
        fields: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(";"))):
            key, _, value = part.partition("=")
            fields[key] = value
        unknown = set(fields) - {"every", "status", "path", "latency", "warmup", "crash_after"}
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        every = int(fields["every"]) if "every" in fields else None
        if every is not None and every < 1:
            raise ValueError("every must be >= 1")
        return cls(
            every=every,
            status=int(fields.get("status", "500")),
            path=fields.get("path", r"^/v1/"),
            latency=float(fields.get("latency", "0")),
            warmup=float(fields.get("warmup", "0")) / factor,
            crash_after=int(fields["crash_after"]) if "crash_after" in fields else None,
        )


class Fault:
    """The misbehaviour of a bad release, on the matching `/v1/` requests."""

    def __init__(self, app: ASGIApp, spec: FaultSpec) -> None:
        self.app = app
        self.spec = spec
        self.pattern = re.compile(spec.path)
        self.seen = 0
        self.first_at: float | None = None

    def _answer_with(self) -> int | None:
        """The status to answer instead of the handler's, or None to let it stand."""
        spec = self.spec
        assert self.first_at is not None
        if spec.warmup and time.monotonic() - self.first_at < spec.warmup:
            return 500
        if spec.every is not None and (self.seen - 1) % spec.every == 0:
            return spec.status  # the 1st, the (N+1)th, …: exactly 1 in N from the start
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/") or not self.pattern.search(path):
            await self.app(scope, receive, send)
            return
        self.seen += 1
        if self.first_at is None:
            self.first_at = time.monotonic()
        if self.spec.crash_after is not None and self.seen > self.spec.crash_after:
            os._exit(3)  # a crash: no response, no drain, the counters die with the process
        if self.spec.latency:
            await asyncio.sleep(self.spec.latency)
        status = self._answer_with()
        if status is None:
            await self.app(scope, receive, send)
            return
        await self._replaced(scope, receive, send, status)

    async def _replaced(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        body = _problem(status)
        replaced = False

        async def replace_response(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                replaced = True
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            # the handler's own body messages are dropped

        await self.app(scope, receive, replace_response)
        if not replaced:  # the handler never answered: answer for it
            await replace_response({"type": "http.response.start", "status": status})


def main() -> int:
    try:
        settings = Settings.from_environ(os.environ)
    except ConfigError as exc:
        print(f"penvoice: {exc}", file=sys.stderr)
        return 2
    text = os.environ.get("CANARY_LAB_FAULT", "")
    spec = FaultSpec.parse(text, float(os.environ.get("CANARY_LAB_FACTOR", "1"))) if text else None
    configure_logging(settings.log_level)
    app = create_app(settings)
    if spec is not None:
        # Where a failing handler is: inside the metrics (see the module docstring).
        app.wrap_handlers(lambda handlers: Fault(handlers, spec))
    run(app, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
