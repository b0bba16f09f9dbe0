"""The canary gate against a real Prometheus scraping real pods (tools/canary_lab).

Each test runs a scenario of issue 5 end to end — PostgreSQL, the local issuer, `penvoice
serve` processes labelled as stable and canary pods, Prometheus, user traffic split by the
Rollout's steps, the AnalysisTemplates as committed — and checks the outcome the seed
promises. About 30 s each (15× time compression).
"""

from __future__ import annotations

import itertools
import math

import pytest

from tests.canary.conftest import Lab
from tools.canary_lab.analysis import ERROR, FAILED, SUCCESSFUL, AnalysisRun, Measurement
from tools.canary_lab.lab import Outcome, promtool_check
from tools.canary_lab.scenarios import COMPARE, SCOPED, SCOPED_RATE, SEED

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def the_run(outcome: Outcome, label: str) -> AnalysisRun:
    (run,) = [r for r in outcome.runs if r.label == label]
    return run


def phases(run: AnalysisRun) -> list[str]:
    return [m.phase for result in run.results for m in result.measurements]


def user_requests(outcome: Outcome, role: str) -> list[int | None]:
    assert outcome.traffic is not None
    return [r.status for r in outcome.traffic.records if r.role == role]


def numbers_read(gate: AnalysisRun) -> list[Measurement]:
    """The gate's reads, judged as Argo does: none Failed, and an Error only for an empty
    result, never twice in a row. In the lab the `[1m]` window is 4 s of 1 s scrapes, so a
    scrape gap on a busy machine now and then leaves a read empty (docs/canary-lab.md); Argo
    retries it after 10 s and never counts it as failed. Returns the reads that were numbers
    (at least all but one in five)."""
    measurements = gate.results[0].measurements
    assert FAILED not in {m.phase for m in measurements}
    for earlier, later in itertools.pairwise(measurements):
        assert (earlier.phase, later.phase) != (ERROR, ERROR), measurements
    for m in measurements:
        assert m.phase == SUCCESSFUL or (m.phase == ERROR and m.value == "[]"), m
    numbers = [m for m in measurements if m.phase == SUCCESSFUL]
    assert len(numbers) >= 0.8 * len(measurements), measurements
    return numbers


def test_a_good_release_promotes_through_every_step_with_no_failed_read(lab: Lab) -> None:
    outcome, report = lab("good-release")

    assert outcome.verdict.outcome == "promoted", report["verdict"]
    steps = len(outcome.controller.spec.steps)
    assert {index for _, index, _ in outcome.controller.steps_log} == set(range(steps + 1))
    gate = the_run(outcome, SEED)
    assert gate.phase == SUCCESSFUL
    for m in numbers_read(gate):
        assert m.number is not None
        assert m.number >= 0.95, m
    assert FAILED not in phases(the_run(outcome, SCOPED))
    # The canary really served users, and nobody got a 5xx or no answer.
    canary = user_requests(outcome, "canary")
    assert len(canary) > 100
    assert all(s is not None and s < 500 for s in canary + user_requests(outcome, "stable"))


def test_a_release_failing_one_request_in_three_is_aborted_before_100_percent(lab: Lab) -> None:
    outcome, report = lab("bad-release")

    verdict = outcome.verdict
    assert verdict.outcome == "aborted", report["verdict"]
    assert verdict.set_weight < 100
    gate = the_run(outcome, SEED)
    assert gate.phase == FAILED
    (result,) = gate.results
    # Aborted on the read that exceeded failureLimit, not before and not later.
    assert result.failed == result.metric.failure_limit + 1
    assert phases(gate)[-1] == FAILED
    assert gate.message.endswith("failed (3) > failureLimit (2)")
    # Then the canary is gone, the stable set is back to full strength, and it never failed.
    after = outcome.samples[-1]
    assert after.t > verdict.at
    assert (after.set_weight, after.canary_endpoints) == (0, 0)
    assert after.stable_endpoints == outcome.controller.spec.replicas
    assert all(s is not None and s < 500 for s in user_requests(outcome, "stable"))
    # The injected 500s sit inside the edge's metrics: the app's own counter recorded them.
    client_500s = sum(1 for s in user_requests(outcome, "canary") if s == 500)
    recorded = outcome.prometheus_counts[outcome.controller.canary.template_hash]
    assert client_500s > 20
    assert recorded.get("user 500", 0) >= 0.8 * client_500s


