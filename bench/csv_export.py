"""Benchmark: stream the CSV export of 100,000 invoices through a real `penvoice serve`.

    .venv/bin/python bench/csv_export.py [--invoices 100000] [--keep]

A fresh embedded PostgreSQL (temporary directory) gets the migrations, one organisation
made through the API, 1,000 customers and N invoices generated in SQL with
`INSERT … SELECT generate_series` (every status, snapshots with commas and quotes). A real
`penvoice serve` process then streams `GET /v1/orgs/{org}/invoices.csv` twice — a 10 %
slice (`status=void`) and everything — while this script samples the server's resident
memory (/proc/PID/status, every 10 ms, and the kernel's own peak, VmHWM, reset before each
export through /proc/PID/clear_refs). A one-row export runs first, from cold, so its growth
shows what the meter sees when memory is allocated (imports, pool, allocator arenas).
Bounded memory means the peak growth of the full export is about that of the slice, not
ten times it.

Results go to bench/results/csv_export.json and a summary is printed. Everything runs on
loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import EmbeddedPostgres, free_port
from penvoice.dev.roles import APP_ROLE, OWNER_ROLE, create_roles_sql
from penvoice.documents.csv_export import csv_chunks
from penvoice.documents.repository import EXPORT_QUERY
from penvoice.migrate.runner import Migrator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "csv_export.json"
DATABASE, SUBJECT = "penvoice", "bench-owner"
CUSTOMERS = 1_000

SEED_CUSTOMERS = """
INSERT INTO customers (org_id, name, email, billing_address, tax_id)
SELECT $1, 'Customer ' || g || CASE WHEN g % 3 = 0 THEN ', "Quoted" Ltd' ELSE ' GmbH' END,
       'ap' || g || '@example.com', 'Street ' || g || E'\\nCity', 'TAX' || g
FROM generate_series(1, $2::int) AS g"""

# One invoice per g: 20 % draft, 10 % void, 30 % paid, 40 % open; amounts in cents.
SEED_INVOICES = """
WITH c AS (SELECT id, name, row_number() OVER (ORDER BY id) AS n FROM customers WHERE org_id = $1),
     g AS (SELECT g, CASE WHEN g % 10 IN (1, 2) THEN 'draft' WHEN g % 10 = 0 THEN 'void'
                          WHEN g % 10 IN (3, 4, 5) THEN 'paid' ELSE 'open' END AS status,
                     1000 + (g * 7919) % 500000 AS net
           FROM generate_series(1, $2::int) AS g)
INSERT INTO invoices (org_id, customer_id, status, currency, number, sequence, issue_date,
                      due_date, subtotal, tax_total, total, amount_paid, amount_due,
                      org_snapshot, customer_snapshot, created_at, created_by, finalized_at,
                      finalized_by)
SELECT $1, c.id, g.status, 'EUR',
       CASE WHEN g.status <> 'draft' THEN 'INV-' || lpad(g.g::text, 6, '0') END,
       CASE WHEN g.status <> 'draft' THEN g.g END,
       CASE WHEN g.status <> 'draft' THEN date '2026-01-01' + (g.g % 300) END,
       CASE WHEN g.status <> 'draft' THEN date '2026-01-15' + (g.g % 300) END,
       g.net, g.net / 5, g.net + g.net / 5,
       CASE WHEN g.status = 'paid' THEN g.net + g.net / 5 ELSE 0 END,
       CASE WHEN g.status = 'paid' THEN 0 ELSE g.net + g.net / 5 END,
       CASE WHEN g.status <> 'draft' THEN jsonb_build_object(
           'name', 'Bench Org', 'address', 'Street 1', 'tax_id', 'DE1') END,
       CASE WHEN g.status <> 'draft' THEN jsonb_build_object(
           'name', c.name, 'email', NULL, 'billing_address', '', 'tax_id', '') END,
       now() - g.g * interval '1 second', 'bench',
       CASE WHEN g.status <> 'draft' THEN now() END,
       CASE WHEN g.status <> 'draft' THEN 'bench' END
