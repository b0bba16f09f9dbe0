"""Every SQL statement of the runner, golang-migrate's PostgreSQL driver statement for statement.

`schema_migrations (version bigint not null primary key, dirty boolean not null)` in the
current schema holds at most one row: setting a version is TRUNCATE + INSERT in one
transaction, the nil version is the empty table (or `-1` while a down to nil is dirty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from penvoice.migrate.dburl import DEFAULT_TABLE
from penvoice.migrate.errors import DatabaseError, MigrationFailedError

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # The app's readiness check reads the state through a pooled connection.
    AnyConnection = asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]

NIL_VERSION = -1


@dataclass(frozen=True)
class SchemaState:
    version: int | None  # None: no migration applied (empty or missing table)
    dirty: bool


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


def quote_ident(name: str) -> str:
    """pq.QuoteIdentifier: cut at the first NUL, double the quotes, wrap in quotes."""
    name = name.split("\x00", 1)[0]
    return '"' + name.replace('"', '""') + '"'


async def current_schema(conn: AnyConnection) -> str | None:
    schema: str | None = await conn.fetchval("SELECT CURRENT_SCHEMA()")
    return schema


async def current_database(conn: asyncpg.Connection) -> str:
    name: str = await conn.fetchval("SELECT CURRENT_DATABASE()")
    return name


async def resolve_table(conn: asyncpg.Connection, name: str, schema: str | None) -> TableRef:
    if schema is None:
        schema = await current_schema(conn)
        if schema is None:
            raise DatabaseError("no schema")
    return TableRef(schema, name)


async def read_schema_state(conn: AnyConnection, table: TableRef | None = None) -> SchemaState:
    """The applied version and dirty flag; version None when the table is missing or empty."""
    if table is None:
        schema = await current_schema(conn)
        if schema is None:
            return SchemaState(None, False)
        table = TableRef(schema, DEFAULT_TABLE)
    try:
        row = await conn.fetchrow(
            f"SELECT version, dirty FROM {table.qualified} LIMIT 1"  # noqa: S608 - quoted identifier
        )
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        return SchemaState(None, False)
    if row is None:
        return SchemaState(None, False)
    version = int(row["version"])
    return SchemaState(None if version == NIL_VERSION else version, bool(row["dirty"]))


async def ensure_table(conn: asyncpg.Connection, table: TableRef) -> None:
    exists = await conn.fetchval(
        "SELECT COUNT(1) FROM information_schema.tables "
        "WHERE table_schema = $1 AND table_name = $2 LIMIT 1",
        table.schema,
        table.name,
    )
    if exists == 1:
        return
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {table.qualified} "
        "(version bigint not null primary key, dirty boolean not null)"
    )


async def set_version(
    conn: asyncpg.Connection, table: TableRef, version: int | None, dirty: bool
) -> None:
    async with conn.transaction():
        await conn.execute(f"TRUNCATE {table.qualified}")
        if version is not None or dirty:
            await conn.execute(
                f"INSERT INTO {table.qualified} (version, dirty) VALUES ($1, $2)",  # noqa: S608
                NIL_VERSION if version is None else version,
                dirty,
            )


async def try_advisory_lock(conn: asyncpg.Connection, key: int) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def advisory_unlock(conn: asyncpg.Connection, key: int) -> None:
    await conn.fetchval("SELECT pg_advisory_unlock($1)", key)


async def cancel_backend(conn: asyncpg.Connection, pid: int) -> None:
    await conn.fetchval("SELECT pg_cancel_backend($1)", pid)


async def run_migration_body(conn: asyncpg.Connection, body: str, timeout: float | None) -> None:
    """The whole file as ONE simple-query message: PostgreSQL runs a multi-statement body
    in one implicit transaction, as with golang-migrate's single Exec."""
    await conn.execute(body, timeout=timeout)


def migration_failure(exc: asyncpg.PostgresError, body: str) -> MigrationFailedError:
    """golang-migrate's wording:
    `migration failed: MSG (column C), DETAIL in line L: SQL (details: ...)`."""
    message = f"migration failed: {exc.args[0] if exc.args else exc}"
    line = 0
    position = getattr(exc, "position", None)
    if position and str(position).isdigit():
        line, column = _line_and_column(body, int(position))
        if line:
            message += f" (column {column})"
    detail = getattr(exc, "detail", None)
    if detail:
        message += f", {detail}"
    sqlstate = getattr(exc, "sqlstate", "?")
    return MigrationFailedError(
        f"{message} in line {line}: {body} (details: ERROR: {exc} (SQLSTATE {sqlstate}))"
    )


def _line_and_column(body: str, position: int) -> tuple[int, int]:
    text = body.replace("\r\n", "\n")
    if position > len(text):
        return 0, 0
    before = text[:position]
    return before.count("\n") + 1, position - 1 - before.rfind("\n")
