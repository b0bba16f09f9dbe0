"""`make bench`: seed, serve, load, measure, write bench/results/<time>.json.

    .venv/bin/python -m bench [--reuse] [--scale 1.0] [--only get,list] [--quick]

1. An embedded PostgreSQL in `.local/bench/pg`, the app's role and database, migrations,
   and the dataset (`bench.seed`; `--reuse` keeps a matching earlier one).
2. A LocalIssuer in this process (the server fetches its JWKS once) and a 24-hour token
   for `bench-user`, a member of the 1M-, 100k- and 1k-invoice organisations.
3. The real server, `penvoice serve`, with the production configuration of
   deploy/gitops (LOG_LEVEL=info to a file, CORS_ORIGINS, KC_API_CLIENT_SECRET), except
   SHUTDOWN_DRAIN_SECONDS=0 (it only delays the stop).
4. Per scenario: a warm-up, throughput at saturation (`wrk -c 32 -t 2 -d 15s` with
   bench/lua/requests.lua), then latency at a fixed rate (bench/loadgen.py, open loop);
   server CPU per request from /proc/<pid>/stat (utime + stime) around each run, the
   PostgreSQL processes' likewise, and the server's peak RSS (VmHWM, reset per scenario).
5. Time from process start to /readyz 200, the metrics middleware's cost (the same
   scenario against `penvoice serve` and `bench.launcher --no-metrics`, interleaved),
   query plans, and a pyinstrument profile of the hottest scenario.
6. The perf anchor (bench/anchor.py): the same get-invoice request, /healthz and /v1/me
   against a Go reference server and a framework-free Python floor (../shared/perf-anchor).

Only 127.0.0.1 is ever contacted. Everything is bounded in time.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import fixtures as fixtures_module
from bench import procstat
from bench.database import REPO, BenchDatabase
from bench.seed import BENCH_SUBJECT
from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import free_port

BENCH_DIR = REPO / "bench"
RESULTS = BENCH_DIR / "results"
LUA = BENCH_DIR / "lua" / "requests.lua"
PYTHON = str(REPO / ".venv" / "bin" / "python")
PENVOICE = str(REPO / ".venv" / "bin" / "penvoice")

Request = tuple[str, str, dict[str, Any] | None]


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# --- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    label: str
    started_at: float
    ready_seconds: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return procstat.cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        return procstat.memory_kib(self.pid)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


SOURCE_TREE: Path | None = None  # --src: serve this src/ instead of the working tree's


def export_source(revision: str, root: Path) -> tuple[Path, str]:
    """`git archive` of `revision`'s src/ into root/src-<sha>; (its src dir, the sha)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", revision],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    ).stdout.strip()
    target = root / f"src-{sha}"
    if not (target / "src" / "penvoice").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", sha, "src"], capture_output=True, cwd=REPO, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src", sha


def server_environ(db: BenchDatabase, issuer: LocalIssuer, port: int) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "KC_", "PENVOICE_", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"))
    }
    if SOURCE_TREE is not None:  # ahead of the editable install's path in sys.path
        environ["PYTHONPATH"] = str(SOURCE_TREE)
    environ.update(
        DB_URL=db.app_url,
        KC_ISSUER=issuer.issuer_url,
        KC_AUDIENCE="penvoice-api",
        KC_API_CLIENT_SECRET=issuer.client_secret,
        CORS_ORIGINS="https://test.penvoice.app",
        LOG_LEVEL="info",
        HOST="127.0.0.1",
        PORT=str(port),
        SHUTDOWN_DRAIN_SECONDS="0",
        # One principal drives thousands of requests a second: the limiter runs (its cost is
        # measured) but never refuses.
        RATE_LIMIT_PER_PRINCIPAL="1000000",
        RATE_LIMIT_PRINCIPAL_BURST="1000000",
        RATE_LIMIT_PER_ORG="1000000",
        RATE_LIMIT_ORG_BURST="1000000",
        # The 1M-invoice organisation is far past the default storage quotas (a tenant's
        # bound, issue 17): the bench measures the request path, so they are at their maximum.
        QUOTA_INVOICES_PER_ORG="10000000",
        QUOTA_LINES_PER_ORG="100000000",
        PENVOICE_REVISION="bench",
    )
    return environ


