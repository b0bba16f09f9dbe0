"""`python -m tools.canary_lab.fault`: `penvoice serve` with a bug that answers 500.

A "bad release" for the canary lab: the real app from `create_app`, served by the real
`penvoice.server.run`, with one extra ASGI middleware that turns one `/v1/...` response in
N into a `500` — the first, then every Nth after it (`CANARY_LAB_FAULT_EVERY=N`); the probes
and `/metrics` are left alone, as a bug in a handler would leave them.

Where the fault sits matters. Wrapping the app from outside (`Fault(create_app(...))`)
would hide the 500s from the app's own `MetricsMiddleware` — the client would see them,
Prometheus never would, and the gate would pass a broken release. So the fault is appended
to `app.user_middleware`, which makes it the innermost user middleware: inside
`MetricsMiddleware`, around the router, where a failing handler is. It lets the router
match (so the `route` label is the real template) and the handler run, then replaces the
response with a 500 problem document; `MetricsMiddleware` records `code="500"` exactly as
it would for a real handler bug. It lives here, never in the served package.
"""

from __future__ import annotations

import json
import os
import sys

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from penvoice.access import configure_logging
from penvoice.app import create_app
from penvoice.config import ConfigError, Settings
from penvoice.server import run

_BODY = json.dumps(
    {
        "type": "https://penvoice.app/problems/internal",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "Injected by the canary lab's fault shim.",
    }
).encode()


class FailEveryNth:
    """Every Nth `/v1/` request gets a 500 instead of the handler's response."""

    def __init__(self, app: ASGIApp, every: int) -> None:
        if every < 1:
            raise ValueError("every must be >= 1")
        self.app = app
        self.every = every
        self.seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        self.seen += 1
        if (self.seen - 1) % self.every:  # the 1st, the (N+1)th, …: exactly 1 in N from the start
            await self.app(scope, receive, send)
            return

        replaced = False

        async def replace_response(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                replaced = True
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(_BODY)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _BODY})
            # the handler's own body messages are dropped

        await self.app(scope, receive, replace_response)
        if not replaced:  # the handler never answered: answer for it
            await replace_response({"type": "http.response.start", "status": 500})


def main() -> int:
    try:
        settings = Settings.from_environ(os.environ)
    except ConfigError as exc:
        print(f"penvoice: {exc}", file=sys.stderr)
        return 2
    every = int(os.environ.get("CANARY_LAB_FAULT_EVERY", "0"))
    configure_logging(settings.log_level)
    app = create_app(settings)
    if every:
        # Innermost user middleware: inside MetricsMiddleware (see the module docstring).
        app.user_middleware.append(Middleware(FailEveryNth, every=every))
    run(app, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