FROM g JOIN c ON c.n = 1 + g.g % $3"""


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def sampling(pid: int, every: float = 0.01) -> Iterator[list[int]]:
    samples: list[int] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                samples.append(rss_kib(pid))
            stop.wait(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


async def prepare(pg: EmbeddedPostgres) -> str:
    conn = await asyncpg.connect(pg.url())
    try:
        await conn.execute(create_roles_sql())
        await conn.execute(f'CREATE DATABASE "{DATABASE}" OWNER {OWNER_ROLE}')
    finally:
        await conn.close()
    await Migrator(pg.url(DATABASE, user=OWNER_ROLE), ROOT / "migrations").up()
    return pg.url(DATABASE, user=APP_ROLE)


async def seed(admin_url: str, org_id: str, invoices: int) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(admin_url)
    try:
        async with conn.transaction():
            await conn.execute(SEED_CUSTOMERS, org_id, CUSTOMERS)
            await conn.execute(SEED_INVOICES, org_id, invoices, CUSTOMERS)
        await conn.execute("VACUUM ANALYZE invoices")
        await conn.execute("VACUUM ANALYZE customers")
    finally:
        await conn.close()
    return time.perf_counter() - started


def start_server(db_url: str, issuer: LocalIssuer, port: int) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "DB_URL": db_url,
        "KC_ISSUER": issuer.issuer_url,
        "KC_AUDIENCE": "penvoice-api",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        "SHUTDOWN_DRAIN_SECONDS": "0",
    }
    penvoice = shutil.which("penvoice", path=str(Path(sys.executable).parent)) or "penvoice"
    return subprocess.Popen(
        [penvoice, "serve"], env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


async def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError("the server exited during start")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the server never became ready")


async def stream_export(
    client: httpx.AsyncClient, url: str, pid: int, **params: str
) -> dict[str, float | int | bool]:
    """Stream one export, counting rows and bytes, with the server's memory sampled."""
    baseline = rss_kib(pid)
    peak_reset = reset_peak(pid)
    rows = size = 0
    started = time.perf_counter()
    first_byte = 0.0
    with sampling(pid) as samples:
        async with client.stream("GET", url, params=params) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                if not first_byte:
                    first_byte = time.perf_counter() - started
                size += len(chunk)
                rows += chunk.count(b"\n")  # a CRLF may straddle two chunks
    seconds = time.perf_counter() - started
    peak = max([*samples, rss_kib(pid, "VmHWM") if peak_reset else 0])
    return {
        "rows": rows - 1,  # minus the header; the seed has no newline inside a field
        "bytes": size,
        "seconds": round(seconds, 3),
        "rows_per_second": round((rows - 1) / seconds),
        "time_to_first_byte_seconds": round(first_byte, 3),
        "server_rss_before_mib": round(baseline / 1024, 1),
        "server_rss_peak_mib": round(peak / 1024, 1),
        "server_rss_peak_growth_mib": round((peak - baseline) / 1024, 1),
        "server_rss_peak_growth_kib": peak - baseline,
        "peak_from_kernel_hwm": peak_reset,
        "memory_samples": len(samples),
    }


async def in_memory_control(admin_url: str, org_id: str) -> dict[str, float]:
    """What the export would cost done the naive way: every row fetched at once and the
    whole file built in memory (here, in this process, measured the same way)."""
    pid = os.getpid()
    conn = await asyncpg.connect(admin_url)
    try:
        baseline = rss_kib(pid)
        reset_peak(pid)
        started = time.perf_counter()
        records = await conn.fetch(EXPORT_QUERY, org_id, None, None, None, None, None, None)

        async def every() -> AsyncIterator[asyncpg.Record]:
            for record in records:
                yield record

        document = b"".join([chunk async for chunk in csv_chunks(every(), len(records) + 1)])
        seconds = time.perf_counter() - started
        peak = rss_kib(pid, "VmHWM")
    finally:
        await conn.close()
    return {
        "rows": len(records),
        "bytes": len(document),
        "seconds": round(seconds, 3),
        "rss_peak_growth_mib": round((peak - baseline) / 1024, 1),
    }


async def run(invoices: int, keep: bool) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="penvoice-bench-"))
    pg = EmbeddedPostgres(workdir / "pg")
    pg.start()
    issuer = LocalIssuer().start()
    server: subprocess.Popen[bytes] | None = None
    try:
        db_url = await prepare(pg)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(db_url, issuer, port)
        await wait_ready(base, server)
        token = issuer.mint_token(SUBJECT, expires_in=3600)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            org = await client.post("/v1/orgs", json={"name": "Bench Org"})
            org.raise_for_status()
            org_id = org.json()["id"]
            seed_seconds = await seed(pg.url(DATABASE), org_id, invoices)
            url = f"/v1/orgs/{org_id}/invoices.csv"
            # The first export, of one row, from cold: imports, pool, allocator arenas.
            first = await stream_export(client, url, server.pid, number="INV-000003")
            slice_ = await stream_export(client, url, server.pid, status="void")
            full = await stream_export(client, url, server.pid)
        control = await in_memory_control(pg.url(DATABASE), org_id)
        expected_slice = invoices // 10
        if (full["rows"], slice_["rows"]) != (invoices, expected_slice):
            raise RuntimeError(f"wrong row counts: {full['rows']}, {slice_['rows']}")
        return {
            "benchmark": "GET /v1/orgs/{org_id}/invoices.csv through `penvoice serve`",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "invoices": invoices,
            "seed_seconds": round(seed_seconds, 1),
            "first_export_one_row_from_cold": first,
            "slice_status_void": slice_,
            "full_export": full,
            "control_all_rows_in_memory": control,
        }
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        issuer.stop()
        pg.stop(mode="immediate")
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    args = parser.parse_args()
    result = asyncio.run(run(args.invoices, args.keep))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    full, part = result["full_export"], result["slice_status_void"]
    cold = result["first_export_one_row_from_cold"]
    control = result["control_all_rows_in_memory"]
    assert isinstance(control, dict)
    assert isinstance(full, dict)
    assert isinstance(part, dict)
    assert isinstance(cold, dict)
    print(
        f"CSV export of {full['rows']:,} invoices: {full['seconds']} s "
        f"({full['rows_per_second']:,} rows/s, {full['bytes'] / 2**20:.1f} MiB, "
        f"first byte after {full['time_to_first_byte_seconds']} s); server RSS "
        f"{full['server_rss_before_mib']} MiB, peak growth {full['server_rss_peak_growth_mib']} "
        f"MiB (slice of {part['rows']:,}: {part['server_rss_peak_growth_mib']} MiB; first "
        f"one-row export from cold: {cold['server_rss_peak_growth_mib']} MiB; the naive way, "
        f"all rows in memory: {control['rss_peak_growth_mib']} MiB). "
        f"→ {RESULTS.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