def start_server(
    db: BenchDatabase, issuer: LocalIssuer, label: str, command: list[str], logs: Path
) -> Server:
    port = free_port()
    return spawn(label, command, logs, server_environ(db, issuer, port), port)


def spawn(
    label: str,
    command: list[str],
    logs: Path,
    environ: dict[str, str],
    port: int,
    *,
    cwd: Path = REPO,
    ready_path: str = "/readyz",
) -> Server:
    """Start `command` (listening on 127.0.0.1:`port`); return once `ready_path` answers 200
    (30 s at most). Its output goes to logs/server-`label`.log."""
    log_file = (logs / f"server-{label}.log").open("ab")
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        env=environ,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=cwd,
    )
    server = Server(process, port, label, started)
    deadline = started + 30
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server {label} exited with {process.returncode}; see {logs}")
            try:
                if client.get(f"http://127.0.0.1:{port}{ready_path}").status_code == 200:
                    server.ready_seconds = round(time.monotonic() - started, 3)
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.005)
    server.stop()
    raise RuntimeError(f"server {label} never became ready")


SERVE = [PENVOICE, "serve"]
NO_METRICS = [PYTHON, "-m", "bench.launcher", "--no-metrics"]


# --- load ------------------------------------------------------------------------------------


@dataclass
class Measured:
    """One load run and what the server (and PostgreSQL) spent on it."""

    tool: str
    requests: int
    seconds: float
    rps: float
    latency_ms: dict[str, float | None]
    errors: dict[str, int]
    server_cpu_s: float
    server_cpu_ms_per_request: float | None
    postgres_cpu_ms_per_request: float | None
    loadgen_cpu_s: float
    other_cpu_s: float  # everything else on the machine during the run
    extra: dict[str, Any] = field(default_factory=dict)


