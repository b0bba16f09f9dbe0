"""The request metrics' own CPU per request, measured in-process without the network.

The A/B of whole servers (bench.run.metrics_cost) is the issue's measure, but on a small
shared machine its noise is larger than the effect. This times what the edge does per
request for the metrics — `HttpMetrics.observe` with a route template and a status — many
times, against an empty loop, and reports the difference per request in microseconds.
"""

from __future__ import annotations

import time
from typing import Any

from penvoice.metrics import HttpMetrics

ROUTE = "/v1/orgs/{org_id}/invoices/{invoice_id}"


def measure(requests: int = 50_000, rounds: int = 5) -> dict[str, Any]:
    metrics = HttpMetrics(version="bench", revision="bench")

    def loop(observe: Any) -> float:
        started = time.process_time()
        for _ in range(requests):
            observe("GET", ROUTE, 200, 0.001)
        return (time.process_time() - started) / requests * 1e6

    def nothing(method: str, route: str, code: int, seconds: float) -> None:
        return None

    bare = [loop(nothing) for _ in range(rounds)]
    with_metrics = [loop(metrics.observe) for _ in range(rounds)]
    return {
        "requests_per_round": requests,
        "bare_us": round(min(bare), 2),
        "with_metrics_us": round(min(with_metrics), 2),
        "metrics_us_per_request": round(min(with_metrics) - min(bare), 2),
    }


if __name__ == "__main__":
    print(measure())
