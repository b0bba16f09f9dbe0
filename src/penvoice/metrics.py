"""Prometheus metrics: the two series the canary gate reads, plus build and pool gauges.

The request edge (`penvoice.web.edge`) records every request once, after its answer:
404s of unknown paths, 4xx/5xx from handlers, and unhandled exceptions (as `code="500"`).
The `route` label is the full route template (`/v1/orgs/{org_id}`) from the route table;
paths that match no route share the single value `UNMATCHED_ROUTE`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

UNMATCHED_ROUTE = "<unmatched>"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def process_registry(component: str, version: str, revision: str) -> CollectorRegistry:
    """A registry with the process, platform and GC collectors and `penvoice_build_info`
    (always 1) of `component`: what the API's and the worker's /metrics both start from."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    Gauge(
        "penvoice_build_info",
        f"Build of the running {component}; always 1.",
        ["version", "revision"],
        registry=registry,
    ).labels(version=version, revision=revision).set(1)
    return registry


class HttpMetrics:
    """The registry of one app instance (tests build many apps in one process)."""

    def __init__(self, version: str, revision: str) -> None:
        self.registry = process_registry("penvoice-api", version, revision)
        self.requests = Counter(
            "http_requests_total",
            "Total HTTP requests by method, matched route, and status code.",
            ["method", "route", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration in seconds by method, matched route, and status code.",
            ["method", "route", "code"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._rate_limited = Counter(
            "penvoice_rate_limited_total",
            "Requests refused with 429 by the per-pod rate limits, by what was limited.",
            ["scope"],
            registry=self.registry,
        )
        for scope in ("principal", "organisation"):
            self._rate_limited.labels(scope)

    def observe(self, method: str, route: str, code: int, seconds: float) -> None:
        # `labels()` looks the child up under a lock on every call; the children of a label
        # set never change, so each is looked up once (as many as the series themselves).
        children = self._children.get((method, route, code))
        if children is None:
            labels = (method, route, str(code))
            children = (self.requests.labels(*labels), self.duration.labels(*labels))
            self._children[(method, route, code)] = children
        children[0].inc()
        children[1].observe(seconds)

    def rate_limited(self, scope: str) -> None:
        self._rate_limited.labels(scope).inc()

    def expose_errors_from_zero(self, operations: Iterable[tuple[str, str]]) -> None:
        """Create the `code="500"` request counter of every operation at 0.

        `rate()` needs two samples of a series: a series born at its first error would hide
        that error from the canary gate's success rate (and a pod's only error from the gate
        altogether). Created at start, the first 500 is an increase like any other."""
        for method, route in sorted(operations):
            self.requests.labels(method, route, "500")

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)


class PoolCollector(Collector):
    """Connection pool gauges read at scrape time from a callable returning the pool state."""

    def __init__(self, read_state: Callable[[], tuple[int, int, int] | None]) -> None:
        self._read_state = read_state

    def collect(self) -> Iterable[Metric]:
        state = self._read_state()
        size, idle, maximum = state if state is not None else (0, 0, 0)
        connections = GaugeMetricFamily(
            "penvoice_db_pool_connections",
            "Open database connections in the pool by state.",
            labels=["state"],
        )
        connections.add_metric(["idle"], idle)
        connections.add_metric(["in_use"], size - idle)
        yield connections
        yield GaugeMetricFamily(
            "penvoice_db_pool_max_connections", "Configured pool size limit.", value=maximum
        )
