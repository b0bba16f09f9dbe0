"""Real `python -m penvoice.migrate` processes: concurrency, the lock bound, signals."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.migrate.helpers import cli_process_args, query, run_cli, state, tables, write_migrations

pytestmark = pytest.mark.slow


def _golang_migrate_lock_key(url: str) -> int:
    """Computed here from the research notes, independently of the runner's code."""
    database = "/" + url.rsplit("/", 1)[1]
    data = f"public\x00schema_migrations\x00{database}".encode()
    return (zlib.crc32(data) * 1486364155) & 0xFFFFFFFF


async def _wait_for_query(
    url: str, fragment: str, *, active: bool = True, timeout: float = 10
) -> None:
    """Until another session of the database runs (or, active=False, ran) such a query."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND ($2 OR state = 'active') AND pid <> pg_backend_pid() "
                "AND strpos(query, $1) > 0",
                fragment,
                not active,
            )
            if active:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError(f"no active query containing {fragment!r}")


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_process_args(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@contextlib.contextmanager
def _running(*args: str) -> Iterator[subprocess.Popen[str]]:
    """A CLI process, killed on the way out if a failing assertion left it running."""
    process = _start(*args)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # reaps it and closes the pipes


def _finish(process: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


def test_concurrent_ups_apply_each_file_once(tmp_path: Path, empty_database_url: str) -> None:
    migrations = write_migrations(
        tmp_path / "m",
        {
            "1_log.up.sql": "CREATE TABLE applied (version int PRIMARY KEY);\n"
            "INSERT INTO applied VALUES (1);\nSELECT pg_sleep(1.5);",
            "2_more.up.sql": "INSERT INTO applied VALUES (2);",
        },
    )
    args = ("-path", str(migrations), "-database", empty_database_url, "up")

    async def one_waits_while_the_other_migrates() -> None:
        await _wait_for_query(empty_database_url, "pg_sleep(1.5)")
        await _wait_for_query(empty_database_url, "pg_try_advisory_lock", active=False)
        await _wait_for_query(empty_database_url, "pg_sleep(1.5)", timeout=0.1)  # still running

    with _running(*args) as first, _running(*args) as second:
        asyncio.run(one_waits_while_the_other_migrates())
        results = sorted([_finish(first), _finish(second)], key=lambda result: result[1])
    assert [code for code, _ in results] == [0, 0]
    applied, waited = results[0][1], results[1][1]
    assert [line.split(" (")[0] for line in applied.splitlines()] == ["1/u log", "2/u more"]
    assert waited == "no change\n"
    assert query(empty_database_url, "SELECT version FROM applied ORDER BY 1") == [(1,), (2,)]
    assert state(empty_database_url) == (2, False)


def test_lock_wait_is_bounded_and_interruptible(tmp_path: Path, empty_database_url: str) -> None:
    migrations = write_migrations(tmp_path / "m", {"1_a.up.sql": "CREATE TABLE a (id int);"})
    args = ("-path", str(migrations), "-database", empty_database_url)

    async def scenario() -> None:
        holder = await asyncpg.connect(empty_database_url)
        try:
            await holder.execute(
                f"SELECT pg_advisory_lock({_golang_migrate_lock_key(empty_database_url)})"
            )
            started = time.monotonic()
            bounded = await asyncio.to_thread(run_cli, *args, "-lock-timeout", "1", "up")
            elapsed = time.monotonic() - started
            assert (bounded.returncode, bounded.stderr) == (
                1,
                "error: timeout: can't acquire database lock\n",
            )
            assert 1 <= elapsed < 5
            with _running(*args, "up") as waiting:  # default -lock-timeout 15
                await _wait_for_query(empty_database_url, "pg_try_advisory_lock", active=False)
                waiting.send_signal(signal.SIGTERM)
                code, err = await asyncio.to_thread(_finish, waiting, 5)
            assert code == 1
            assert err.endswith(
                "error: interrupted by SIGTERM while waiting for the database lock; "
                "nothing was changed\n"
            )
        finally:
            await holder.close()

    asyncio.run(scenario())
    assert state(empty_database_url) == (None, False)
    assert tables(empty_database_url) == set()


SLOW = {
    "1_first.up.sql": "CREATE TABLE first_t (id int);",
    "2_slow.up.sql": "CREATE TABLE slow_t (id int);\nINSERT INTO slow_t VALUES (1);\n"
    "SELECT pg_sleep(20);",
    "3_after.up.sql": "CREATE TABLE after_t (id int);",
}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_cancels_an_atomic_file_and_restores_the_clean_version(
    tmp_path: Path, empty_database_url: str, signum: signal.Signals
) -> None:
    migrations = write_migrations(tmp_path / "m", SLOW)
    args = ("-path", str(migrations), "-database", empty_database_url, "up")
    with _running(*args) as process:
        asyncio.run(_wait_for_query(empty_database_url, "pg_sleep(20)"))
        sent = time.monotonic()
        process.send_signal(signum)
        code, err = _finish(process)
        assert time.monotonic() - sent < 3  # cancelled, not waited for
    assert code == 1
    lines = err.splitlines()
    assert lines[0].startswith("1/u first (")
    assert lines[1] == (
        f"Received {signum.name}: cancelling 2/u slow "
        "(one transaction: PostgreSQL rolls it back) ..."
    )
    assert lines[2] == (
        f"error: interrupted by {signum.name}: 2/u slow was cancelled and rolled back; "
        "database is clean at version 1"
    )
    assert state(empty_database_url) == (1, False)
    assert tables(empty_database_url) == {"first_t"}
    (migrations / "2_slow.up.sql").write_text("CREATE TABLE slow_t (id int);")
    assert run_cli(*args).returncode == 0
    assert state(empty_database_url) == (3, False)
    assert tables(empty_database_url) == {"first_t", "slow_t", "after_t"}


def test_a_signal_lets_a_non_atomic_file_finish_and_stops_before_the_next(
    tmp_path: Path, empty_database_url: str
) -> None:
    migrations = write_migrations(
        tmp_path / "m",
        {
            "1_own_commit.up.sql": "CREATE TABLE t1 (id int);\nSELECT pg_sleep(1.2);\nCOMMIT;",
            "2_next.up.sql": "CREATE TABLE t2 (id int);",
        },
    )
    with _running("-path", str(migrations), "-database", empty_database_url, "up") as process:
        asyncio.run(_wait_for_query(empty_database_url, "pg_sleep(1.2)"))
        process.send_signal(signal.SIGTERM)
        code, err = _finish(process)
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == (
        "Received SIGTERM: stopping after this running migration "
        "(1/u own_commit is not provably atomic) ..."
    )
    assert lines[1].startswith("1/u own_commit (1.")
    assert lines[2] == (
        "error: interrupted by SIGTERM before 2/u next; database is clean at version 1"
    )
    assert state(empty_database_url) == (1, False)
    assert tables(empty_database_url) == {"t1"}
