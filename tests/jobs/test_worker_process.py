"""`penvoice worker` as a real process: configuration errors, probes, metrics of the queue
depth, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import asyncpg
import httpx
import pytest

from penvoice.jobs.repository import enqueue
from tests.jobs.helpers import worker_process

pytestmark = pytest.mark.slow


def test_a_bad_configuration_stops_the_worker_naming_every_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME"}}
    result = subprocess.run(
        [sys.executable, "-m", "penvoice.cli", "worker"],
        env={**env, "WORKER_CONCURRENCY": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DB_URL: is required" in result.stderr
    assert "WORKER_CONCURRENCY" in result.stderr


async def _enqueue(database_url: str, kind: str, count: int, *, commit: bool) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        for n in range(count):
            await enqueue(conn, kind, {"n": n})
        await (transaction.commit() if commit else transaction.rollback())
    finally:
        await conn.close()


def test_the_worker_probes_metrics_and_graceful_stop(database_url: str) -> None:
    with worker_process(database_url) as worker:
        worker.wait_ready()
        assert httpx.get(f"{worker.base}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{worker.base}/readyz").json()
        assert ready == {"status": "ready", "checks": {"database": "ok", "queue": "ok"}}
        missing = httpx.get(f"{worker.base}/nope")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

        # No worker knows this kind: the jobs wait, and the depth shows them. The rolled
        # back transaction's jobs never exist.
        asyncio.run(_enqueue(database_url, "nobody.runs", 2, commit=True))
        asyncio.run(_enqueue(database_url, "nobody.runs", 3, commit=False))
        metrics = httpx.get(f"{worker.base}/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert re.search(
            r'^penvoice_jobs_queue_depth\{kind="nobody.runs",state="queued"\} 2\.0$',
            text,
            re.MULTILINE,
        ), text
        assert "penvoice_job_latency_seconds" in text
        assert "penvoice_build_info" in text

        assert worker.stop(signal.SIGTERM) == 0
        log = worker.output()
        assert "stopping after the running jobs" in log


def test_readiness_fails_while_the_schema_is_behind_the_build(
    database_url: str, admin_database_url: str
) -> None:
    async def downgrade_marker() -> None:
        conn = await asyncpg.connect(admin_database_url)
        try:
            await conn.execute("UPDATE schema_migrations SET version = 5")
        finally:
            await conn.close()

    asyncio.run(downgrade_marker())
    with worker_process(database_url) as worker:
        response = worker.wait_answering("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["failing"] == ["database"]
        assert "this build needs" in body["checks"]["database"]
        assert httpx.get(f"{worker.base}/healthz").status_code == 200
        assert worker.stop() == 0
