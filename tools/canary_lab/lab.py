"""One scenario end to end: database, issuer, Prometheus, pods, traffic, Rollout, gate, report."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from penvoice.dev.issuer import LocalIssuer
from tools.canary_lab.analysis import AnalysisRun, lab_queries
from tools.canary_lab.clock import Clock
from tools.canary_lab.manifests import (
    COMPARE_TEMPLATE_FILE,
    SCOPED_TEMPLATE_FILE,
    SEED_TEMPLATE_FILE,
    AnalysisArg,
    AnalysisTemplate,
    hash_scoped,
    merge_templates,
    parse_duration,
    read_configmap,
    read_monitor,
    read_rollout,
    read_scoped_rollout_args,
    read_template,
    read_template_named,
)
from tools.canary_lab.outage import DatabaseLink
from tools.canary_lab.pods import Build, Cluster, Slot, template_hash
from tools.canary_lab.procs import reserved_port, stop_spawned
from tools.canary_lab.prometheus import (
    JOB,
    Prometheus,
    PrometheusClient,
    QueryError,
    Target,
    format_duration,
)
from tools.canary_lab.rollout import Controller, Verdict
from tools.canary_lab.scenarios import COMPARE, ROLLOUT, SCOPED, SCOPED_RATE, SEED, Scenario
from tools.canary_lab.traffic import UserTraffic
from tools.pgserver import OWNER_ROLE, PostgresServer

DEFAULT_FACTOR = 15.0
RATE_GATES = (SEED, SCOPED, SCOPED_RATE)  # one success-rate metric each
TAIL = 30.0  # cluster seconds of traffic after the verdict, for the chart
NAMESPACE = "penvoice"


class Databases:
    """Where pods point: a fresh migrated database per scenario, an empty one to repoint to."""

    def __init__(self, server: PostgresServer, migrated_template: str, owner_role: str) -> None:
        self.server = server
        self.template = migrated_template
        self.owner_role = owner_role  # owns the databases; the pods connect as the app role
        self.created: list[str] = []

    def migrated(self) -> str:
        name = self.server.create_database(template=self.template, owner=self.owner_role)
        self.created.append(name)
        return self.server.app_url_for(name)

    def empty(self) -> str:
        name = self.server.create_database(owner=self.owner_role)
        self.created.append(name)
        return self.server.app_url_for(name)

    def drop_all(self) -> None:
        while self.created:
            self.server.drop_database(self.created.pop())


@dataclass
class Sample:
    t: float
    set_weight: int
    canary_endpoints: int
    stable_endpoints: int
    gate: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Outcome:
    scenario: Scenario
    factor: float
    verdict: Verdict
    controller: Controller
    runs: list[AnalysisRun]
    traffic: UserTraffic | None
    cluster: Cluster
    samples: list[Sample]
    prometheus_counts: dict[str, dict[str, float]]
    exposition_check: dict[str, object]
    settings: dict[str, object]
    rollout_started_at: float
    wall_seconds: float


def _resolve_args(args: tuple[AnalysisArg, ...], stable: Build, canary: Build) -> dict[str, str]:
    values = {}
    for arg in args:
        if arg.pod_template_hash == "Latest":
            values[arg.name] = canary.template_hash
        elif arg.pod_template_hash == "Stable":
            values[arg.name] = stable.template_hash
        elif arg.value is not None:
            values[arg.name] = arg.value
    return values


def promtool_check(exposition: str) -> dict[str, object]:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        return {"ok": None, "output": "promtool not installed"}
    result = subprocess.run(  # noqa: S603 - fixed argv
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return {"ok": result.returncode == 0, "output": (result.stdout + result.stderr).strip()}


def run_scenario(
    scenario: Scenario,
    *,
    databases: Databases,
    issuer: LocalIssuer,
    workdir: Path,
    factor: float = DEFAULT_FACTOR,
) -> Outcome:
    """Run one scenario (blocking); the databases are created before the event loop starts."""
    stable_db = databases.migrated()
    canary_db = databases.empty() if scenario.canary == "repoint-db" else stable_db
    try:
        return asyncio.run(
            _run_scenario(
                scenario,
                stable_db=stable_db,
                canary_db=canary_db,
                issuer=issuer,
                workdir=workdir,
                factor=factor,
            )
        )
    finally:
        stop_spawned()


async def _run_scenario(
    scenario: Scenario,
    *,
    stable_db: str,
    canary_db: str,
    issuer: LocalIssuer,
    workdir: Path,
    factor: float,
) -> Outcome:
    run = _ScenarioRun(scenario, stable_db, canary_db, issuer, workdir, factor)
    try:
        return await run.execute()
    finally:
        await run.close()


class _ScenarioRun:
    """The parts of one scenario: read from the manifests, started, driven, stopped."""

    def __init__(
        self,
        scenario: Scenario,
        stable_db: str,
        canary_db: str,
        issuer: LocalIssuer,
        workdir: Path,
        factor: float,
    ) -> None:
        self.wall_start = time.monotonic()
        self.scenario = scenario
        self.issuer = issuer
        self.factor = factor
        self.clock = Clock(factor)
        self.rollout = read_rollout()
        self.monitor = read_monitor()
        if self.monitor.hash_label is None:
            raise ValueError("the ServiceMonitor does not carry the pod-template hash")
        self.hash_label: str = self.monitor.hash_label
        self.templates = self._templates()
        ports: set[int] = set()
        self.db_link: DatabaseLink | None = None
        if scenario.outage is not None and scenario.outage.what == "database":
            self.db_link = DatabaseLink(stable_db, reserved_port(ports))
            ports.add(self.db_link.port)
            stable_db, canary_db = self.db_link.url(stable_db), self.db_link.url(canary_db)
        self.stable, self.canary = self._builds(stable_db, canary_db)
        self.slots = []
        for role, build, count in (
            ("stable", self.stable, self.rollout.replicas * 2),
            ("canary", self.canary, self.rollout.replicas),
        ):
            for index in range(count):
                port = reserved_port(ports)
                ports.add(port)
                name = f"{self.rollout.name}-{build.template_hash}-{role[0]}{index}"
                self.slots.append(Slot(role, index, port, name))
        self.prometheus_port = reserved_port(ports)
        lifetime = 3600.0 if factor == 1 else 900.0  # a hard bound on every process
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.tsdb = Path(tempfile.mkdtemp(prefix="canary-lab-prom-"))
        self.prometheus = self._prometheus(lifetime)
        self.cluster = Cluster(
            clock=self.clock,
            rollout=self.rollout,
            slots=self.slots,
            workdir=self.logs,
            lifetime=lifetime,
            grace_period=float(
                self.rollout.template["spec"].get("terminationGracePeriodSeconds", 30)
            ),
        )
        self.http = httpx.AsyncClient()
        self.client = PrometheusClient(self.prometheus.url, self.http)
        self.traffic: UserTraffic | None = None
        self.stop = asyncio.Event()
        self.background: list[asyncio.Task[None]] = []
        self.samples: list[Sample] = []
        self.outages: list[tuple[float, float, str]] = []  # from, to (cluster s), what
        scoped_args = _resolve_args(read_scoped_rollout_args(), self.stable, self.canary)
        rollout_args = _resolve_args(self.rollout.args, self.stable, self.canary)
        self.args = {
            SEED: rollout_args,
            COMPARE: rollout_args,
            ROLLOUT: rollout_args,
            SCOPED: scoped_args,
            SCOPED_RATE: scoped_args,
        }
        self.stall_after = self.rollout.progress_deadline  # Argo's progressDeadlineSeconds
        if scenario.stall_after_pauses is not None:
            first_pause = next(s.pause for s in self.rollout.steps if s.pause is not None)
            self.stall_after = scenario.stall_after_pauses * first_pause
        self.controller = Controller(
            spec=self.rollout,
            cluster=self.cluster,
            clock=self.clock,
            stable=self.stable,
            canary=self.canary,
            start_analysis=self._analysis_runs,
            stall_after=self.stall_after,
        )

    def _templates(self) -> dict[str, AnalysisTemplate]:
        seed = read_template(SEED_TEMPLATE_FILE)  # the Rollout's until issue 15: side by side
        scoped = read_template(SCOPED_TEMPLATE_FILE)
        listed = [read_template_named(name) for name in self.rollout.template_names]
        return {
            SEED: seed,
            COMPARE: read_template(COMPARE_TEMPLATE_FILE),
            ROLLOUT: merge_templates("the Rollout's analysis", listed),
            SCOPED: scoped,
            SCOPED_RATE: hash_scoped(seed, scoped, self.hash_label),
        }

    def _builds(self, stable_db: str, canary_db: str) -> tuple[Build, Build]:
        """The environment the Rollout gives the container, pointed at the lab."""
        configmap = read_configmap()
        drain = float(configmap["SHUTDOWN_DRAIN_SECONDS"]) / self.factor
        environ = {
            **configmap,
            "KC_ISSUER": self.issuer.issuer_url,  # the cluster's Keycloak realm → the local one
            "DB_URL": stable_db,  # Secret penvoice-pg-app, key uri
            "KC_API_CLIENT_SECRET": self.issuer.client_secret,  # Secret penvoice-api-kc
            "SHUTDOWN_DRAIN_SECONDS": f"{drain:.3f}",
        }
        image = self.rollout.image
        stable = Build("stable", template_hash(self.rollout.template, image), "stable", environ)
        canary = Build(
            "canary",
            template_hash(self.rollout.template, image + "-next"),
            "canary",
            {**environ, "DB_URL": canary_db},
            fault=self.scenario.fault if self.scenario.canary == "faulty" else None,
        )
        return stable, canary

    def _prometheus(self, lifetime: float) -> Prometheus:
        def labels(slot: Slot) -> dict[str, str]:
            build = self.stable if slot.role == "stable" else self.canary
            return {  # what the ServiceMonitor's target labels and relabeling produce
                "namespace": NAMESPACE,
                self.hash_label: build.template_hash,
                "pod": slot.pod_name,
                "service": JOB,
                "endpoint": "http",
                "container": "api",
            }

        interval = self.monitor.interval / self.factor
        return Prometheus(
            workdir=self.tsdb,
            port=self.prometheus_port,
            scrape_interval=interval,
            # A latency bound, like the probes' timeouts: not compressed (Prometheus caps it
            # at the scrape interval).
            scrape_timeout=min(self.monitor.timeout, interval),
            lookback_delta=300.0 / self.factor,
            metrics_path=self.monitor.path,
            targets=[Target(f"127.0.0.1:{slot.port}", labels(slot)) for slot in self.slots],
            lifetime=lifetime,
        )

    def _analysis_runs(self) -> list[AnalysisRun]:
        return [
            AnalysisRun(
                label=key,
                template=self.templates[key],
                args=self.args[key],
                prometheus=self.client,
                clock=self.clock,
                weight=lambda: self.controller.set_weight,
                driving=key == self.scenario.driving,
            )
            for key in (self.scenario.driving, *self.scenario.side_by_side)
        ]

    async def _start_stable(self) -> dict[str, object]:
        """The stable ReplicaSet, running and ready before the update starts."""
        replicas = self.rollout.replicas
        for _ in range(replicas):
            self.cluster.prewarm(self.stable)
        await asyncio.to_thread(self.prometheus.start)
        await self.cluster.wait_warm(self.stable, replicas)
        for _ in range(replicas):
            self.cluster.start_pod(self.stable)
        deadline = self.clock.now() + self.clock.cluster(120)
        if not await self.cluster.wait_available("stable", replicas, deadline):
            raise RuntimeError(f"the stable pods never became ready: see {self.logs}")
        # The canary's interpreters (and a stable spare, should an abort need one) import
        # now, during the warm-up, so that a created pod starts like a pulled image.
        for _ in range(replicas):
            self.cluster.prewarm(self.canary)
        self.cluster.prewarm(self.stable)
        pod = self.cluster.endpoints()[0]
        exposition = (await self.http.get(pod.base_url + self.monitor.path)).text
        return await asyncio.to_thread(promtool_check, exposition)

    async def execute(self) -> Outcome:
        if self.db_link is not None:
            await self.db_link.open()
        exposition_check = await self._start_stable()
        queries = {  # the success-rate gates, for the chart's timeline
            key: lab_queries(self.templates[key], self.args[key], self.factor)[0]
            for key in (self.scenario.driving, *self.scenario.side_by_side)
            if key in RATE_GATES
        }
        self.background.append(asyncio.create_task(self._sample(queries)))
        if self.scenario.user_rate > 0:
            self.traffic = UserTraffic(
                self.cluster,
                self.clock,
                self.issuer,
                self.scenario.user_rate,
                pdf_every=self.scenario.pdf_every,
            )
            await self.traffic.setup()
            self.background.append(asyncio.create_task(self.traffic.run(self.stop)))
        # The update starts once the gates' windows hold data (the longest, capped at 2 min:
        # a 10-minute window simply holds less history).
        longest = max(_longest_range(t) for t in self.templates.values())
        warmup = min(longest, 120.0) + self.monitor.interval
        await self.clock.sleep(warmup)
        await self.cluster.wait_warm(self.canary, self.rollout.replicas)  # the image is pulled
        started = self.clock.now()
        self.background.append(asyncio.create_task(self._disturb(started)))
        verdict = await self.controller.run()
        await self.clock.sleep(TAIL)
        self.stop.set()
        await asyncio.gather(*self.background)
        counts = await _final_counts(self.client, self.hash_label, self.clock)
        await self.controller.close()
        await self.cluster.shutdown()
        return Outcome(
            scenario=self.scenario,
            factor=self.factor,
            verdict=verdict,
            controller=self.controller,
            runs=self.controller.runs,
            traffic=self.traffic,
            cluster=self.cluster,
            samples=self.samples,
            prometheus_counts=counts,
            exposition_check=exposition_check,
            settings={**self._settings(warmup), "outages": self.outages},
            rollout_started_at=started,
            wall_seconds=time.monotonic() - self.wall_start,
        )

    async def _disturb(self, started: float) -> None:
        """The scenario's outage and client storm, at their times after the update started."""
        jobs = []
        outage, storm = self.scenario.outage, self.scenario.storm
        if outage is not None:
            jobs.append(self._outage(started + outage.at, outage.duration, outage.what))
        if storm is not None and self.traffic is not None:
            jobs.append(
                self.traffic.storm(started + storm.at, storm.duration, storm.rate, self.stop)
            )
        await asyncio.gather(*jobs)

    async def _outage(self, at: float, duration: float, what: str) -> None:
        await self.clock.sleep_until(at)
        if self.stop.is_set():
            return
        self.controller.log(f"outage: {what} down for {duration:g}s")
        if what == "database":
            assert self.db_link is not None
            await self.db_link.cut(self.clock.now())
            await self.clock.sleep(duration)
            await self.db_link.restore(self.clock.now())
        else:
            await asyncio.to_thread(self.prometheus.stop)
            await self.clock.sleep(duration)
            await asyncio.to_thread(self.prometheus.start)
        self.controller.log(f"outage over: {what} back")
        self.outages.append((at, self.clock.now(), what))

    async def _sample(self, queries: dict[str, str]) -> None:
        """A dashboard: every scrape interval, the weights, the endpoints, each gate's value."""
        clock, every = self.clock, self.monitor.interval
        while not self.stop.is_set():
            started = clock.now()
            endpoints = self.cluster.endpoints()
            sample = Sample(
                t=started,
                set_weight=self.controller.set_weight,
                canary_endpoints=sum(1 for p in endpoints if p.build.role == "canary"),
                stable_endpoints=sum(1 for p in endpoints if p.build.role == "stable"),
            )
            for key, query in queries.items():
                try:
                    sample.gate[key] = (await self.client.query(query)).first()
                except QueryError:
                    sample.gate[key] = None
            self.samples.append(sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.stop.wait(), clock.wall(every - (clock.now() - started))
                )

    def _settings(self, warmup: float) -> dict[str, object]:
        scrape = self.monitor.interval
        return {
            "compression": self.factor,
            "scrape_interval": {"cluster": scrape, "lab": scrape / self.factor},
            "user_rate": {
                "cluster": self.scenario.user_rate,
                "lab": self.scenario.user_rate * self.factor,
            },
            "warmup": warmup,
            "tail": TAIL,
            "stall_after": self.stall_after,
            "replicas": self.rollout.replicas,
            "steps": [s.describe() for s in self.rollout.steps],
            "starting_step": self.rollout.starting_step,
        }

    async def close(self) -> None:
        self.stop.set()
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        try:
            if self.traffic is not None:
                await self.traffic.close()
            await self.controller.close()
            await self.cluster.shutdown()
        finally:
            self.cluster.kill_all()
            if self.db_link is not None:
                await self.db_link.close()
            await self.http.aclose()
            self.prometheus.stop()
            for name in ("prometheus.yml", "prometheus.log"):
                if (self.tsdb / name).exists():
                    shutil.copy2(self.tsdb / name, self.logs / name)
            shutil.rmtree(self.tsdb, ignore_errors=True)


