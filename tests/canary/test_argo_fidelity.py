"""The audit's fidelity gaps (issue 15), each checked against the upstream rule it models.

- `failureLimit: -1` is "no limit" (argo-rollouts analysis.go: a negative limit is not
  applicable), not "fail on anything".
- Replica counts: `approximateWeightedCanaryStableReplicaCounts` and one reconcile of
  `CalculateReplicaCountsForBasicCanary`, against cases of upstream's own test table.
- An abort from 75 % removes a canary pod first (within maxSurge), then adds a stable pod.
- At promotion the background run ends before the old stable pods are scaled away.
- A matrix result is flattened into one list (since v1.8): against a real Prometheus.

Kubernetes is the only part faked here (`FakePods`: pods that are ready one reconcile after
they are created); the analysis runs and the controller are the lab's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tools.canary_lab.analysis import (
    FAILED,
    RUNNING,
    SUCCESSFUL,
    AnalysisRun,
    Measurement,
    MetricResult,
)
from tools.canary_lab.clock import Clock
from tools.canary_lab.manifests import (
    SEED_TEMPLATE_FILE,
    AnalysisTemplate,
    read_rollout,
    read_template,
)
from tools.canary_lab.pods import Build, Pod, Slot
from tools.canary_lab.prometheus import PrometheusClient, QueryResult, prometheus_binary
from tools.canary_lab.replicas import Fenceposts, SetState, fenceposts, reconcile_counts
from tools.canary_lab.rollout import Controller, Verdict

# --- failureLimit: -1 ------------------------------------------------------------------------


def test_a_negative_failure_limit_never_fails_the_metric() -> None:
    (seed,) = read_template(SEED_TEMPLATE_FILE).metrics
    result = MetricResult(dataclasses.replace(seed, failure_limit=-1), "q", "q")
    result.record(Measurement(0.0, 0.0, SUCCESSFUL, "[1]", 1.0))
    assert result.assess(terminating=False) == RUNNING  # 0 failed is not "> -1" upstream
    for _ in range(20):
        result.record(Measurement(0.0, 0.0, FAILED, "[0]", 0.0))
        assert result.assess(terminating=False) == RUNNING
    assert result.assess(terminating=True) == SUCCESSFUL
    limited = MetricResult(dataclasses.replace(seed, failure_limit=0), "q", "q")
    limited.record(Measurement(0.0, 0.0, FAILED, "[0]", 0.0))
    assert limited.assess(terminating=False) == FAILED  # the control: 0 is a limit


# --- replica arithmetic, against upstream's test table ----------------------------------------

# (name in upstream's TestCalculateReplicaCountsForCanary, replicas, weight, maxSurge,
#  maxUnavailable, canary spec/available, stable spec/available) -> (canary, stable)
UPSTREAM_CASES = [
    ("Use max surge int to scale up canary", 10, 20, 2, 0, (0, 0), (10, 10), (2, 10)),
    ("Use max surge percentage to scale up canary", 10, 20, "20%", 0, (0, 0), (10, 10), (2, 10)),
    ("Scale down extra stable replicas", 10, 20, "20%", 0, (2, 2), (10, 10), (2, 8)),
    ("Use max unavailable int to scale down stableRS", 10, 20, 0, 2, (0, 0), (10, 10), (0, 8)),
    ("Use Max Surge and Max Unavailable", 10, 50, 2, 1, (0, 0), (10, 10), (2, 9)),
    ("Scale canaryRS to zero on setWeight of 0%", 10, 0, 1, 1, (1, 1), (10, 10), (0, 10)),
    ("Scale stable to zero on setWeight of 100%", 10, 100, 1, 1, (10, 10), (1, 1), (10, 0)),
    ("Do not scale canaryRS down to zero on non-zero weight", 1, 20, 1, 0, (0, 0), (1, 1), (1, 1)),
    ("Scale canaryRS to zero on <50 weight without surge", 1, 49, 0, 1, (0, 0), (1, 1), (0, 1)),
]


@pytest.mark.parametrize(
    ("replicas", "weight", "surge", "unavailable", "canary", "stable", "expected"),
    [case[1:] for case in UPSTREAM_CASES],
    ids=[case[0] for case in UPSTREAM_CASES],
)
def test_one_reconcile_matches_upstreams_table(
    replicas: int,
    weight: int,
    surge: int | str,
    unavailable: int | str,
    canary: tuple[int, int],
    stable: tuple[int, int],
    expected: tuple[int, int],
) -> None:
    max_surge, max_unavailable = fenceposts(replicas, surge, unavailable)
    posts = Fenceposts(replicas, max_surge, max_unavailable)
    assert reconcile_counts(posts, weight, SetState(*canary), SetState(*stable)) == expected


# --- the controller over fake Kubernetes pods ------------------------------------------------


class FakePods:
    """Pods without processes: created unready, ready at the next reconcile, gone when
    terminated. Records (canary, stable) pod counts after every change."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pods: list[Pod] = []
        self.history: list[tuple[int, int]] = []
        self.on_terminate: list[tuple[str, list[str]]] = []  # role, the runs' phases then
        self.controller: Controller | None = None

    def pods_of(self, role: str, *, include_terminating: bool = False) -> list[Pod]:
        return [
            p
            for p in self.pods
            if p.build.role == role and (include_terminating or p.terminating_at is None)
        ]

    def available(self, role: str) -> int:
        return sum(1 for p in self.pods_of(role) if p.ready)

    def start_pod(self, build: Build) -> Pod:
        index = len(self.pods)
        slot = Slot(build.role, index, 0, f"{build.role}-{index}")
        pod = Pod(slot=slot, build=build, log_path=Path("unused"))
        pod.started_at = self.clock.now()
        self.pods.append(pod)
        self._record()
        return pod

    async def terminate(self, pod: Pod) -> None:
        pod.terminating_at = self.clock.now()
        runs = self.controller.runs if self.controller is not None else []
        self.on_terminate.append((pod.build.role, [r.phase for r in runs]))
        self._record()

    async def wait_change(self, timeout: float = 0.05) -> None:
        await asyncio.sleep(0.001)
        for pod in self.pods:
            pod.ready = pod.terminating_at is None

    def _record(self) -> None:
        counts = (len(self.pods_of("canary")), len(self.pods_of("stable")))
        if not self.history or self.history[-1] != counts:
            self.history.append(counts)