def test_with_no_user_traffic_the_gate_is_a_number_and_a_good_release_promotes(
    lab: Lab,
) -> None:
    outcome, report = lab("no-user-traffic")

    assert outcome.traffic is None
    assert outcome.verdict.outcome == "promoted", report["verdict"]
    gate = the_run(outcome, SEED)
    for m in numbers_read(gate):
        assert m.value != "[NaN]"
        assert m.number is not None
        assert not math.isnan(m.number)
    # Only probes and scrapes were counted: no /v1 request reached any pod.
    for counts in outcome.prometheus_counts.values():
        assert not [k for k, n in counts.items() if k.startswith("user") and n], counts
        assert counts.get("platform 200", 0) > 0
    # The scoped variant is fed by liveness probes and scrapes alone, and never fails either.
    assert FAILED not in phases(the_run(outcome, SCOPED))


def test_a_bad_config_repoint_is_never_ready_never_served_and_the_stable_never_fails(
    lab: Lab,
) -> None:
    outcome, report = lab("bad-config-repoint")

    assert outcome.verdict.outcome == "stalled", report["verdict"]
    assert outcome.verdict.step_index == 0  # still at the first setWeight
    (canary,) = [p for p in outcome.cluster.pods if p.build.role == "canary"]
    assert canary.started_at is not None
    assert canary.ready_at is None
    assert canary.probes["readiness 503"] >= 10
    assert not [k for k in canary.probes if k.startswith("readiness 2")]
    assert outcome.runs == []  # the analysis starts at step 1, which was never reached
    assert user_requests(outcome, "canary") == []
    recorded = outcome.prometheus_counts.get(outcome.controller.canary.template_hash, {})
    assert not [k for k, n in recorded.items() if k.startswith("user") and n], recorded
    stable = user_requests(outcome, "stable")
    assert len(stable) > 100
    assert all(s is not None and 200 <= s < 300 for s in stable)
    assert outcome.traffic is not None
    assert outcome.traffic.unrouted == 0


def test_the_scoped_variant_aborts_at_25_percent_what_the_namespace_gate_promotes(
    lab: Lab,
) -> None:
    outcome, report = lab("scoped-vs-namespace")

    # The committed, namespace-wide gate drives the Rollout and lets the canary through...
    assert outcome.verdict.outcome == "promoted", report["verdict"]
    assert the_run(outcome, SEED).phase == SUCCESSFUL
    # ...while the canary-scoped variant, fed the same data, fails while it holds 25 %.
    scoped = the_run(outcome, SCOPED)
    assert scoped.phase == FAILED, phases(scoped)
    assert scoped.finished_at is not None
    index, weight = outcome.controller.step_at(scoped.finished_at)
    assert weight == 25, (index, weight, report["analysis"])
    # The canary really was partially bad: some, not most, of its user requests failed.
    canary = user_requests(outcome, "canary")
    share = sum(1 for s in canary if s == 500) / len(canary)
    assert 0.05 < share < 0.2
    # Side by side in the report, with the what-if of scoping the seed's query alone.
    labels = [run["label"] for run in report["analysis"]]  # type: ignore[attr-defined]
    assert labels == [SEED, COMPARE, SCOPED, SCOPED_RATE]


def test_the_served_metrics_pass_promtool_and_a_broken_exposition_does_not(lab: Lab) -> None:
    """The in-process exposition is checked in tests/test_metrics.py; this is what a live
    `penvoice serve` answered Prometheus, plus a negative control of the same check."""
    outcome, _ = lab("good-release")

    assert outcome.exposition_check["ok"] is True, outcome.exposition_check
    broken = promtool_check("# TYPE x counter\nx{a=1} 1\n")
    assert broken["ok"] is False


def test_errors_are_errors_not_failures_when_the_canary_has_no_series_yet(lab: Lab) -> None:
    """The first reads of the canary-only query find no canary series: Argo records them as
    Error (retried after 10 s), not Failed, and they never reached the consecutive limit."""
    outcome, _ = lab("good-release")

    for label in (SCOPED, SCOPED_RATE):
        run = the_run(outcome, label)
        assert run.phase == SUCCESSFUL
        (result,) = run.results
        assert result.failed == 0
        assert result.error <= result.metric.consecutive_error_limit
        errors = [m for m in result.measurements if m.phase == ERROR]
        assert all(m.value == "[]" or "no data" in m.message for m in errors)
