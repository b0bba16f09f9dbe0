"""The connection pool and the request's transaction.

The request edge owns the transaction: `Transaction` gives a handler one connection inside
one transaction, committed when the handler returns (before the response is sent) and
rolled back on any error. Services and repositories never commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated

import asyncpg
from fastapi import Depends, Request
from starlette.responses import Response

from penvoice.config import Settings, WorkerSettings
from penvoice.errors import ServiceUnavailable, ValidationFailed, problem_response

log = logging.getLogger("penvoice.db")

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:  # asyncpg's classes are generic only in its type stubs
    Connection = asyncpg.Connection

DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,  # 57P01: the server is stopping (a CNPG switchover)
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    ConnectionError,
    OSError,
)
# What a background task or probe may meet when it asks for a connection.
NO_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    *DATABASE_UNAVAILABLE_ERRORS,
    asyncpg.InternalClientError,  # a pooled session the server ended a moment ago
    ServiceUnavailable,
)
# What releasing a connection that broke mid-request may raise (its reset fails), e.g.
# InternalClientError "cannot switch to state 15; another operation is in progress".
RELEASE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.InternalClientError,
    asyncpg.InterfaceError,
    asyncpg.PostgresError,
    OSError,
    TimeoutError,
)
RETRY_AFTER_SECONDS = "1"


class Database:
    def __init__(
        self, settings: Settings | WorkerSettings, application_name: str = "penvoice-api"
    ) -> None:
        self._settings = settings
        self._application_name = application_name
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None

    async def open(self) -> None:
        """Create the pool lazily: the app starts (unready) even while the database is down."""
        self._pool = await asyncpg.create_pool(
            self._settings.db_url.get_secret_value(),
            min_size=0,
            max_size=self._settings.db_pool_max_size,
            max_inactive_connection_lifetime=300,
            timeout=self._settings.db_pool_timeout_seconds,
            reset=_keep_session,
            server_settings={
                "application_name": self._application_name,
                "TimeZone": "UTC",  # `current_date` (overdue) agrees with the API's UTC dates
                "statement_timeout": str(self._settings.db_statement_timeout_ms),
                "idle_in_transaction_session_timeout": str(
                    self._settings.db_idle_in_transaction_timeout_ms
                ),
            },
        )

    async def close(self, timeout: float) -> None:
        if self._pool is None:
            return
        try:
            await asyncio.wait_for(self._pool.close(), timeout)
        except TimeoutError:
            log.warning("database pool did not close in %.1fs; terminating", timeout)
            self._pool.terminate()

    def pool_state(self) -> tuple[int, int, int] | None:
        """(open connections, idle connections, max size) for the metrics."""
        if self._pool is None:
            return None
        return (self._pool.get_size(), self._pool.get_idle_size(), self._pool.get_max_size())

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Connection]:
        """A pooled connection; waiting for it is bounded and ends in a 503."""
        if self._pool is None:
            raise ServiceUnavailable("The database pool is not open.")
        wait = timeout if timeout is not None else self._settings.db_pool_timeout_seconds
        try:
            conn = await self._pool.acquire(timeout=wait)
        except TimeoutError:
            raise ServiceUnavailable(
                "No database connection became free in time; retry shortly.",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            ) from None
        try:
            yield conn
        finally:
            try:
                await self._pool.release(conn)
            except RELEASE_ERRORS as exc:
                # A connection that broke mid-request cannot be reset; asyncpg has terminated
                # it and the pool opens a new one when needed. The request's own outcome (its
                # commit, or the error that broke it and becomes a 503) stands.
                log.warning("database connection dropped on release: %s", type(exc).__name__)


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """What the pool does to a connection handed back: nothing, when its transaction ended.

    Everything a request sets is transaction-scoped (`set_config(…, true)` for the tenant,
    `pg_try_advisory_xact_lock` for idempotency keys, cursors inside the transaction), and
    `request_transaction` commits or rolls back before the connection is released. asyncpg's
    default reset (`RESET ALL`, `UNLISTEN *`, `CLOSE ALL`, advisory unlock) would cost one
    more round trip per request to clear state that cannot exist. A connection released
    inside a transaction (a bug, or a cancelled request) still gets the full reset."""
    if conn.is_in_transaction():
        await conn.reset()


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


@asynccontextmanager
async def request_transaction(database: Database) -> AsyncIterator[Connection]:
    """The request's transaction: committed when the block ends (before the response is
    sent, so a failed commit is an error response rather than a lost write), rolled back
    on any error."""
    async with database.connection() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            yield conn
        except asyncpg.InternalClientError as exc:
            if await _roll_back(conn, transaction):
                raise  # the connection works: a real misuse of it, a bug, so a 500
            # The server ended the session between two of the handler's statements (a fatal
            # 57P01 arrived while the connection was idle), so asyncpg refused the next one.
            log.warning("database unavailable: session ended mid-request (%s)", exc)
            raise _session_ended("The database ended the session mid-request.") from exc
        except BaseException:
            await _roll_back(conn, transaction)
            raise
        await _commit(conn, transaction)


async def transaction_dependency(request: Request) -> AsyncIterator[Connection]:
    """The declaration of `Transaction`; the edge (`penvoice.web`) opens it itself."""
    async with request_transaction(database_of(request)) as conn:
        yield conn


def _session_ended(what: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"{what} Nothing was saved; retry shortly.",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _discard(conn: Connection) -> None:
    """Close a connection whose session ended, so the pool drops it instead of resetting it.
    If asyncpg already saw the socket close, the pool has taken it back: nothing to do."""
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


async def _commit(conn: Connection, transaction: asyncpg.transaction.Transaction) -> None:
    try:
        await transaction.commit()
    except asyncpg.InternalClientError as exc:
        _discard(conn)
        # The server ended the session after the handler's last query (a fatal 57P01 from a
        # stopping server arrived while the connection was idle), so asyncpg refused to send
        # COMMIT at all: nothing was saved, and the database, not the request, is at fault.
        log.warning("database unavailable: session ended before commit (%s)", exc)
        raise _session_ended("The database ended the session before the commit.") from exc


async def _roll_back(conn: Connection, transaction: asyncpg.transaction.Transaction) -> bool:
    """Roll back after the handler failed; the handler's own error is what the client sees.
    False when the session had already ended.

    A rollback that fails (the session already ended) has nothing left to undo: a transaction
    never outlives its session, and the pool discards the broken connection on release.
    """
    try:
        await transaction.rollback()
    except RELEASE_ERRORS as exc:
        _discard(conn)
        log.warning("database rollback failed, session gone: %s", type(exc).__name__)
        return False
    return True


async def connection_dependency(request: Request) -> AsyncIterator[Connection]:
    """The declaration of `PooledConnection`: a pooled connection with no transaction open,
    for reads answered in one statement (its own transaction); the edge provides it."""
    async with database_of(request).connection() as conn:
        yield conn


PooledConnection = Annotated[Connection, Depends(connection_dependency, scope="function")]

# scope="function": the transaction ends when the handler returns, before the response
# is sent, so a failed commit becomes an error response rather than a lost write.
Transaction = Annotated[Connection, Depends(transaction_dependency, scope="function")]


def database_unavailable(exc: Exception) -> Response:
    """The answer when the database cannot be reached: 503 with `Retry-After`."""
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem_response(
        503,
        ServiceUnavailable.slug,
        ServiceUnavailable.title,
        "The database is not reachable right now; retry shortly.",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


# Text PostgreSQL cannot store (NUL) that reached a query through a path or query parameter;
# bodies are checked before (`fields.Strict`). Bad input, so a 422, not a 500.
UNSTORABLE_TEXT_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
)


def unstorable_text(exc: Exception) -> Response:
    """Text the database refuses (NUL) in a path or query parameter: a 422, not a 500."""
    log.info("input refused by the database: %s", type(exc).__name__)
    return ValidationFailed(
        "Invalid input: a value holds a character that cannot be stored (NUL, U+0000).",
        extra={"errors": [{"field": "request", "message": "contains NUL", "type": "value_error"}]},
    ).response()
