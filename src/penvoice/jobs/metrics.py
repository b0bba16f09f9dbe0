"""The worker's Prometheus metrics: queue depth, job latency, outcomes and failures by kind.

Queue depth is read from PostgreSQL when Prometheus scrapes (bounded; the last reading is
kept when the database does not answer in time), so every worker reports the whole queue:
aggregate with `max`, not `sum`. Job counters are this process's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from penvoice.jobs.repository import QueueRow
from penvoice.metrics import process_registry

JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
QUEUE_STATES = ("queued", "scheduled", "picked", "failed")
OUTCOMES = ("success", "error")


class QueueCollector(Collector):
    def __init__(self, kinds: Sequence[str]) -> None:
        self._kinds = tuple(kinds)
        self.rows: list[QueueRow] = []
        self.fresh = False

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "penvoice_jobs_queue_depth",
            "Jobs in the queue by kind and state (queued = due now, scheduled = later).",
            labels=["kind", "state"],
        )
        oldest = GaugeMetricFamily(
            "penvoice_jobs_oldest_age_seconds",
            "Age of the oldest job by kind and state (queued: time since it became due).",
            labels=["kind", "state"],
        )
        seen = {(row.kind, row.status): row for row in self.rows}
        for kind in sorted({*self._kinds, *(row.kind for row in self.rows)}):
            for state in QUEUE_STATES:
                row = seen.get((kind, state))
                depth.add_metric([kind, state], row.jobs if row else 0)
                oldest.add_metric([kind, state], row.oldest_seconds if row else 0.0)
        yield depth
        yield oldest
        yield GaugeMetricFamily(
            "penvoice_jobs_queue_reading_ok",
            "1 when the last scrape read the queue from the database, else 0.",
            value=1 if self.fresh else 0,
        )


class WorkerMetrics:
    def __init__(self, kinds: Sequence[str], version: str, revision: str) -> None:
        self.registry = process_registry("penvoice worker", version, revision)
        self.jobs = Counter(
            "penvoice_jobs_total",
            "Jobs run by this worker, by kind and outcome (success, error).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.failures = Counter(
            "penvoice_job_failures_total",
            "Failed job runs by kind and error class (each is retried until its last attempt).",
            ["kind", "error"],
            registry=self.registry,
        )
        self.gave_up = Counter(
            "penvoice_jobs_given_up_total",
            "Jobs kept as failed after their last attempt, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "penvoice_job_duration_seconds",
            "Time a job's handler ran, by kind and outcome.",
            ["kind", "outcome"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "penvoice_job_latency_seconds",
            "Time from a job becoming due to its handler starting, by kind.",
            ["kind"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.running = Gauge(
            "penvoice_jobs_running",
            "Jobs this worker is running now, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.queue = QueueCollector(kinds)
        self.registry.register(self.queue)
        for kind in kinds:  # every series exists from the start, at 0 (see README, /metrics)
            for outcome in OUTCOMES:
                self.jobs.labels(kind, outcome)
            self.gave_up.labels(kind)
            self.running.labels(kind)