def _write_requests(requests: list[Request], directory: Path, name: str) -> Path:
    path = directory / f"{name}.tsv"
    with path.open("w") as out:
        for method, target, body in requests:
            line = f"{method}\t{target}"
            if body is not None:
                line += "\t" + json.dumps(body, separators=(",", ":"))
            out.write(line + "\n")
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Load:
    def __init__(self, token: str, workdir: Path, postmaster: int) -> None:
        self.token = token
        self.workdir = workdir
        self.postmaster = postmaster

    def _around(self, server: Server, run: Any) -> tuple[Any, float, float, float, float]:
        """Run `run()`; CPU seconds of the server, PostgreSQL, the load generator, and of
        everything else on the machine (other people's work shares these 2 CPUs)."""
        cpu0, pg0, gen0 = server.cpu(), procstat.tree_cpu_seconds(self.postmaster), _children_cpu()
        busy0 = procstat.machine_busy_seconds()
        result = run()
        cpu1, pg1, gen1 = server.cpu(), procstat.tree_cpu_seconds(self.postmaster), _children_cpu()
        busy1 = procstat.machine_busy_seconds()
        cpu, pg, gen = cpu1 - cpu0, pg1 - pg0, gen1 - gen0
        return result, cpu, pg, gen, max(0.0, busy1 - busy0 - cpu - pg - gen)

    def wrk(
        self,
        server: Server,
        requests: list[Request],
        *,
        connections: int = 32,
        threads: int = 2,
        seconds: float = 15,
        name: str = "wrk",
    ) -> Measured:
        threads = min(threads, connections)
        path = _write_requests(requests, self.workdir, name)
        environ = {
            **os.environ,
            "BENCH_TOKEN": self.token,
            "BENCH_THREADS": str(threads),
            "BENCH_REQUESTS": str(path),
        }
        command = [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{server.port}",
        ]

        def run() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                command,
                env=environ,
                capture_output=True,
                text=True,
                timeout=seconds + 60,
                check=False,
            )

        done, cpu, pg, gen, other = self._around(server, run)
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
        data = json.loads(line.removeprefix("BENCH_JSON "))
        count = data["requests"]
        elapsed = data["duration_us"] / 1e6
        errors = {k: v for k, v in data["errors"].items() if v}
        return Measured(
            tool=f"wrk -t{threads} -c{connections} -d{seconds:g}s",
            requests=count,
            seconds=round(elapsed, 2),
            rps=round(count / elapsed, 1),
            latency_ms={k: round(v, 2) for k, v in data["latency_ms"].items()},
            errors=errors,
            server_cpu_s=round(cpu, 2),
            server_cpu_ms_per_request=round(cpu * 1000 / count, 3) if count else None,
            postgres_cpu_ms_per_request=round(pg * 1000 / count, 3) if count else None,
            loadgen_cpu_s=round(gen, 2),
            other_cpu_s=round(other, 2),
        )

    def paced(
        self,
        server: Server,
        requests: list[Request],
        *,
        rate: float,
        seconds: float,
        name: str = "paced",
        max_conns: int = 64,
    ) -> Measured:
        path = self.workdir / f"{name}.json"
        path.write_text(json.dumps([list(r) for r in requests]))
        command = [
            PYTHON,
            "-m",
            "bench.loadgen",
            "--port",
            str(server.port),
            "--rate",
            str(rate),
            "--duration",
            str(seconds),
            "--requests",
            str(path),
            "--max-conns",
            str(max_conns),
        ]
        environ = {**os.environ, "BENCH_TOKEN": self.token}

        def run() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                command,
                env=environ,
                capture_output=True,
                text=True,
                timeout=seconds + 120,
                cwd=REPO,
                check=False,
            )

        done, cpu, pg, gen, other = self._around(server, run)
        if done.returncode != 0:
            raise RuntimeError(f"loadgen failed: {done.stderr}")
        data = json.loads(done.stdout)
        count = data["completed"]
        bad = {s: n for s, n in data["statuses"].items() if not s.startswith("2")}
        return Measured(
            tool=f"loadgen open loop {rate:g}/s for {seconds:g}s",
            requests=count,
            seconds=data["seconds"],
            rps=data["achieved_rate"],
            latency_ms=data["latency_ms"],
            errors={**data["errors"], **{f"status {s}": n for s, n in bad.items()}},
            server_cpu_s=round(cpu, 2),
            server_cpu_ms_per_request=round(cpu * 1000 / count, 3) if count else None,
            postgres_cpu_ms_per_request=round(pg * 1000 / count, 3) if count else None,
            loadgen_cpu_s=round(gen, 2),
            other_cpu_s=round(other, 2),
            extra={"connections_opened": data["connections_opened"]},
        )


# --- scenarios -------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    requests: list[Request]  # cycled; one-shot lists are split in warm-up / saturation / paced
    one_shot: bool = False
    rate: float = 200
    paced_seconds: float = 15
    connections: int = 32
    threads: int = 2
    warmup_seconds: float = 3
    budget_cpu_ms: float | None = None
    budget_p99_ms: float | None = None
    note: str = ""


