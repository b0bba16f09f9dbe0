"""The lab's model of Argo Rollouts, checked against the upstream behaviour it copies
(argo-rollouts analysis/analysis.go, utils/evaluate, metricproviders/prometheus,
utils/replicaset/canary.go). Fast: no processes."""

from __future__ import annotations

import asyncio
import dataclasses
import math

import httpx
import pytest

from tools.canary_lab.analysis import (
    ERROR,
    FAILED,
    INCONCLUSIVE,
    RUNNING,
    SUCCESSFUL,
    AnalysisRun,
    Measurement,
    MetricResult,
    evaluate,
)
from tools.canary_lab.clock import Clock
from tools.canary_lab.expr import Condition, ExprError
from tools.canary_lab.manifests import (
    SEED_TEMPLATE_FILE,
    AnalysisTemplate,
    ManifestError,
    Metric,
    parse_duration,
    read_template,
)
from tools.canary_lab.prometheus import (
    PrometheusClient,
    QueryError,
    QueryResult,
    resolve_args,
    scale_query,
)
from tools.canary_lab.replicas import approximate_counts, fenceposts

NAN = math.nan


def metric(**changes: object) -> Metric:
    (seed,) = read_template(SEED_TEMPLATE_FILE).metrics
    return dataclasses.replace(seed, **changes)  # type: ignore[arg-type]


# --- the condition: parsed, never eval()-ed ----------------------------------------------


def test_the_committed_condition_treats_nan_as_failed_and_empty_as_an_error() -> None:
    condition = metric().success_condition
    assert condition is not None
    assert str(condition) == "result[0] >= 0.95"
    assert condition.evaluate([0.95]) is True
    assert condition.evaluate([0.9499]) is False
    assert condition.evaluate([NAN]) is False  # NaN compares false, as in Go
    with pytest.raises(ExprError, match="no data"):
        condition.evaluate([])


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("isNaN(result[0]) || result[0] >= 0.95", [NAN], True),
        ("len(result) == 0 || result[0] >= 0.95", [], True),  # short-circuits before result[0]
        ("len(result) > 0 && result[0] >= 0.95", [], False),
        ("!(result[0] < 0.95)", [0.96], True),
        ("not (result[0] < 0.95)", [0.94], False),
        ("result[0] >= 0.95 and result[0] <= 1", [0.97], True),
        ("result >= 0.95", 0.97, True),  # a scalar query result
        ("result[1] - result[0] < 0.5 * 2", [1.0, 1.5], True),
        ("isInf(result[0])", [math.inf], True),
        ("result[-1] >= 0.95", [0.5, 0.97], True),  # expr-lang: a negative index from the end
        ("isNil(nil)", [], False),  # Argo's isNil asks about the result, not its argument
        ("isNil(result)", [], False),  # an empty vector is an empty list, not nil
    ],
)
def test_the_guards_the_argo_docs_show(text: str, result: object, expected: bool) -> None:
    assert Condition.parse(text).evaluate(result) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "result[0] >= 0.95 if True else 0",
        "open('/etc/passwd')",
        "result.__class__",
        "result[0] >=",
        "result[0] >= 0.95)",
    ],
)
def test_anything_outside_the_grammar_is_refused(text: str) -> None:
    with pytest.raises(ExprError):
        Condition.parse(text)


def test_a_condition_must_be_a_boolean() -> None:
    with pytest.raises(ExprError, match="not a boolean"):
        Condition.parse("result[0]").evaluate([0.5])


def test_success_failure_and_inconclusive_as_upstream_evaluates_them() -> None:
    only_success = metric()
    assert evaluate(only_success, [0.99]) == SUCCESSFUL
    assert evaluate(only_success, [0.5]) == FAILED
    only_failure = metric(
        success_condition=None, failure_condition=Condition.parse("result[0] < 0.9")
    )
    assert evaluate(only_failure, [0.95]) == SUCCESSFUL
    assert evaluate(only_failure, [0.5]) == FAILED
    both = metric(failure_condition=Condition.parse("result[0] < 0.9"))
    assert evaluate(both, [0.92]) == INCONCLUSIVE
    assert evaluate(metric(success_condition=None), [0.0]) == SUCCESSFUL


# --- assessment: limits ------------------------------------------------------------------


def measured(phase: str) -> Measurement:
    return Measurement(0.0, 0.0, phase, "[]", None)


def test_failure_limit_is_strictly_greater_and_failures_need_not_be_consecutive() -> None:
    result = MetricResult(metric(), "q", "q")
    for phase in (FAILED, SUCCESSFUL, FAILED):
        result.record(measured(phase))
        assert result.assess(terminating=False) == RUNNING
    result.record(measured(FAILED))
    assert result.assess(terminating=False) == FAILED
    assert result.message == "failed (3) > failureLimit (2)"


