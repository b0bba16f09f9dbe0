"""The perf anchor: Penvoice beside the seed's Go stack and a framework-free Python floor.

    .venv/bin/python -m bench.anchor [--data-dir .local/bench] [--out FILE]

The two reference servers live in ../shared/perf-anchor (see its README.md): `go-ref.go`,
built from Debian's Go packages by `build-go-ref.sh` (skipped, and said so, without `go`),
and `python_floor.py` under uvicorn (uvloop, httptools). Both query the same database as
the superuser with explicit filters; `penvoice serve` runs exactly as in `bench.run`
(production settings, the app's role under forced row-level security). All three are up
at once; per endpoint, 2 interleaved rounds (Go, floor, Penvoice, Go, floor, Penvoice), each
run a 2 s warm-up then `wrk -t1 -c32 -d8s`; medians of req/s and of server CPU per request
(utime + stime of the server process / completed requests). The budget: Penvoice serves
the get-invoice request at >= 45 % of Go's throughput.

Standalone, it reuses the seeded database in .local/bench (never seeds it) and picks a
finalized 10-line invoice of the 1M organisation. Only 127.0.0.1 is contacted; every
subprocess is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from bench.database import REPO, BenchDatabase
from bench.report import anchor_markdown
from bench.run import PYTHON, SERVE, Load, Request, Server, log, spawn, start_server
from bench.seed import BENCH_SUBJECT
from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import free_port

ANCHOR_DIR = REPO.parent / "shared" / "perf-anchor"
ROUNDS = 2
WARMUP_SECONDS = 2
SECONDS = 8
CONNECTIONS = 32
THREADS = 1
BUDGET_PERCENT_OF_GO = 45
GET_ROUTE = "/v1/orgs/{org_id}/invoices/{invoice_id}"

# The README's get-invoice SQL: the invoice and its lines as JSON, membership checked
# ($3 = the token's subject), one round trip. It must not contain "|" (the Go ref's separator).
GET_SQL = (
    "SELECT json_build_object('invoice', to_jsonb(i), 'lines', (SELECT coalesce(json_agg("
    "to_jsonb(l) ORDER BY l.position), '[]') FROM invoice_lines l WHERE l.org_id = i.org_id "
    "AND l.invoice_id = i.id))::text "
    "FROM invoices i JOIN memberships m ON m.org_id = i.org_id AND m.subject = $3 "
    "WHERE i.org_id = $1::uuid AND i.id = $2::uuid"
)
# GET /v1/me in one statement: the subject and its memberships (org id, name, role) in
# Penvoice's order. The token's other claims (email, name) are not the database's, and the
# Go ref passes only the subject to SQL, so they are left out.
ME_SQL = (
    "SELECT json_build_object('subject', $1::text, 'memberships', coalesce((SELECT json_agg("
    "json_build_object('org_id', m.org_id, 'org_name', o.name, 'role', m.role) "
    "ORDER BY o.name, m.org_id) FROM memberships m JOIN organisations o ON o.id = m.org_id "
    "WHERE m.subject = $1), '[]'))::text"
)


@dataclass
class Side:
    key: str  # "go", "floor", "penvoice"
    server: Server
    endpoints: set[str]  # the endpoint names it serves


def _base_environ() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "KC_", "PENVOICE_", "REF_", "PYTHONPATH", "TOKEN_CACHE"))
    }


def build_go(out: Path, logs: Path) -> str:
    """Build the Go ref into `out`: "built", "unavailable" (no `go`), or why it failed."""
    if shutil.which("go") is None:
        log("GO REFERENCE SKIPPED: `go` is not installed (apt-get install -y golang-go)")
        return "unavailable"
    try:
        done = subprocess.run(
            ["bash", str(ANCHOR_DIR / "build-go-ref.sh"), str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode != 0 or not out.exists():
        detail = "timed out" if done is None else (done.stderr.strip().splitlines() or ["?"])[-1]
        (logs / "go-ref-build.log").write_text("" if done is None else done.stdout + done.stderr)
        log(f"GO REFERENCE SKIPPED: build failed ({detail}); see {logs / 'go-ref-build.log'}")
        return f"build failed: {detail}"
    return "built"


@contextmanager
def _string_jwks(issuer: LocalIssuer) -> Iterator[None]:
    """The issuer's discovery points at a copy of its JWKS with string members only, while
    this lasts: the Go ref decodes each key as map[string]string, and PyJWT's JWK has
    `"key_ops": ["verify"]`. Same keys, same kid; served on 127.0.0.1 from a thread."""
    body = json.dumps(
        {
            "keys": [
                {k: v for k, v in key.items() if isinstance(v, str)}
                for key in issuer.jwks()["keys"]
            ]
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    issuer.discovery_overrides["jwks_uri"] = f"http://127.0.0.1:{server.server_port}/jwks"
    try:
        yield
    finally:
        issuer.discovery_overrides.pop("jwks_uri", None)
        server.shutdown()
        server.server_close()


def start_go(binary: Path, db: BenchDatabase, issuer: LocalIssuer, logs: Path) -> Server:
    port = free_port()
    environ = {
        **_base_environ(),
        "DB_URL": db.admin_url,
        "KC_ISSUER": issuer.issuer_url,
        "KC_AUDIENCE": issuer.audience,
        "PORT": str(port),
        # /healthz, /readyz and /metrics are built in.
        "REF_ROUTE_1": f"GET /v1/me|{ME_SQL}|:sub",
        "REF_ROUTE_2": f"GET {GET_ROUTE}|{GET_SQL}|org_id,invoice_id,:sub",
    }
    with _string_jwks(issuer):  # it loads the keys once, before it listens
        return spawn("anchor-go", [str(binary)], logs, environ, port)


def start_floor(db: BenchDatabase, issuer: LocalIssuer, logs: Path) -> Server:
    port = free_port()
    environ = {
        **_base_environ(),
        "PYTHONPATH": str(ANCHOR_DIR),
        "DB_URL": db.admin_url,
        "KC_ISSUER": issuer.issuer_url,
        "KC_AUDIENCE": issuer.audience,
        "REF_GET_SQL": GET_SQL,
        "TOKEN_CACHE": "1",
    }
    command = [PYTHON, "-m", "uvicorn", "python_floor:app", "--loop", "uvloop"]
    command += ["--http", "httptools", "--no-access-log", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    return spawn(
        "anchor-floor", command, logs, environ, port, cwd=ANCHOR_DIR, ready_path="/healthz"
    )


def _check(side: Side, path: str, token: str) -> dict[str, Any]:
    """One request before the load: its status and size (a wrong answer is not measured)."""
    with httpx.Client(timeout=10) as client:
        response = client.get(
            f"http://127.0.0.1:{side.server.port}{path}",
            headers={"Authorization": f"Bearer {token}"},
        )
    return {"status": response.status_code, "bytes": len(response.content)}


def run_anchor(
    db: BenchDatabase,
    issuer: LocalIssuer,
    token: str,
    org_id: UUID | str,
    invoice_id: UUID | str,
    logs_dir: Path,
) -> dict[str, Any]:
    """Go ref, Python floor and `penvoice serve` on /healthz, /v1/me and one get-invoice;
    the result for the run's JSON (see the module docstring)."""
    paths = {
        "healthz": "/healthz",
        "me": "/v1/me",
        "get invoice": f"/v1/orgs/{org_id}/invoices/{invoice_id}",
    }
    result: dict[str, Any] = {
        "tool": f"wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s",
        "warmup_s": WARMUP_SECONDS,
        "rounds": ROUNDS,
        "org_id": str(org_id),
        "invoice_id": str(invoice_id),
        "endpoints": {
            name: {"path": path, "route": GET_ROUTE if name == "get invoice" else path}
            for name, path in paths.items()
        },
    }
    sides: list[Side] = []
    with tempfile.TemporaryDirectory(prefix="penvoice-anchor-") as work:
        workdir = Path(work)
        try:
            result["go"] = build_go(workdir / "go-ref", logs_dir)
            if result["go"] == "built":
                log("perf anchor: Go reference server")
                server = start_go(workdir / "go-ref", db, issuer, logs_dir)
                sides.append(Side("go", server, set(paths)))
            log("perf anchor: Python floor (uvicorn)")
            floor = start_floor(db, issuer, logs_dir)
            sides.append(Side("floor", floor, {"healthz", "get invoice"}))
            log("perf anchor: penvoice serve")
            sides.append(
                Side("penvoice", start_server(db, issuer, "anchor", SERVE, logs_dir), set(paths))
            )
            load = Load(token, workdir, db.postmaster_pid())
            for name, path in paths.items():
                entry = result["endpoints"][name]
                requests: list[Request] = [("GET", path, None)]
                runs: dict[str, list[dict[str, Any]]] = {}
                for side in sides:
                    if name not in side.endpoints:
                        continue
                    entry[side.key] = {"check": _check(side, path, token)}
                    if entry[side.key]["check"]["status"] == 200:
                        runs[side.key] = []
                    else:
                        log(f"  {side.key} {path}: {entry[side.key]['check']}, not measured")
                for _ in range(ROUNDS):
                    for side in sides:
                        if side.key not in runs:
                            continue
                        load.wrk(
                            side.server,
                            requests,
                            connections=CONNECTIONS,
                            threads=THREADS,
                            seconds=WARMUP_SECONDS,
                            name="anchor-warm",
                        )
                        m = load.wrk(
                            side.server,
                            requests,
                            connections=CONNECTIONS,
                            threads=THREADS,
                            seconds=SECONDS,
                            name="anchor",
                        )
                        runs[side.key].append(
                            {
                                "rps": m.rps,
                                "cpu_ms_per_request": m.server_cpu_ms_per_request,
                                "p99_ms": m.latency_ms.get("p99"),
                                "errors": m.errors,
                                "other_cpu_s": m.other_cpu_s,
                            }
                        )
                for key, measured in runs.items():
                    entry[key].update(
                        runs=measured,
                        median_rps=round(statistics.median(r["rps"] for r in measured), 1),
                        median_cpu_ms=round(
                            statistics.median(r["cpu_ms_per_request"] or 0 for r in measured), 3
                        ),
                    )
                log(
                    f"  {name}: "
                    + ", ".join(
                        f"{k} {entry[k]['median_rps']:,.0f}/s {entry[k]['median_cpu_ms']} ms CPU"
                        for k in runs
                    )
                )
        finally:
            for side in sides:
                side.server.stop()
    get = result["endpoints"]["get invoice"]
    go_rps = get.get("go", {}).get("median_rps")
    for key in ("floor", "penvoice"):
        rps = get.get(key, {}).get("median_rps")
        percent = round(rps / go_rps * 100, 1) if rps and go_rps else None
        result[f"{key}_get_percent_of_go"] = percent
    result["budget_percent_of_go"] = BUDGET_PERCENT_OF_GO
    percent = result["penvoice_get_percent_of_go"]
    result["budget_ok"] = None if percent is None else percent >= BUDGET_PERCENT_OF_GO
    return result


