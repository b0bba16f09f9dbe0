"""The `penvoice` command line: help, openapi, and delegation to the migration CLI."""

import json
import subprocess
import sys

import asyncpg
import pytest

from penvoice.schema import SCHEMA_VERSION
from tests.conftest import MIGRATIONS_DIR

pytestmark = pytest.mark.slow


def penvoice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "penvoice.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_and_unknown_commands() -> None:
    assert penvoice("--help").returncode == 0
    assert penvoice().returncode == 2
    unknown = penvoice("launch")
    assert unknown.returncode == 2
    assert "invalid choice" in unknown.stderr


def test_openapi_prints_the_document() -> None:
    result = penvoice("openapi")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert "/v1/me" in document["paths"]
    assert "/readyz" in document["paths"]


@pytest.mark.anyio
async def test_migrate_is_golang_migrate_compatible_through_the_main_cli(
    empty_database_url: str,
) -> None:
    base = ["migrate", "-path", str(MIGRATIONS_DIR), "-database", empty_database_url]
    up = penvoice(*base, "up")
    assert up.returncode == 0, up.stderr
    version = penvoice(*base, "version")
    assert version.returncode == 0
    assert version.stderr.strip() == str(SCHEMA_VERSION)
    conn = await asyncpg.connect(empty_database_url)
    row = await conn.fetchrow("SELECT version, dirty FROM schema_migrations")
    await conn.close()
    assert row is not None
    assert (row["version"], row["dirty"]) == (SCHEMA_VERSION, False)
    assert penvoice(*base, "down").returncode == 2  # never prompts; needs N or -all