def scenarios(fx: fixtures_module.Fixtures, quick: bool) -> list[Scenario]:
    big = fx.orgs["1M"]
    base = "/v1/orgs"
    payment = {
        "amount": 100,
        "currency": "EUR",
        "paid_on": date.today().isoformat(),
        "method": "bank_transfer",
        "reference": "bench",
    }
    shots = len(fx.drafts)
    return [
        Scenario(
            "healthz", [("GET", "/healthz", None)], budget_cpu_ms=0.05, note="framework floor"
        ),
        Scenario(
            "me",
            [("GET", "/v1/me", None)],
            budget_cpu_ms=0.25,
            budget_p99_ms=15,
            note="token (cached after the first), principal, memberships",
        ),
        *(
            Scenario(
                f"get invoice ({size} org)",
                [("GET", f"{base}/{fx.orgs[size]}/invoices/{i}", None) for i in fx.get_ids[size]],
                budget_cpu_ms=0.35,
                budget_p99_ms=15,
                note=f"{len(fx.get_ids[size])} different 10-line invoices, cycled",
            )
            for size in ("1M", "1k")
        ),
        *(
            Scenario(
                f"list 50 paid, deep cursor ({size} org)",
                [
                    (
                        "GET",
                        f"{base}/{fx.orgs[size]}/invoices?limit=50&status=paid&cursor={c}",
                        None,
                    )
                    for c in fx.list_cursors[size]
                ],
                budget_cpu_ms=0.6,
                budget_p99_ms=15,
                note=f"pages {depth} items down the status=paid chain",
            )
            for size, depth in (("1M", "400,000-450,000"), ("1k", "300-350"))
        ),
        Scenario(
            "create 5-line draft",
            [("POST", f"{base}/{fx.orgs['1k']}/invoices", fx.draft_body(small=True))],
            budget_cpu_ms=0.9,
            budget_p99_ms=15,
            note="3 of 5 lines taxed, one discounted; no Idempotency-Key",
        ),
        Scenario(
            "finalize draft",
            [("POST", f"{base}/{big}/invoices/{i}/finalize", None) for i in fx.drafts],
            one_shot=True,
            budget_cpu_ms=0.9,
            budget_p99_ms=15,
            note=f"{shots:,} pre-made 5-line drafts, each finalized once",
        ),
        Scenario(
            "record payment",
            [("POST", f"{base}/{big}/invoices/{i}/payments", payment) for i in fx.open_invoices],
            budget_cpu_ms=0.6,
            budget_p99_ms=15,
            note=f"{len(fx.open_invoices):,} open invoices, 1.00 EUR each time",
        ),
    ]


def run_scenario(load: Load, server: Server, scenario: Scenario, quick: bool) -> dict[str, Any]:
    saturation_seconds = 5 if quick else 15
    paced_seconds = 5 if quick else scenario.paced_seconds
    requests = scenario.requests
    if scenario.one_shot:
        # Warm-up, saturation and paced runs each get their own slice: nothing is sent twice.
        paced_count = int(scenario.rate * paced_seconds) + 10
        warm = requests[:500]
        paced = requests[500 : 500 + paced_count]
        saturation = requests[500 + paced_count :]
    else:
        warm = paced = saturation = requests
    slug = "".join(ch if ch.isalnum() else "-" for ch in scenario.name)
    load.wrk(server, warm, connections=8, threads=2, seconds=scenario.warmup_seconds, name=slug)
    procstat.reset_peak(server.pid)
    sat = load.wrk(
        server,
        saturation,
        connections=scenario.connections,
        threads=scenario.threads,
        seconds=saturation_seconds,
        name=slug,
    )
    time.sleep(1)
    fixed = load.paced(server, paced, rate=scenario.rate, seconds=paced_seconds, name=slug)
    memory = server.memory()
    if scenario.one_shot and sat.requests > len(saturation):
        sat.extra["reused_requests"] = sat.requests - len(saturation)
    return {
        "name": scenario.name,
        "note": scenario.note,
        "saturation": sat.__dict__,
        "fixed_rate": fixed.__dict__,
        "peak_rss_mib": round(memory["VmHWM"] / 1024, 1),
        "rss_after_mib": round(memory["VmRSS"] / 1024, 1),
        "budget": {"cpu_ms": scenario.budget_cpu_ms, "p99_ms": scenario.budget_p99_ms},
    }


# --- heavy endpoints -------------------------------------------------------------------------