def _longest_range(template: AnalysisTemplate) -> float:
    """The longest PromQL range a template reads (60 s when it reads none)."""
    ranges = [
        parse_duration(m.group(1))
        for metric in template.metrics
        for m in re.finditer(r"\[([0-9a-z.]+)[:\]]", metric.query)
    ]
    return max(ranges, default=60.0)


async def _final_counts(
    client: PrometheusClient, hash_label: str, clock: Clock
) -> dict[str, dict[str, float]]:
    """What Prometheus recorded per pod-template hash: user (/v1) requests by code, probes."""
    window = format_duration(clock.wall(clock.now()) + 60)
    out: dict[str, dict[str, float]] = {}
    for kind, selector in (("user", 'route=~"/v1/.*"'), ("platform", 'route!~"/v1/.*"')):
        query = (
            f"sum by ({hash_label}, code) (max_over_time("
            f'http_requests_total{{namespace="{NAMESPACE}",{selector}}}[{window}]))'
        )
        answer = await client.http.get(f"{client.url}/api/v1/query", params={"query": query})
        for item in answer.json()["data"]["result"]:
            key = f"{kind} {item['metric'].get('code', '?')}"
            bucket = out.setdefault(item["metric"].get(hash_label, "?"), {})
            bucket[key] = bucket.get(key, 0.0) + float(item["value"][1])
    return out


@contextmanager
def standalone_infra() -> Iterator[tuple[Databases, LocalIssuer]]:
    """For `make canary-lab`: an embedded PostgreSQL and a local issuer, like `penvoice dev`."""
    from penvoice.dev.postgres import EmbeddedPostgres  # noqa: PLC0415

    data = Path(tempfile.mkdtemp(prefix="canary-lab-pg-"))
    embedded = EmbeddedPostgres(data / "data")
    embedded.start()
    try:
        server = PostgresServer(admin_url=embedded.url(), embedded=embedded)
        template = server.migrated_template()
        databases = Databases(server, template, OWNER_ROLE)
        with LocalIssuer() as issuer:
            try:
                yield databases, issuer
            finally:
                databases.drop_all()
    finally:
        embedded.stop(mode="immediate")
        shutil.rmtree(data, ignore_errors=True)
