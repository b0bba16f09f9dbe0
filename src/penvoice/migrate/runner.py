"""The migration runner: golang-migrate's semantics, plus a bounded lock wait and safe stops.

Each operation opens one connection, takes golang-migrate's session advisory lock (waiting
at most `lock_timeout` seconds, see `session`), creates `schema_migrations` if needed,
refuses a dirty database, then runs each file with golang-migrate's dirty protocol:
set (target, dirty) -> run the file as one simple query -> set (target, clean). A failing
file leaves (target, dirty) until `force`. `request_stop` never leaves a half-applied file
(see `interrupt`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from penvoice.migrate import session
from penvoice.migrate import state as sql
from penvoice.migrate.atomicity import is_provably_atomic
from penvoice.migrate.dburl import parse_database_url
from penvoice.migrate.errors import (
    DirtyError,
    InvalidVersionError,
    MigrationFailedError,
    MigrationInterrupted,
    NoChange,
    SourceError,
    VersionNotFoundError,
)
from penvoice.migrate.files import MigrationSource
from penvoice.migrate.interrupt import StopControl
from penvoice.migrate.output import Log, go_duration
from penvoice.migrate.plan import Plan, Step, plan_down, plan_goto, plan_up

BOOKKEEPING_ATTEMPTS = 5
Planner = Callable[[MigrationSource, int | None], Plan]


def _clean_at(version: int | None) -> str:
    where = "with no migration applied" if version is None else f"at version {version}"
    return f"database is clean {where}"


class Migrator:
    def __init__(
        self,
        database_url: str,
        migrations_dir: Path,
        *,
        lock_timeout: float = 15.0,
        log: Log | None = None,
        verbose: bool = False,
    ) -> None:
        self._config = parse_database_url(database_url)
        self._dir = Path(migrations_dir)
        self._lock_timeout = max(0.0, lock_timeout)
        self._log: Log = log or (lambda _message: None)
        self._verbose = verbose
        self._stop = StopControl(self._config.connect_dsn, self._log)

    async def up(self, limit: int | None = None) -> None:
        """Apply all (None) or `limit` up migrations."""
        if limit == 0:
            raise NoChange
        await self._migrate(lambda source, current: plan_up(source, current, limit))

    async def down(self, limit: int | None = None) -> None:
        """Apply all (None) or `limit` down migrations. Never prompts."""
        if limit == 0:
            raise NoChange
        await self._migrate(lambda source, current: plan_down(source, current, limit))

    async def goto(self, version: int) -> None:
        if version < 0:
            raise VersionNotFoundError(version)
        await self._migrate(lambda source, current: plan_goto(source, current, version))

    async def force(self, version: int) -> None:
        """Set the version (-1: none) and clear the dirty flag without running any file."""
        if version < -1:
            raise InvalidVersionError
        async with session.locked(self._config, self._lock_timeout, self._stop_reason) as (
            conn,
            table,
        ):
            await sql.set_version(conn, table, None if version == -1 else version, dirty=False)

    async def version(self) -> tuple[int | None, bool]:
        """(version, dirty); version None when no migration is applied. Read-only, no lock."""
        conn = await session.connect(self._config)
        try:
            with session.database_errors():
                table = await sql.resolve_table(conn, self._config.table, self._config.schema)
                state = await sql.read_schema_state(conn, table)
        finally:
            await session.close(conn)
        return state.version, state.dirty

    def request_stop(self, reason: str) -> None:
        """Stop safely, e.g. from a SIGTERM handler on the running event loop."""
        self._stop.request(reason)

    def _stop_reason(self) -> str | None:
        return self._stop.reason

    async def _migrate(self, planner: Planner) -> None:
        source = MigrationSource.load(self._dir)
        async with session.locked(self._config, self._lock_timeout, self._stop_reason) as (
            conn,
            table,
        ):
            state = await sql.read_schema_state(conn, table)
            if state.dirty:
                raise DirtyError(state.version)
            plan = planner(source, state.version)
            current = state.version
            for step in plan.steps:
                if self._stop.reason is not None:
                    raise MigrationInterrupted(
                        f"interrupted by {self._stop.reason} before {step.log_string()}; "
                        f"{_clean_at(current)}"
                    )
                await self._apply(conn, table, step, current)
                current = step.target
            if plan.error is not None:
                raise plan.error

    async def _apply(
        self, conn: asyncpg.Connection, table: sql.TableRef, step: Step, previous: int | None
    ) -> None:
        started = time.monotonic()
        try:
            body = step.file.read() if step.file else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"read {step.log_string()}: {exc}") from exc
        read = time.monotonic()
        await self._bookkeep(lambda: sql.set_version(conn, table, step.target, dirty=True))
        if body.strip():  # like golang-migrate, a whitespace-only file runs nothing
            if self._verbose:
                self._log(f"Read and execute {step.log_string()}")
            await self._run_body(conn, table, step, body, previous)
        await self._bookkeep(lambda: sql.set_version(conn, table, step.target, dirty=False))
        done = time.monotonic()
        if self._verbose:
            self._log(
                f"Finished {step.log_string()} "
                f"(read {go_duration(read - started)}, ran {go_duration(done - read)})"
            )
        else:
            self._log(f"{step.log_string()} ({go_duration(done - started)})")

    async def _run_body(
        self,
        conn: asyncpg.Connection,
        table: sql.TableRef,
        step: Step,
        body: str,
        previous: int | None,
    ) -> None:
        timeout = self._config.statement_timeout
        pid = conn.get_server_pid()
        async with self._stop.body(step, pid, is_provably_atomic(body)) as running:
            try:
                await sql.run_migration_body(conn, body, timeout)
            except asyncpg.QueryCanceledError as exc:
                if not (running.cancel_sent and running.atomic):
                    raise sql.migration_failure(exc, body) from exc
                interrupted = exc
            except asyncpg.PostgresError as exc:
                raise sql.migration_failure(exc, body) from exc
            except TimeoutError as exc:
                raise MigrationFailedError(
                    f"migration failed: statement timeout ({go_duration(timeout or 0)}, "
                    f"x-statement-timeout) in line 0: {body}"
                ) from exc
            else:
                return
        # Cancelled on request: the file ran as one transaction, so none of it is left.
        await self._bookkeep(lambda: sql.set_version(conn, table, previous, dirty=False))
        raise MigrationInterrupted(
            f"interrupted by {self._stop.reason}: {step.log_string()} was cancelled and rolled "
            f"back; {_clean_at(previous)}"
        ) from interrupted

    async def _bookkeep(self, action: Callable[[], Awaitable[None]]) -> None:
        """Update the version, retrying if a cancel sent while stopping (meant for a file that
        had just finished) hit this statement instead."""
        for attempt in range(BOOKKEEPING_ATTEMPTS):
            try:
                await action()
                return
            except asyncpg.QueryCanceledError:
                if self._stop.reason is None or attempt == BOOKKEEPING_ATTEMPTS - 1:
                    raise