def test_the_fifth_consecutive_error_errors_the_metric_and_errors_do_not_count() -> None:
    result = MetricResult(metric(), "q", "q")
    for _ in range(4):
        result.record(measured(ERROR))
    result.record(measured(SUCCESSFUL))  # resets the run of errors
    for _ in range(4):
        result.record(measured(ERROR))
        assert result.assess(terminating=False) == RUNNING
    assert result.count == 1
    result.record(measured(ERROR))
    assert result.assess(terminating=False) == ERROR
    assert result.message == "consecutiveErrors (5) > consecutiveErrorLimit (4)"


def test_a_background_run_that_broke_no_limit_ends_successful() -> None:
    result = MetricResult(metric(), "q", "q")
    result.record(measured(FAILED))
    result.record(measured(FAILED))
    assert result.assess(terminating=True) == SUCCESSFUL


# --- the run's schedule: interval, and 10 s after an Error --------------------------------


class ScriptedPrometheus(PrometheusClient):
    def __init__(self, answers: list[list[float] | str]) -> None:
        super().__init__("http://unused", httpx.AsyncClient())
        self.answers = answers

    async def query(self, promql: str, at: float | None = None) -> QueryResult:
        answer = self.answers.pop(0)
        if isinstance(answer, str):
            raise QueryError(answer)
        return QueryResult("vector", answer)


def test_the_run_retries_10s_after_an_error_and_waits_the_interval_otherwise() -> None:
    async def scenario() -> AnalysisRun:
        prometheus = ScriptedPrometheus([[], "connection refused", [0.99], [0.9], [NAN], [0.9]])
        template = AnalysisTemplate("t", SEED_TEMPLATE_FILE, (), {}, (metric(),))
        run = AnalysisRun(
            label="t",
            template=template,
            args={},
            prometheus=prometheus,
            clock=Clock(factor=120),  # 30 s of interval is 0.25 s
            weight=lambda: 25,
            driving=True,
        )
        run.start()
        await asyncio.wait_for(run.completed.wait(), timeout=10)
        await run.terminate()
        await prometheus.http.aclose()
        return run

    run = asyncio.run(scenario())
    (result,) = run.results
    phases = [m.phase for m in result.measurements]
    assert phases == [ERROR, ERROR, SUCCESSFUL, FAILED, FAILED, FAILED]
    assert [m.value for m in result.measurements][4] == "[NaN]"
    gaps = [
        b.started_at - a.finished_at
        for a, b in zip(result.measurements, result.measurements[1:], strict=False)
    ]
    assert [round(g / 10) * 10 for g in gaps] == [10, 10, 30, 30, 30]
    assert run.phase == FAILED
    assert (
        run.message == 'Metric "success-rate" assessed Failed due to failed (3) > failureLimit (2)'
    )


# --- the Rollout's arithmetic and the lab's time compression ------------------------------


@pytest.mark.parametrize(
    ("replicas", "weight", "counts"),
    [
        (2, 0, (0, 2)),
        (2, 25, (1, 2)),
        (2, 50, (1, 1)),
        (2, 75, (2, 1)),
        (2, 100, (2, 0)),
        (10, 30, (3, 7)),
        (10, 5, (1, 10)),
        (1, 95, (1, 1)),
        (10, 33, (3, 7)),  # the closest share, 30 %; rounding both up would give 4 + 7
    ],
)
def test_replica_counts_approximate_the_weight_with_argos_default_surge(
    replicas: int, weight: int, counts: tuple[int, int]
) -> None:
    surge, _ = fenceposts(replicas, None, None)
    assert approximate_counts(replicas, weight, surge) == counts


def test_query_ranges_shrink_with_the_clock_and_args_resolve() -> None:
    (seed,) = read_template(SEED_TEMPLATE_FILE).metrics
    scaled = scale_query(seed.query, 15)
    assert "[1m]" not in scaled
    assert scaled.count("[4000ms]") == 2
    assert scale_query("rate(x[5m:30s] offset 1m)", 10) == "rate(x[30000ms:3000ms] offset 6000ms)"
    assert scale_query(seed.query, 1) == seed.query
    assert resolve_args('x{h="{{args.canary-hash}}"}', {"canary-hash": "abc"}) == 'x{h="abc"}'
    with pytest.raises(KeyError):
        resolve_args('x{h="{{ args.other }}"}', {"canary-hash": "abc"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("15", 15), (10, 10)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_bad_duration_is_refused() -> None:
    with pytest.raises(ManifestError):
        parse_duration("1 minute")