def sequential(
    server: Server, token: str, path: str, count: int, timeout: float = 120
) -> dict[str, Any]:
    """`count` requests one after another on one keep-alive connection."""
    headers = {"Authorization": f"Bearer {token}"}
    times, sizes, statuses = [], [], []
    procstat.reset_peak(server.pid)
    rss_before = server.memory()["VmRSS"]
    cpu0 = server.cpu()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=timeout) as client:
        for _ in range(count):
            t0 = time.perf_counter()
            size = 0
            with client.stream("GET", path, headers=headers) as response:
                first_byte = time.perf_counter() - t0
                for chunk in response.iter_raw():
                    size += len(chunk)
                statuses.append(response.status_code)
            times.append((time.perf_counter() - t0) * 1000)
            sizes.append(size)
    cpu = server.cpu() - cpu0
    memory = server.memory()
    times_sorted = sorted(times)
    return {
        "requests": count,
        "statuses": sorted(set(statuses)),
        "latency_ms": {
            "min": round(times_sorted[0], 1),
            "p50": round(statistics.median(times_sorted), 1),
            "max": round(times_sorted[-1], 1),
            "mean": round(statistics.fmean(times_sorted), 1),
        },
        "first_byte_ms_last": round(first_byte * 1000, 1),
        "bytes": sizes[-1],
        "server_cpu_ms_per_request": round(cpu * 1000 / count, 1),
        "rss_before_mib": round(rss_before / 1024, 1),
        "peak_rss_mib": round(memory["VmHWM"] / 1024, 1),
        "peak_rss_growth_mib": round((memory["VmHWM"] - rss_before) / 1024, 1),
    }


def route_available(server: Server, template: str) -> bool:
    with httpx.Client(timeout=10) as client:
        spec = client.get(f"http://127.0.0.1:{server.port}/openapi.json").json()
    return template in spec.get("paths", {})


