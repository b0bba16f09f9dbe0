"""An AnalysisRun with Argo Rollouts' semantics (argo-rollouts analysis/analysis.go,
utils/evaluate, metricproviders/prometheus), driven by the lab's clock.

Per metric:

- the first measurement is taken when the run starts (after `initialDelay`); the next one
  `interval` after the previous one *finished* — or `DefaultErrorRetryInterval` (10 s)
  after an Error, whatever the interval;
- the provider runs an instant query at "now": a vector becomes a list of floats (`[]` when
  empty), a scalar a float, anything else is an Error; a failed query is an Error;
- the condition decides: only `successCondition` → Successful when true, else Failed; only
  `failureCondition` → Failed when true, else Successful; both → Inconclusive when neither
  holds; an evaluation error (e.g. `result[0]` of `[]`) → Error. NaN compares false, so
  `[NaN]` with `result[0] >= 0.95` is Failed;
- Successful/Failed/Inconclusive count; an Error does not count, it bumps the consecutive
  error counter, which any other outcome resets;
- the metric is Failed when `failed > failureLimit` (never with a negative limit: `-1` is
  "no limit"), Inconclusive when `inconclusive >
  inconclusiveLimit`, Error when `consecutiveErrors > consecutiveErrorLimit` (default 4:
  the fifth Error in a row) — checked in that order, the later one winning, as upstream;
- with `count` reached it is Successful; a metric with an interval and no count runs until
  the run is terminated, and a terminated run that violated no limit is Successful.

The Rollout aborts on a Failed or Error run and pauses on an Inconclusive one.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from tools.canary_lab.clock import Clock
from tools.canary_lab.expr import ExprError
from tools.canary_lab.manifests import (
    DEFAULT_ERROR_RETRY_INTERVAL,
    AnalysisTemplate,
    Metric,
)
from tools.canary_lab.prometheus import (
    PrometheusClient,
    QueryError,
    resolve_args,
    scale_query,
)

SUCCESSFUL, FAILED, INCONCLUSIVE, ERROR = "Successful", "Failed", "Inconclusive", "Error"
RUNNING, PENDING = "Running", "Pending"
_COMPLETED = {SUCCESSFUL, FAILED, INCONCLUSIVE, ERROR}
_TERMINATING = {FAILED, INCONCLUSIVE, ERROR}  # argo-rollouts analysisutil.IsTerminating
WeightSource = Callable[[], int | None]  # the canary's current setWeight, for the record
_WORSE = [SUCCESSFUL, INCONCLUSIVE, ERROR, FAILED]  # argo-rollouts analysisutil.IsWorse order


@dataclass
class Measurement:
    started_at: float
    finished_at: float
    phase: str
    value: str
    number: float | None
    message: str = ""
    set_weight: int | None = None  # the canary's setWeight when the measurement was taken

    def as_dict(self) -> dict[str, object]:
        return {
            "t": round(self.finished_at, 2),
            "query_seconds": round(self.finished_at - self.started_at, 2),
            "phase": self.phase,
            "value": self.value,
            "message": self.message,
            "set_weight": self.set_weight,
        }


@dataclass
class MetricResult:
    metric: Metric
    query: str  # as resolved by the run (args filled in)
    lab_query: str  # with its ranges compressed, as sent to the lab's Prometheus
    phase: str = PENDING
    message: str = ""
    measurements: list[Measurement] = field(default_factory=list)
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0

    def record(self, measurement: Measurement) -> None:
        self.measurements.append(measurement)
        if measurement.phase == ERROR:
            self.error += 1
            self.consecutive_error += 1
            return
        self.count += 1
        self.consecutive_error = 0
        if measurement.phase == SUCCESSFUL:
            self.successful += 1
        elif measurement.phase == FAILED:
            self.failed += 1
        else:
            self.inconclusive += 1

    def assess(self, *, terminating: bool) -> str:
        """argo-rollouts assessMetricStatus + assessMetricFailureInconclusiveOrError."""
        if self.phase in _COMPLETED:
            return self.phase
        if not self.measurements:
            return SUCCESSFUL if terminating else PENDING
        phase, message = "", ""
        # A negative failureLimit (-1) means no limit: failures never fail the metric.
        if self.metric.failure_limit >= 0 and self.failed > self.metric.failure_limit:
            phase = FAILED
            message = f"failed ({self.failed}) > failureLimit ({self.metric.failure_limit})"
        if self.inconclusive > self.metric.inconclusive_limit:
            phase = INCONCLUSIVE
            message = (
                f"inconclusive ({self.inconclusive}) > "
                f"inconclusiveLimit ({self.metric.inconclusive_limit})"
            )
        if self.consecutive_error > self.metric.consecutive_error_limit:
            phase = ERROR
            message = (
                f"consecutiveErrors ({self.consecutive_error}) > "
                f"consecutiveErrorLimit ({self.metric.consecutive_error_limit})"
            )
        if phase:
            self.message = message
            return phase
        limit = self.metric.effective_count
        if limit is not None and self.count >= limit:
            self.message = f"count ({limit}) reached"
            return SUCCESSFUL
        if terminating:
            self.message = "run terminated"
            return SUCCESSFUL
        return RUNNING

    def as_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric.name,
            "phase": self.phase,
            "message": self.message,
            "query": self.query,
            "lab_query": self.lab_query,
            "interval": self.metric.interval,
            "failure_limit": self.metric.failure_limit,
            "consecutive_error_limit": self.metric.consecutive_error_limit,
            "success_condition": str(self.metric.success_condition or ""),
            "failure_condition": str(self.metric.failure_condition or ""),
            "counts": {
                "measurements": len(self.measurements),
                "successful": self.successful,
                "failed": self.failed,
                "inconclusive": self.inconclusive,
                "error": self.error,
            },
            "measurements": [m.as_dict() for m in self.measurements],
        }


def evaluate(metric: Metric, result: float | list[float]) -> str:
    """argo-rollouts utils/evaluate.EvaluateResult; raises ExprError → the caller's Error."""
    success = metric.success_condition.evaluate(result) if metric.success_condition else False
    failure = metric.failure_condition.evaluate(result) if metric.failure_condition else False
    if metric.success_condition is None and metric.failure_condition is None:
        return SUCCESSFUL
    if metric.success_condition is not None and metric.failure_condition is None:
        failure = not success
    elif metric.success_condition is None:
        success = not failure
    if failure:
        return FAILED
    if not success:
        return INCONCLUSIVE
    return SUCCESSFUL


