"""Bounds on what one tenant can take from a pod: concurrent CSV exports (per pod and per
organisation) and their metrics, the PDF renderer (documents/render.py: worker process,
caps, cache) — one object per app, kept in `app.state.guards`.

`install_guards(app, settings)` creates it at start and registers its metrics from zero in
the app's registry; `guards_of(app)` returns it (and installs it on first use when the app
was built without the call, so the bounds hold either way).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from penvoice.config import Settings
from penvoice.documents.render import Renderer, RenderLimits
from penvoice.errors import PenvoiceError, ServiceUnavailable

EXPORT_OUTCOMES = (
    "completed",  # the whole file was sent
    "refused_org",  # 429: the organisation's concurrent exports are at their limit
    "refused_pod",  # 503: the pod's concurrent exports are at their limit
    "deadline",  # aborted: EXPORT_DEADLINE_SECONDS passed
    "send_timeout",  # aborted: the client read nothing for EXPORT_SEND_TIMEOUT_SECONDS
    "disconnected",  # the client left; paging stopped
    "failed",  # aborted: the database failed mid-stream, or the membership was lost
)
RETRY_AFTER_EXPORT_SECONDS = "5"
PAGE_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class TooManyExports(PenvoiceError):
    status = 429
    slug = "too-many-exports"
    title = "Too many concurrent exports"


class ExportMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.in_progress = Gauge(
            "penvoice_exports_in_progress",
            "CSV exports being streamed by this process.",
            registry=registry,
        )
        self.outcomes = Counter(
            "penvoice_exports_total",
            "CSV exports by outcome (completed, refused_org, refused_pod, deadline, "
            "send_timeout, disconnected, failed).",
            ["outcome"],
            registry=registry,
        )
        for outcome in EXPORT_OUTCOMES:
            self.outcomes.labels(outcome)
        self.rows = Counter(
            "penvoice_export_rows_total", "Invoice rows sent by CSV exports.", registry=registry
        )
        self.page_seconds = Histogram(
            "penvoice_export_page_seconds",
            "Time an export page held its pooled connection and short read-only transaction.",
            buckets=PAGE_SECONDS_BUCKETS,
            registry=registry,
        )

    def outcome(self, outcome: str) -> None:
        self.outcomes.labels(outcome).inc()


class ExportSlots:
    """Concurrent exports per pod and per organisation; taken without waiting.

    One event loop per process, so plain counters need no lock. A refused export has sent
    nothing, so its refusal is a problem response: 429 for the organisation's own limit, 503
    for the pod's, both with `Retry-After`."""

    def __init__(self, per_pod: int, per_org: int, metrics: ExportMetrics) -> None:
        self.per_pod = per_pod
        self.per_org = per_org
        self._metrics = metrics
        self._active = 0
        self._by_org: Tally[UUID] = Tally()

    @property
    def active(self) -> int:
        return self._active

    @contextmanager
    def take(self, org_id: UUID) -> Iterator[None]:
        retry = {"Retry-After": RETRY_AFTER_EXPORT_SECONDS}
        if self._by_org[org_id] >= self.per_org:
            self._metrics.outcome("refused_org")
            raise TooManyExports(
                f"This organisation already has {self.per_org} exports running; "
                "retry when one has finished.",
                headers=retry,
                extra={"limit": self.per_org},
            )
        if self._active >= self.per_pod:
            self._metrics.outcome("refused_pod")
            raise ServiceUnavailable(
                "Too many exports are running right now; retry shortly.", headers=retry
            )
        self._active += 1
        self._by_org[org_id] += 1
        self._metrics.in_progress.inc()
        try:
            yield
        finally:
            self._active -= 1
            self._by_org[org_id] -= 1
            if not self._by_org[org_id]:
                del self._by_org[org_id]
            self._metrics.in_progress.dec()


class Guards:
    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.export_metrics = ExportMetrics(registry)
        self.exports = ExportSlots(
            settings.export_max_per_pod, settings.export_max_per_org, self.export_metrics
        )
        self.renderer = Renderer(RenderLimits.of(settings), registry)

    async def start(self) -> None:
        """At start-up (the lifespan's entry): start the render worker ahead of the first PDF."""
        await self.renderer.worker.start()

    async def close(self) -> None:
        """At shutdown (the lifespan's exit): stop the render worker process."""
        await self.renderer.worker.close()


def install_guards(app: Any, settings: Settings) -> Guards:
    """Create the app's guards; call in `create_app` after `app.state.metrics` is set."""
    metrics = getattr(app.state, "metrics", None)
    registry = metrics.registry if metrics is not None else CollectorRegistry()
    guards = Guards(settings, registry)
    app.state.guards = guards
    return guards


def guards_of(app: Any) -> Guards:
    guards: Guards | None = getattr(app.state, "guards", None)
    if guards is None:
        guards = install_guards(app, app.state.settings)
    return guards