class ByWeight(PrometheusClient):
    """A Prometheus that answers `[1]` until the canary reaches `bad_from` percent, `[0]` then."""

    def __init__(self, controller: list[Controller], bad_from: int | None) -> None:
        super().__init__("http://unused", httpx.AsyncClient())
        self.controller = controller
        self.bad_from = bad_from

    async def query(self, promql: str, at: float | None = None) -> QueryResult:
        weight = self.controller[0].set_weight
        bad = self.bad_from is not None and weight >= self.bad_from
        return QueryResult("vector", [0.0 if bad else 1.0])


def drive(bad_from: int | None) -> tuple[Verdict, FakePods, Controller]:
    async def scenario() -> tuple[Verdict, FakePods, Controller]:
        clock = Clock(factor=600)  # a 60 s pause is 0.1 s
        spec = read_rollout()
        pods = FakePods(clock)
        stable = Build("stable", "stablehash", "1", {})
        canary = Build("canary", "canaryhash", "2", {})
        for _ in range(spec.replicas):
            pods.start_pod(stable)
        await pods.wait_change()
        holder: list[Controller] = []
        prometheus = ByWeight(holder, bad_from)
        (seed,) = read_template(SEED_TEMPLATE_FILE).metrics
        template = AnalysisTemplate(
            "t", SEED_TEMPLATE_FILE, (), {}, (dataclasses.replace(seed, failure_limit=0),)
        )

        def runs() -> list[AnalysisRun]:
            return [
                AnalysisRun(
                    label="seed",
                    template=template,
                    args={},
                    prometheus=prometheus,
                    clock=clock,
                    weight=lambda: holder[0].set_weight,
                    driving=True,
                )
            ]

        controller = Controller(
            spec=spec,
            cluster=pods,
            clock=clock,
            stable=stable,
            canary=canary,
            start_analysis=runs,
        )
        holder.append(controller)
        pods.controller = controller
        pods.history = [(0, spec.replicas)]
        verdict = await asyncio.wait_for(controller.run(), timeout=30)
        await controller.close()
        await prometheus.http.aclose()
        return verdict, pods, controller

    return asyncio.run(scenario())


def test_an_abort_from_75_percent_removes_a_canary_pod_before_adding_a_stable_one() -> None:
    verdict, pods, controller = drive(bad_from=75)

    assert (verdict.outcome, verdict.set_weight) == ("aborted", 75)
    at_75 = pods.history.index((2, 1))
    # Upstream, within maxSurge 1 (3 pods at most): 2+1 -> 1+1 -> 1+2 -> 0+2.
    assert pods.history[at_75:] == [(2, 1), (1, 1), (1, 2), (0, 2)]
    ceiling = controller.spec.replicas + controller.fenceposts.max_surge
    assert max(c + s for c, s in pods.history) <= ceiling == 3