# --- standalone ------------------------------------------------------------------------------


async def _ten_line_invoice(admin_url: str) -> tuple[UUID, UUID]:
    """The 1M organisation and one of its finalized invoices with exactly 10 lines."""
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        row = await conn.fetchrow(
            """SELECT i.org_id, i.id FROM invoices i TABLESAMPLE SYSTEM (1) REPEATABLE (7)
               WHERE i.org_id = (SELECT id FROM organisations WHERE name = 'Bigcorp Studio GmbH')
                 AND i.status IN ('open', 'paid')
                 AND (SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id) = 10
                 AND EXISTS (SELECT FROM memberships m
                             WHERE m.org_id = i.org_id AND m.subject = $1)
               LIMIT 1""",
            BENCH_SUBJECT,
            timeout=60,
        )
    finally:
        await conn.close()
    if row is None:
        raise RuntimeError("no finalized 10-line invoice in the 1M organisation")
    return row["org_id"], row["id"]


async def _other_clients(admin_url: str) -> int:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anchor", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".local" / "bench")
    parser.add_argument("--out", type=Path, help="result JSON (default DATA_DIR/anchor.json)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    if not (args.data_dir / "seed.json").exists():
        print(f"no seeded database in {args.data_dir}: run `make bench` first", file=sys.stderr)
        return 2
    logs = args.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    db = BenchDatabase(args.data_dir)
    was_running = db.pg.is_running()
    db.start()  # a running one (someone's `make bench`) is used as it is
    issuer = LocalIssuer().start()
    try:
        org_id, invoice_id = asyncio.run(_ten_line_invoice(db.admin_url))
        token = issuer.mint_token(
            BENCH_SUBJECT, email="bench@penvoice.local", name="Bench User", expires_in=3600
        )
        result = run_anchor(db, issuer, token, org_id, invoice_id, logs)
    finally:
        issuer.stop()
        if not was_running:
            others = asyncio.run(_other_clients(db.admin_url))
            if others:
                log(f"leaving the database running: {others} other client(s) connected")
            else:
                db.stop()
    result["finished"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or args.data_dir / "anchor.json"
    out.write_text(json.dumps(result, indent=2))
    log(f"result: {out}")
    print(anchor_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