def lab_queries(template: AnalysisTemplate, args: dict[str, str], factor: float) -> list[str]:
    """Each metric's query as the run resolves it, then compressed for the lab's Prometheus."""
    values = {**template.arg_defaults, **args}
    return [scale_query(resolve_args(m.query, values), factor) for m in template.metrics]


class AnalysisRun:
    """One background AnalysisRun of a template, with the args the Rollout resolved."""

    def __init__(
        self,
        *,
        label: str,
        template: AnalysisTemplate,
        args: dict[str, str],
        prometheus: PrometheusClient,
        clock: Clock,
        weight: WeightSource,
        driving: bool,
    ) -> None:
        self.label = label
        self.template = template
        self.args = args
        self.prometheus = prometheus
        self.clock = clock
        self.weight = weight
        self.driving = driving  # False: evaluated side by side, the Rollout does not obey it
        values = {**template.arg_defaults, **args}
        missing = set(template.arg_names) - set(values)
        if missing:
            raise ValueError(f"{template.name}: args without a value: {sorted(missing)}")
        self.results = [
            MetricResult(
                metric=m,
                query=resolve_args(m.query, values),
                lab_query=scale_query(resolve_args(m.query, values), clock.factor),
            )
            for m in template.metrics
        ]
        self.phase = PENDING
        self.message = ""
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.completed = asyncio.Event()
        self._terminating = False
        self._querying = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.started_at = self.clock.now()
        self.phase = RUNNING
        self._tasks = [
            asyncio.create_task(self._run_metric(r), name=f"{self.label}/{r.metric.name}")
            for r in self.results
        ]

    async def terminate(self) -> None:
        """The Rollout finished or aborted: stop measuring, settle the phase."""
        self._terminating = True
        self._wake.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._assess()

    async def _run_metric(self, result: MetricResult) -> None:
        metric = result.metric
        if metric.initial_delay:
            await self._sleep(metric.initial_delay)
        while not self._terminating and result.phase not in _COMPLETED:
            measurement = await self._measure(result)
            result.record(measurement)
            self._assess()
            if result.phase in _COMPLETED:
                return
            if measurement.phase == ERROR:
                wait = DEFAULT_ERROR_RETRY_INTERVAL
            elif metric.interval is not None:
                wait = metric.interval
            else:  # no interval and no error: a single measurement (count 1)
                return
            # Argo waits from when the read finished. The query's own duration is a latency
            # the clock cannot compress, so it counts at its real size, not `factor` times it.
            took = self.clock.wall(measurement.finished_at - measurement.started_at)
            await self._sleep(measurement.started_at + took + wait - self.clock.now())

    async def _sleep(self, cluster_seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.clock.wall(max(0.0, cluster_seconds)))

    @property
    def querying(self) -> bool:
        """A read is on its way to Prometheus."""
        return self._querying > 0

    async def _measure(self, result: MetricResult) -> Measurement:
        started = self.clock.now()
        weight = self.weight()
        self._querying += 1
        try:
            answer = await self.prometheus.query(result.lab_query)
        except QueryError as exc:
            return Measurement(started, self.clock.now(), ERROR, "", None, str(exc), weight)
        finally:
            self._querying -= 1
        try:
            phase = evaluate(result.metric, answer.value)
            message = ""
        except ExprError as exc:
            phase, message = ERROR, str(exc)
        first = answer.first()
        number = first if first is not None and not math.isnan(first) else None
        return Measurement(
            started, self.clock.now(), phase, answer.display(), number, message, weight
        )

    def _assess(self) -> None:
        """argo-rollouts assessRunStatus: the worst completed metric once all completed —
        or at once when one metric is Failed, Error or Inconclusive (`IsTerminating`: the
        run terminates, the other metrics end Successful unless they broke a limit)."""
        failing = any(r.phase in _TERMINATING for r in self.results)
        terminating = self._terminating or failing
        worst, message, everything = "", "", True
        for result in self.results:
            status = result.assess(terminating=terminating)
            result.phase = status
            if status not in _COMPLETED:
                everything = False
                continue
            if not worst or _WORSE.index(status) > _WORSE.index(worst):
                worst = status
                if result.message and status != SUCCESSFUL:
                    message = f'Metric "{result.metric.name}" assessed {status} due to ' + (
                        result.message
                    )
        if not failing and any(r.phase in _TERMINATING for r in self.results):
            self._assess()  # upstream requeues the run at once: the next pass terminates it
            return
        if (everything or terminating) and worst:
            if self.phase not in _COMPLETED:
                self.phase, self.message = worst, message
                self.finished_at = self.clock.now()
                self.completed.set()
                self._wake.set()
        elif self._terminating and self.phase not in _COMPLETED:
            self.phase, self.finished_at = SUCCESSFUL, self.clock.now()
            self.completed.set()

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "template": self.template.name,
            "file": str(self.template.file.name),
            "driving": self.driving,
            "args": self.args,
            "phase": self.phase,
            "message": self.message,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "metrics": [r.as_dict() for r in self.results],
        }