def test_a_good_canary_walks_25_50_75_within_the_surge_and_is_promoted() -> None:
    verdict, pods, _ = drive(bad_from=None)

    assert verdict.outcome == "promoted"
    assert pods.history == [(0, 2), (1, 2), (1, 1), (2, 1), (2, 0)]


def test_at_promotion_the_analysis_ends_before_the_old_stable_scales_down() -> None:
    verdict, pods, controller = drive(bad_from=None)

    assert verdict.outcome == "promoted"
    role, phases_then = pods.on_terminate[-1]  # the last stable pod, at promotion
    assert role == "stable"
    assert phases_then == [SUCCESSFUL]  # already terminated, not still reading
    (run,) = controller.runs
    last_read = run.results[0].measurements[-1]
    stable_gone = max(
        p.terminating_at or 0.0 for p in pods.pods_of("stable", include_terminating=True)
    )
    assert last_read.finished_at <= stable_gone


# --- a matrix result, flattened: against a real Prometheus -----------------------------------


@pytest.fixture(scope="module")
def self_scraping_prometheus() -> Iterator[str]:
    binary = prometheus_binary()
    if binary is None:
        pytest.skip("prometheus is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="fidelity-prom-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 200ms, scrape_timeout: 200ms}\n"
        "scrape_configs:\n"
        f"  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(
                    f"{url}/api/v1/query", params={"query": "count_over_time(up[5s])"}
                )
                values = answer.json()["data"]["result"]
                if values and float(values[0]["value"][1]) >= 3:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_matrix_becomes_one_flat_list_of_every_sample(self_scraping_prometheus: str) -> None:
    async def ask() -> tuple[QueryResult, dict[str, object]]:
        async with httpx.AsyncClient() as http:
            client = PrometheusClient(self_scraping_prometheus, http)
            at = time.time()
            query = '{job="self",__name__=~"up|scrape_samples_scraped"}[2s]'
            raw = (
                await http.get(
                    f"{self_scraping_prometheus}/api/v1/query",
                    params={"query": query, "time": f"{at:.3f}"},
                )
            ).json()
            return await client.query(query, at=at), raw

    result, raw = asyncio.run(ask())
    assert result.result_type == "matrix"
    series = raw["data"]["result"]  # type: ignore[index]
    assert len(series) == 2
    expected = [float(v[1]) for item in series for v in item["values"]]
    assert len(expected) > 2
    assert result.value == expected


# --- a run with several metrics ends when one of them fails ---------------------------------


class ByQuery(PrometheusClient):
    def __init__(self, answers: dict[str, list[float]]) -> None:
        super().__init__("http://unused", httpx.AsyncClient())
        self.answers = answers

    async def query(self, promql: str, at: float | None = None) -> QueryResult:
        return QueryResult("vector", self.answers[promql])


def test_one_failed_metric_ends_the_run_while_the_others_still_read() -> None:
    """argo-rollouts IsTerminating: a Failed (or Error, Inconclusive) metric terminates the
    run; the others are assessed as terminated (Successful, no limit broken)."""

    async def scenario() -> AnalysisRun:
        (seed,) = read_template(SEED_TEMPLATE_FILE).metrics
        bad = dataclasses.replace(seed, name="bad", query="bad", interval=10.0)
        good = dataclasses.replace(seed, name="good", query="good", interval=30.0)
        prometheus = ByQuery({"bad": [0.0], "good": [1.0]})
        run = AnalysisRun(
            label="t",
            template=AnalysisTemplate("t", SEED_TEMPLATE_FILE, (), {}, (bad, good)),
            args={},
            prometheus=prometheus,
            clock=Clock(factor=200),
            weight=lambda: 25,
            driving=True,
        )
        run.start()
        await asyncio.wait_for(run.completed.wait(), timeout=10)
        await run.terminate()
        await prometheus.http.aclose()
        return run

    run = asyncio.run(scenario())
    bad, good = run.results
    assert run.phase == FAILED
    assert run.message == 'Metric "bad" assessed Failed due to failed (3) > failureLimit (2)'
    assert (bad.phase, good.phase) == (FAILED, SUCCESSFUL)
    assert bad.failed == 3
    assert len(good.measurements) <= 2  # ended ~20 s in, not after its own limit
