"""One connection holding golang-migrate's advisory lock, with a bounded wait for it.

golang-migrate blocks in `pg_advisory_lock` (its `-lock-timeout` does not cover the lock
taken while opening the database and never cancels the wait). Here the lock is polled with
`pg_try_advisory_lock`, so `lock_timeout` is a real bound and a stop request ends the wait.
The key is golang-migrate's (schema, table, URL path incl. the slash), so both tools
exclude each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg

from penvoice.migrate import state as sql
from penvoice.migrate.dburl import DatabaseConfig, advisory_lock_key
from penvoice.migrate.errors import DatabaseError, LockTimeoutError, MigrationInterrupted

LOCK_POLL_SECONDS = 0.1
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ValueError)


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """Report driver and network errors as DatabaseError (the CLI prints `error: ...`)."""
    try:
        yield
    except DB_ERRORS as exc:
        raise DatabaseError(str(exc) or type(exc).__name__) from exc


async def connect(config: DatabaseConfig) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(config.connect_dsn)
    except DB_ERRORS as exc:
        raise DatabaseError(f"failed to open database: {exc}") from exc


async def close(conn: asyncpg.Connection) -> None:
    try:
        await conn.close(timeout=5)
    except DB_ERRORS:
        conn.terminate()


async def lock_key(conn: asyncpg.Connection, config: DatabaseConfig, table: sql.TableRef) -> int:
    name = config.database_name or await sql.current_database(conn)
    return advisory_lock_key(name, table.schema, table.name)


async def acquire(
    conn: asyncpg.Connection, key: int, timeout: float, stop_reason: Callable[[], str | None]
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        reason = stop_reason()
        if reason is not None:
            raise MigrationInterrupted(
                f"interrupted by {reason} while waiting for the database lock; nothing was changed"
            )
        if await sql.try_advisory_lock(conn, key):
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeoutError
        await asyncio.sleep(min(LOCK_POLL_SECONDS, remaining))


@contextlib.asynccontextmanager
async def locked(
    config: DatabaseConfig, timeout: float, stop_reason: Callable[[], str | None]
) -> AsyncIterator[tuple[asyncpg.Connection, sql.TableRef]]:
    """A connection holding the lock, with the migrations table created if missing."""
    conn = await connect(config)
    try:
        with database_errors():
            table = await sql.resolve_table(conn, config.table, config.schema)
            key = await lock_key(conn, config, table)
            await acquire(conn, key, timeout, stop_reason)
        try:
            with database_errors():
                await sql.ensure_table(conn, table)
                yield conn, table
        finally:
            with contextlib.suppress(*DB_ERRORS):
                await sql.advisory_unlock(conn, key)
    finally:
        await close(conn)
