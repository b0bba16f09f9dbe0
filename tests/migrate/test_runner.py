"""The Python interface the rest of the code uses, and the repository's real migrations."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from penvoice.migrate import state as state_sql
from penvoice.migrate.dburl import advisory_lock_key
from penvoice.migrate.errors import (
    DirtyError,
    LockTimeoutError,
    MigrateError,
    MigrationFailedError,
    MigrationInterrupted,
    NoChange,
)
from penvoice.migrate.files import latest_version
from penvoice.migrate.runner import Migrator
from tests.conftest import MIGRATIONS_DIR
from tests.migrate.helpers import BASIC, state, tables, write_migrations


def test_migrator_interface(tmp_path: Path, empty_database_url: str) -> None:
    migrations = write_migrations(tmp_path / "m", BASIC)
    migrator = Migrator(empty_database_url, migrations, lock_timeout=2)
    assert asyncio.run(migrator.version()) == (None, False)
    asyncio.run(migrator.up(2))
    assert asyncio.run(migrator.version()) == (3, False)
    with pytest.raises(NoChange):
        asyncio.run(migrator.goto(3))
    asyncio.run(migrator.up())
    asyncio.run(migrator.down(1))
    assert asyncio.run(migrator.version()) == (3, False)
    asyncio.run(migrator.force(-1))
    assert asyncio.run(migrator.version()) == (None, False)
    asyncio.run(migrator.force(3))
    asyncio.run(migrator.down())
    assert asyncio.run(migrator.version()) == (None, False)
    assert issubclass(NoChange, MigrateError)


def test_dirty_database_raises(tmp_path: Path, empty_database_url: str) -> None:
    migrations = write_migrations(tmp_path / "m", {"1_bad.up.sql": "SELECT 1/0;"})
    migrator = Migrator(empty_database_url, migrations)
    with pytest.raises(MigrationFailedError, match="division by zero"):
        asyncio.run(migrator.up())
    with pytest.raises(DirtyError) as caught:
        asyncio.run(migrator.up())
    assert caught.value.version == 1
    assert asyncio.run(migrator.version()) == (1, True)


def test_lock_wait_is_bounded_in_process(tmp_path: Path, empty_database_url: str) -> None:
    migrations = write_migrations(tmp_path / "m", BASIC)
    database = "/" + empty_database_url.rsplit("/", 1)[1]

    async def scenario() -> float:
        holder = await asyncpg.connect(empty_database_url)
        try:
            key = advisory_lock_key(database, "public", "schema_migrations")
            await holder.execute(f"SELECT pg_advisory_lock({key})")
            started = asyncio.get_running_loop().time()
            with pytest.raises(LockTimeoutError, match=r"^timeout: can't acquire database lock$"):
                await Migrator(empty_database_url, migrations, lock_timeout=0.3).up()
            return asyncio.get_running_loop().time() - started
        finally:
            await holder.close()

    assert 0.3 <= asyncio.run(scenario()) < 2
    assert state(empty_database_url) == (None, False)


def test_repository_migrations_go_up_down_and_up_again(empty_database_url: str) -> None:
    latest = latest_version(MIGRATIONS_DIR)
    migrator = Migrator(empty_database_url, MIGRATIONS_DIR)
    asyncio.run(migrator.up())
    assert state(empty_database_url) == (latest, False)
    created = tables(empty_database_url)
    assert {"organisations", "memberships"} <= created
    asyncio.run(migrator.down())
    assert state(empty_database_url) == (None, False)
    assert tables(empty_database_url) == set()
    asyncio.run(migrator.up())
    assert state(empty_database_url) == (latest, False)
    assert tables(empty_database_url) == created


def test_a_stop_just_before_an_atomic_file_starts_still_cancels_it(
    tmp_path: Path, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = write_migrations(
        tmp_path / "m",
        {
            "1_a.up.sql": "CREATE TABLE a ();",
            "2_slow.up.sql": "CREATE TABLE b (); SELECT pg_sleep(20);",
        },
    )
    messages: list[str] = []
    migrator = Migrator(empty_database_url, migrations, log=messages.append)
    set_version = state_sql.set_version

    async def stop_once_marked_dirty(
        conn: asyncpg.Connection, table: state_sql.TableRef, version: int | None, dirty: bool
    ) -> None:
        await set_version(conn, table, version, dirty)
        if (version, dirty) == (2, True):
            migrator.request_stop("TEST")

    monkeypatch.setattr(state_sql, "set_version", stop_once_marked_dirty)
    started = time.monotonic()
    with pytest.raises(MigrationInterrupted, match="2/u slow was cancelled and rolled back"):
        asyncio.run(migrator.up())
    assert time.monotonic() - started < 5
    assert messages[1] == "Received TEST: stopping before the next migration ..."
    assert state(empty_database_url) == (1, False)
    assert tables(empty_database_url) == {"a"}
