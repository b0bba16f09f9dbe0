"""The metrics middleware's own CPU per request, measured in-process without the network.

The A/B of whole servers (bench.run.metrics_cost) is the issue's measure, but on a small
shared machine its noise is larger than the effect. This drives the same ASGI stack —
`MetricsMiddleware` around a do-nothing app, and the bare app — with a matched route in
the scope, many times, and reports the difference per request in microseconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from penvoice.metrics import HttpMetrics, MetricsMiddleware, RouteTemplates


async def _endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def measure(requests: int = 50_000, rounds: int = 5) -> dict[str, Any]:
    app = FastAPI()

    @app.get("/v1/orgs/{org_id}/invoices/{invoice_id}")
    async def route() -> None: ...

    routes = RouteTemplates(app)
    matched = next(r for r in app.routes if getattr(r, "path", "").startswith("/v1/orgs"))
    metrics = HttpMetrics(version="bench", revision="bench")
    wrapped = MetricsMiddleware(_endpoint, metrics=metrics, routes=routes)
    scope: dict[str, Any] = {"type": "http", "method": "GET", "route": matched}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    async def loop(asgi: Any) -> float:
        started = time.process_time()
        for _ in range(requests):
            await asgi(scope, receive, send)
        return (time.process_time() - started) / requests * 1e6

    async def run() -> tuple[list[float], list[float]]:
        bare, with_metrics = [], []
        for _ in range(rounds):
            bare.append(await loop(_endpoint))
            with_metrics.append(await loop(wrapped))
        return bare, with_metrics

    bare, with_metrics = asyncio.run(run())
    return {
        "requests_per_round": requests,
        "bare_us": round(min(bare), 2),
        "with_metrics_us": round(min(with_metrics), 2),
        "metrics_us_per_request": round(min(with_metrics) - min(bare), 2),
    }


if __name__ == "__main__":
    print(measure())
