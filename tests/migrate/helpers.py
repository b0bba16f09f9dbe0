"""Helpers for the migrate tests: migration sets on disk, the CLI, direct database reads."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from penvoice.migrate.cli import main
from penvoice.migrate.state import read_schema_state
from tests.conftest import execute_sql

# Versions 1, 3, 4 (a gap), a non-migration file and a directory that must be skipped.
BASIC = {
    "1_create_a.up.sql": "CREATE TABLE a (id int);",
    "1_create_a.down.sql": "DROP TABLE a;",
    "3_create_b.up.sql": "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);",
    "3_create_b.down.sql": "DROP TABLE b;",
    "4_create_c.up.sql": "CREATE TABLE c (id int);",
    "4_create_c.down.sql": "DROP TABLE c;",
    "README.md": "not a migration",
    "5_nope.sql": "SELECT 1/0;",
}


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (directory / name).write_text(body)
    return directory


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the CLI in-process; (exit code, stderr). stdout must stay empty."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    assert captured.out == ""
    return code, captured.err


def cli_process_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "penvoice.migrate", *args]


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_process_args(*args), capture_output=True, text=True, timeout=timeout, check=False
    )


async def _fetch(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return asyncio.run(_fetch(url, sql, *args))


execute = execute_sql


async def _state(url: str) -> tuple[int | None, bool]:
    conn = await asyncpg.connect(url)
    try:
        state = await read_schema_state(conn)
    finally:
        await conn.close()
    return state.version, state.dirty


def state(url: str) -> tuple[int | None, bool]:
    return asyncio.run(_state(url))


def tables(url: str) -> set[str]:
    rows = query(
        url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    return {str(row[0]) for row in rows} - {"schema_migrations"}


def migration_rows(url: str, table: str = "schema_migrations") -> list[tuple[Any, ...]]:
    return query(url, f'SELECT version, dirty FROM "{table}"')
