"""The queue in one process: a job commits with its cause or not at all, a worker runs it
once, a failure is retried with backoff and kept as failed after the last attempt, and the
metrics count all of it. Real PostgreSQL, real pgqueuer, no mocks."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import asyncpg
import pytest

from penvoice.config import Settings
from penvoice.db import Database, request_transaction
from penvoice.jobs.kinds import JobContext, JobKind
from penvoice.jobs.repository import enqueue
from penvoice.jobs.worker import Worker
from tests.jobs.helpers import eventually, worker_settings

pytestmark = pytest.mark.anyio


def api_database(database_url: str) -> Database:
    return Database(
        Settings.from_environ(
            {"DB_URL": database_url, "KC_ISSUER": "http://x/realms/y", "KC_AUDIENCE": "z"}
        )
    )


async def jobs_in_queue(admin_database_url: str) -> list[tuple[str, str, int]]:
    conn = await asyncpg.connect(admin_database_url)
    try:
        rows = await conn.fetch(
            "SELECT entrypoint, status::text, attempts FROM pgqueuer ORDER BY id"
        )
    finally:
        await conn.close()
    return [(r[0], r[1], r[2]) for r in rows]


class Boom(RuntimeError):
    pass


async def test_a_job_commits_with_its_transaction_or_not_at_all(
    database_url: str, admin_database_url: str
) -> None:
    database = api_database(database_url)
    await database.open()
    try:

        async def failing_request() -> None:
            async with request_transaction(database) as conn:
                await enqueue(conn, "test.record", {"n": 1})
                raise Boom  # the request fails after enqueueing: the job goes with it

        with pytest.raises(Boom):
            await failing_request()
        assert await jobs_in_queue(admin_database_url) == []
        async with request_transaction(database) as conn:
            job_id = await enqueue(conn, "test.record", {"n": 2})
            # not visible to anyone else before the commit
            assert await jobs_in_queue(admin_database_url) == []
        assert job_id > 0
        assert await jobs_in_queue(admin_database_url) == [("test.record", "queued", 0)]
    finally:
        await database.close(5)


async def test_the_worker_runs_each_job_once_retries_failures_and_keeps_the_broken(
    database_url: str, admin_database_url: str
) -> None:
    seen: list[int] = []
    runs: Counter[str] = Counter()

    async def record(context: JobContext, payload: dict[str, object]) -> None:
        async with context.database.connection() as conn:  # handlers get the pool
            assert await conn.fetchval("SELECT 1") == 1
        n = payload["n"]
        assert isinstance(n, int)
        seen.append(n)

    async def flaky(context: JobContext, payload: dict[str, object]) -> None:
        runs["flaky"] += 1
        if context.attempt < 2:
            raise Boom(f"attempt {context.attempt}")

    async def broken(context: JobContext, payload: dict[str, object]) -> None:
        runs["broken"] += 1
        raise Boom("always")

    kinds = [
        JobKind("test.record", record),
        JobKind("test.flaky", flaky),
        JobKind("test.broken", broken),
    ]
    database = api_database(database_url)
    await database.open()
    async with request_transaction(database) as conn:
        for n in range(5):
            await enqueue(conn, "test.record", {"n": n})
        await enqueue(conn, "test.flaky", {})
        await enqueue(conn, "test.broken", {})
    await database.close(5)

    worker = Worker(worker_settings(database_url), kinds)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:

        async def settled() -> bool:
            states = {(kind, status) for kind, status, _ in await jobs_in_queue(admin_database_url)}
            return len(seen) == 5 and runs["flaky"] == 3 and states == {("test.broken", "failed")}

        await eventually(settled)
        metrics = (await worker.metrics_text()).decode()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

    assert sorted(seen) == [0, 1, 2, 3, 4]  # each once
    assert runs == {"flaky": 3, "broken": 3}  # JOB_MAX_ATTEMPTS=3 runs, then kept
    assert await jobs_in_queue(admin_database_url) == [("test.broken", "failed", 2)]

    def sample(name: str, **labels: str) -> float:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        series = f"{name}{{{inner}}}" if labels else name
        match = re.search(rf"^{re.escape(series)} (\S+)$", metrics, re.MULTILINE)
        assert match, f"{name}{{{inner}}} missing"
        return float(match.group(1))

    assert sample("penvoice_jobs_total", kind="test.record", outcome="success") == 5
    assert sample("penvoice_jobs_total", kind="test.flaky", outcome="error") == 2
    assert sample("penvoice_jobs_total", kind="test.flaky", outcome="success") == 1
    assert sample("penvoice_job_failures_total", error="Boom", kind="test.broken") == 3
    assert sample("penvoice_jobs_given_up_total", kind="test.broken") == 1
    assert sample("penvoice_jobs_given_up_total", kind="test.flaky") == 0
    assert sample("penvoice_jobs_queue_depth", kind="test.broken", state="failed") == 1
    assert sample("penvoice_jobs_queue_depth", kind="test.record", state="queued") == 0
    assert sample("penvoice_job_latency_seconds_count", kind="test.record") == 5
    assert sample("penvoice_jobs_queue_reading_ok") == 1