def heavy(load: Load, server: Server, fx: fixtures_module.Fixtures, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    token = load.token
    big, mid = fx.orgs["1M"], fx.orgs["100k"]
    aging = f"/v1/orgs/{big}/reports/ar-aging"
    log("AR aging (1M org): sequential, then 4 connections at saturation")
    out["ar aging (1M org)"] = {
        "sequential": sequential(server, token, aging, 3 if quick else 10),
        "saturation": load.wrk(
            server,
            [("GET", aging, None)],
            connections=4,
            threads=2,
            seconds=5 if quick else 15,
            name="aging",
        ).__dict__,
        "budget_ms": 500,
    }
    pdf_route = "/v1/orgs/{org_id}/invoices/{invoice_id}/pdf"
    if route_available(server, pdf_route) and fx.pdf_invoice is not None:
        pdf = f"/v1/orgs/{big}/invoices/{fx.pdf_invoice}/pdf"
        log("PDF of a 20-line invoice: sequential, saturation (8 connections), 10/s paced")
        out["pdf (20 lines)"] = {
            "sequential": sequential(server, token, pdf, 5 if quick else 20),
            "saturation": load.wrk(
                server,
                [("GET", pdf, None)],
                connections=8,
                threads=2,
                seconds=5 if quick else 15,
                name="pdf",
            ).__dict__,
            "fixed_rate": load.paced(
                server, [("GET", pdf, None)], rate=10, seconds=5 if quick else 15, name="pdf"
            ).__dict__,
            "budget_ms": 50,
        }
    else:
        out["pdf (20 lines)"] = {"available": False, "route": pdf_route}
    csv_route = "/v1/orgs/{org_id}/invoices.csv"
    if route_available(server, csv_route):
        log("CSV export of 100k invoices: sequential")
        out["csv export (100k invoices)"] = {
            "sequential": sequential(
                server, token, f"/v1/orgs/{mid}/invoices.csv", 2 if quick else 3
            ),
            "budget_rss_growth_mib": 50,
        }
    else:
        out["csv export (100k invoices)"] = {"available": False, "route": csv_route}
    return out


# --- startup, metrics middleware, profile ----------------------------------------------------


def compile_bytecode() -> float:
    """Byte-compile the installed packages and the served source, as the image does at build
    time (its root filesystem is read-only): a start then never compiles a module. Without
    this, PYTHONDONTWRITEBYTECODE (set on these machines) makes every start compile."""
    started = time.monotonic()
    site_packages = next(Path(REPO / ".venv" / "lib").glob("python3*/site-packages"))
    sources = [str(site_packages), str(SOURCE_TREE or REPO / "src")]
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", "-j", "0", *sources],
        capture_output=True,
        check=False,  # a few vendored files are not Python 3; they are never imported
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    return round(time.monotonic() - started, 1)


def startup_times(db: BenchDatabase, issuer: LocalIssuer, logs: Path, runs: int) -> dict[str, Any]:
    times: list[float] = []
    for i in range(runs):
        server = start_server(db, issuer, f"startup-{i}", SERVE, logs)
        assert server.ready_seconds is not None
        times.append(server.ready_seconds)
        server.stop()
    imports = []
    for _ in range(3):  # the share of it that is only `import penvoice.app`
        started = time.monotonic()
        subprocess.run(
            [PYTHON, "-c", "import penvoice.app"],
            env=server_environ_for_tools(),
            capture_output=True,
            check=True,
        )
        imports.append(round(time.monotonic() - started, 3))
    return {
        "runs": times,
        "median_s": statistics.median(times),
        "max_s": max(times),
        "python_import_penvoice_app_s": imports,
    }


def metrics_cost(
    load: Load,
    db: BenchDatabase,
    issuer: LocalIssuer,
    logs: Path,
    fx: fixtures_module.Fixtures,
    quick: bool,
) -> dict[str, Any]:
    """The same scenario against `penvoice serve` and against the same app without
    metrics (`bench.launcher --no-metrics`), both processes up at once, runs interleaved
    A B A B ..."""
    rounds = 2 if quick else 6
    seconds = 5 if quick else 6
    with_metrics = start_server(db, issuer, "with-metrics", SERVE, logs)
    without = start_server(db, issuer, "without-metrics", NO_METRICS, logs)
    out: dict[str, Any] = {}
    try:
        pairs: list[tuple[str, list[Request]]] = [
            ("healthz", [("GET", "/healthz", None)]),
            (
                "get invoice (1M org)",
                [("GET", f"/v1/orgs/{fx.orgs['1M']}/invoices/{i}", None) for i in fx.get_ids["1M"]],
            ),
        ]
        for name, requests in pairs:
            runs: dict[str, list[Measured]] = {"with": [], "without": []}
            for server in (with_metrics, without):
                load.wrk(server, requests, connections=8, seconds=3, name="metrics-warm")
            for _ in range(rounds):
                for label, server in (("with", with_metrics), ("without", without)):
                    runs[label].append(load.wrk(server, requests, seconds=seconds, name="metrics"))
            summary: dict[str, Any] = {}
            for label, measured in runs.items():
                summary[label] = {
                    "rps": [m.rps for m in measured],
                    "cpu_ms_per_request": [m.server_cpu_ms_per_request for m in measured],
                    "median_rps": statistics.median(m.rps for m in measured),
                    "median_cpu_ms": statistics.median(
                        m.server_cpu_ms_per_request or 0 for m in measured
                    ),
                }
            w, wo = summary["with"], summary["without"]
            summary["throughput_cost_percent"] = round(
                (wo["median_rps"] - w["median_rps"]) / wo["median_rps"] * 100, 1
            )
            summary["cpu_cost_percent"] = round(
                (w["median_cpu_ms"] - wo["median_cpu_ms"]) / wo["median_cpu_ms"] * 100, 1
            )
            summary["cpu_cost_us_per_request"] = round(
                (w["median_cpu_ms"] - wo["median_cpu_ms"]) * 1000, 1
            )
            out[name] = summary
            log(
                f"metrics middleware on {name}: throughput -{summary['throughput_cost_percent']}%,"
                f" CPU +{summary['cpu_cost_us_per_request']} us/request"
            )
    finally:
        with_metrics.stop()
        without.stop()
    # The A/B above is noisy on a shared 2-CPU machine; the middleware's own cost, measured
    # in a separate process against the served source, pins it down.
    micro = subprocess.run(
        [PYTHON, "-m", "bench.middleware_cost"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=server_environ_for_tools(),
        check=True,
        timeout=600,
    )
    out["in-process"] = ast.literal_eval(micro.stdout.strip().splitlines()[-1])
    return out


def server_environ_for_tools() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if SOURCE_TREE is not None:
        environ["PYTHONPATH"] = str(SOURCE_TREE)
    return environ


def profile(
    load: Load,
    db: BenchDatabase,
    issuer: LocalIssuer,
    logs: Path,
    scenario: Scenario,
    out_stem: Path,
    quick: bool,
    profiles_dir: Path,
) -> dict[str, Any]:
    profiles_dir.mkdir(parents=True, exist_ok=True)
    server = start_server(
        db,
        issuer,
        "profile",
        [PYTHON, "-m", "bench.launcher", "--profile", str(out_stem)],
        logs,
    )
    try:
        requests = scenario.requests[-3000:] if scenario.one_shot else scenario.requests
        measured = load.wrk(server, requests, seconds=5 if quick else 10, name="profile")
    finally:
        server.stop()
    # The text tree is committed with the results; the HTML and the session (tens of MB)
    # stay in the data directory.
    kept = profiles_dir / out_stem.name
    for suffix in (".html", ".pyisession"):
        source = out_stem.with_suffix(suffix)
        if source.exists():
            shutil.move(source, kept.with_suffix(suffix))
    return {
        "scenario": scenario.name,
        "requests": measured.requests,
        "rps_under_profiler": measured.rps,
        "text": str(out_stem.with_suffix(".txt").relative_to(REPO)),
        "html": str(kept.with_suffix(".html")),
        "session": str(kept.with_suffix(".pyisession")),
    }


# --- the machine -----------------------------------------------------------------------------


def machine(db: BenchDatabase) -> dict[str, Any]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": db.version(),
        "wrk": wrk_version.split("\n")[0].split(" Copyright")[0].strip(),
        "git_revision": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        ).stdout.strip(),
        "git_dirty_paths": subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "src", "migrations"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        ).stdout.split("\n")[:-1],
    }


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help="keep a matching seeded database")
    parser.add_argument("--scale", type=float, default=1.0, help="dataset size factor")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".local" / "bench")
    parser.add_argument("--only", default="", help="comma-separated name fragments")
    parser.add_argument("--quick", action="store_true", help="5 s runs (a smoke test)")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated: startup,metrics,heavy,plans,anchor,profile",
    )
    parser.add_argument("--out", type=Path, help="result JSON (default bench/results/<time>.json)")
    parser.add_argument(
        "--drafts", type=int, default=25_000, help="drafts made for the finalize scenario"
    )
    parser.add_argument(
        "--src",
        default="worktree",
        help="serve the working tree's src/ (default) or a git revision's, e.g. HEAD: other "
        "people's uncommitted changes then stay out of the numbers",
    )
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_path = args.out or RESULTS / f"{stamp}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    logs = args.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"started": stamp, "quick": args.quick, "src": args.src}
    global SOURCE_TREE  # one setting for every server this run starts
    if args.src != "worktree":
        SOURCE_TREE, sha = export_source(args.src, args.data_dir)
        results["src"] = f"git archive {sha}"
    t_start = time.monotonic()

    db = BenchDatabase(args.data_dir)
    db.start()
    issuer = LocalIssuer().start()
    main_server: Server | None = None
    try:
        results["machine"] = machine(db)
        if SOURCE_TREE is not None:
            results["machine"]["git_revision"] = results["src"].split()[-1]
            results["machine"]["git_dirty_paths"] = []
        results["dataset"] = db.prepare(reuse=args.reuse, scale=args.scale, log=log)
        token = issuer.mint_token(
            BENCH_SUBJECT, email="bench@penvoice.local", name="Bench User", expires_in=24 * 3600
        )
        log("fixtures: drafts to finalize, open invoices to pay, ids, deep cursors")
        fx = asyncio.run(
            fixtures_module.prepare(db.admin_url, drafts=args.drafts, open_invoices=25_000)
        )
        results["fixtures"] = {
            "drafts": len(fx.drafts),
            "open_invoices": len(fx.open_invoices),
            "get_ids": {k: len(v) for k, v in fx.get_ids.items()},
            "list_cursors": {k: len(v) for k, v in fx.list_cursors.items()},
            **fx.counts,
        }
        with tempfile.TemporaryDirectory(prefix="penvoice-bench-") as work:
            load = Load(token, Path(work), db.postmaster_pid())
            results["bytecode_compile_s"] = compile_bytecode()
            if "startup" not in skip:
                log("time from process start to /readyz 200")
                results["startup"] = startup_times(db, issuer, logs, 3 if args.quick else 5)
                log(f"  ready after {results['startup']['runs']} s")
            main_server = start_server(db, issuer, "main", SERVE, logs)
            results["main_server_ready_s"] = main_server.ready_seconds
            results["scenarios"] = []
            only = [s.strip() for s in args.only.split(",") if s.strip()]
            chosen = [
                s for s in scenarios(fx, args.quick) if not only or any(o in s.name for o in only)
            ]
            for scenario in chosen:
                log(f"scenario: {scenario.name}")
                result = run_scenario(load, main_server, scenario, args.quick)
                sat, fixed = result["saturation"], result["fixed_rate"]
                log(
                    f"  saturation {sat['rps']}/s, {sat['server_cpu_ms_per_request']} ms CPU/req;"
                    f" at {scenario.rate:g}/s p50 {fixed['latency_ms']['p50']} ms"
                    f" p99 {fixed['latency_ms']['p99']} ms,"
                    f" {fixed['server_cpu_ms_per_request']} ms CPU/req;"
                    f" errors {sat['errors'] or '-'} / {fixed['errors'] or '-'}"
                )
                results["scenarios"].append(result)
            if "heavy" not in skip:
                results["heavy"] = heavy(load, main_server, fx, args.quick)
            memory = main_server.memory()
            results["main_server_memory_mib"] = {
                "rss_after_run": round(memory["VmRSS"] / 1024, 1),
                "peak_last_phase": round(memory["VmHWM"] / 1024, 1),
                "peak_over_run": max(
                    [s["peak_rss_mib"] for s in results["scenarios"]]
                    + [
                        v["sequential"]["peak_rss_mib"]
                        for v in results.get("heavy", {}).values()
                        if "sequential" in v
                    ]
                    + [round(memory["VmHWM"] / 1024, 1)]
                ),
            }
            main_server.stop()
            main_server = None
            if "plans" not in skip:
                log("query plans (EXPLAIN ANALYZE, as the app's role, under row-level security)")
                results["plans"] = asyncio.run(fixtures_module.plans(db.app_url, fx))
            if "metrics" not in skip:
                log("metrics middleware: with and without, interleaved")
                results["metrics_middleware"] = metrics_cost(load, db, issuer, logs, fx, args.quick)
            if "anchor" not in skip:
                from bench.anchor import run_anchor  # noqa: PLC0415 - it imports this module

                log("perf anchor: Go ref, Python floor and Penvoice, interleaved")
                results["anchor"] = run_anchor(
                    db, issuer, token, fx.orgs["1M"], fx.get_ids["1M"][0], logs
                )
            if "profile" not in skip and results["scenarios"]:
                hottest_result = max(
                    (s for s in results["scenarios"] if s["budget"]["cpu_ms"]),
                    key=lambda s: s["saturation"]["server_cpu_ms_per_request"] or 0,
                    default=results["scenarios"][-1],
                )
                hottest = next(s for s in chosen if s.name == hottest_result["name"])
                log(f"profile (pyinstrument) of the hottest scenario: {hottest.name}")
                if hottest.one_shot:  # its drafts were used up: make fresh ones
                    more = asyncio.run(
                        fixtures_module.prepare(db.admin_url, drafts=5000, open_invoices=0)
                    )
                    hottest = next(s for s in scenarios(more, args.quick) if s.name == hottest.name)
                results["profile"] = profile(
                    load,
                    db,
                    issuer,
                    logs,
                    hottest,
                    RESULTS / f"{stamp}-profile",
                    args.quick,
                    args.data_dir / "profiles",
                )
    finally:
        if main_server is not None:
            main_server.stop()
        issuer.stop()
        db.stop()
        results["bench_seconds"] = round(time.monotonic() - t_start, 1)
        out_path.write_text(json.dumps(results, indent=2, default=str))
        log(f"results: {out_path.relative_to(REPO) if out_path.is_relative_to(REPO) else out_path}")
    from bench.report import markdown  # noqa: PLC0415

    (RESULTS / "latest.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
