"""Commands against a real PostgreSQL through the in-process CLI: state, messages, exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.migrate.helpers import (
    cli,
    execute,
    migration_rows,
    query,
    state,
    tables,
    write_migrations,
)

Capsys = pytest.CaptureFixture[str]


def test_up_applies_everything_then_reports_no_change(
    capsys: Capsys, basic: Path, empty_database_url: str
) -> None:
    code, err = cli(capsys, "-path", str(basic), "-database", empty_database_url, "up")
    assert code == 0
    lines = err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "1/u create_a",
        "3/u create_b",
        "4/u create_c",
    ]
    assert all(re.fullmatch(r".+ \([0-9.]+(ns|µs|ms|s)\)", line) for line in lines)
    assert state(empty_database_url) == (4, False)
    assert tables(empty_database_url) == {"a", "b", "c"}
    assert migration_rows(empty_database_url) == [(4, False)]
    assert cli(capsys, "-path", str(basic), "-database", empty_database_url, "up") == (
        0,
        "no change\n",
    )
    assert cli(capsys, "-path", str(basic), "-database", empty_database_url, "up", "1") == (
        1,
        "error: file does not exist\n",
    )


def test_up_n_and_a_short_limit(capsys: Capsys, basic: Path, empty_database_url: str) -> None:
    args = ("-path", str(basic), "-database", empty_database_url)
    assert cli(capsys, *args, "up", "2")[0] == 0
    assert state(empty_database_url) == (3, False)
    assert tables(empty_database_url) == {"a", "b"}
    code, err = cli(capsys, *args, "up", "5")
    assert (code, err.splitlines()[-1]) == (1, "error: limit 4 short")
    assert state(empty_database_url) == (4, False)
    assert cli(capsys, *args, "up", "0") == (0, "no change\n")
    assert cli(capsys, *args, "up", "two") == (1, "error: can't read limit argument N\n")


def test_down_n_down_all_and_the_refused_prompt(
    capsys: Capsys, basic: Path, empty_database_url: str
) -> None:
    args = ("-path", str(basic), "-database", empty_database_url)
    assert cli(capsys, *args, "up")[0] == 0
    code, err = cli(capsys, *args, "down")
    assert code == 2
    assert "down N" in err
    assert "-all" in err
    assert "prompt" in err
    assert state(empty_database_url) == (4, False)
    assert cli(capsys, *args, "down", "-all", "2") == (
        1,
        "error: -all cannot be used with other arguments\n",
    )
    assert cli(capsys, *args, "down", "1", "2") == (1, "error: too many arguments\n")
    code, err = cli(capsys, *args, "down", "1")
    assert (code, err.split(" (")[0]) == (0, "4/d create_c")
    assert state(empty_database_url) == (3, False)
    code, err = cli(capsys, *args, "down", "-all")
    assert code == 0
    assert [line.split(" (")[0] for line in err.splitlines()] == ["3/d create_b", "1/d create_a"]
    assert state(empty_database_url) == (None, False)
    assert migration_rows(empty_database_url) == []
    assert tables(empty_database_url) == set()
    assert cli(capsys, *args, "down", "-all") == (0, "no change\n")
    assert cli(capsys, *args, "down", "1") == (1, "error: file does not exist\n")


def test_goto(capsys: Capsys, basic: Path, empty_database_url: str) -> None:
    args = ("-path", str(basic), "-database", empty_database_url)
    assert cli(capsys, *args, "goto", "3")[0] == 0
    assert (state(empty_database_url), tables(empty_database_url)) == ((3, False), {"a", "b"})
    assert cli(capsys, *args, "goto", "4")[0] == 0
    assert cli(capsys, *args, "goto", "1")[0] == 0
    assert (state(empty_database_url), tables(empty_database_url)) == ((1, False), {"a"})
    assert cli(capsys, *args, "goto", "1") == (0, "no change\n")
    assert cli(capsys, *args, "goto", "2") == (1, "error: no migration found for version 2\n")
    assert cli(capsys, *args, "goto") == (1, "error: please specify version argument V\n")
    assert cli(capsys, *args, "goto", "-1") == (1, "error: can't read version argument V\n")
    assert state(empty_database_url) == (1, False)


def test_version_and_force(capsys: Capsys, basic: Path, empty_database_url: str) -> None:
    args = ("-path", str(basic), "-database", empty_database_url)
    assert cli(capsys, "-database", empty_database_url, "version") == (
        1,
        "error: no migration\n",
    )
    assert tables(empty_database_url) == set()
    assert cli(capsys, *args, "up", "1")[0] == 0
    assert cli(capsys, *args, "version") == (0, "1\n")
    assert cli(capsys, *args, "force", "3") == (0, "")
    assert state(empty_database_url) == (3, False)
    assert tables(empty_database_url) == {"a"}  # force runs no SQL
    assert cli(capsys, *args, "up")[0] == 0
    assert tables(empty_database_url) == {"a", "c"}
    assert cli(capsys, *args, "force", "-1") == (0, "")
    assert migration_rows(empty_database_url) == []
    assert cli(capsys, *args, "force", "-2") == (1, "error: argument V must be >= -1\n")
    assert cli(capsys, *args, "force") == (1, "error: please specify version argument V\n")
    assert cli(capsys, *args, "force", "x") == (1, "error: can't read version argument V\n")


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    return write_migrations(
        tmp_path / "migrations",
        {
            "1_a.up.sql": "CREATE TABLE a (id int);",
            "1_a.down.sql": "DROP TABLE a;",
            "2_broken.up.sql": "CREATE TABLE x (id int);\nSELECT * FROM  missing_table;",
            "2_broken.down.sql": "DROP TABLE x;",
        },
    )


def test_a_failing_migration_leaves_dirty_until_forced(
    capsys: Capsys, failing: Path, empty_database_url: str
) -> None:
    args = ("-path", str(failing), "-database", empty_database_url)
    code, err = cli(capsys, *args, "up")
    assert code == 1
    assert err.splitlines()[0].startswith("1/u a (")
    assert err.splitlines()[1].startswith(
        'error: migration failed: relation "missing_table" does not exist (column 16) '
        "in line 2: CREATE TABLE x (id int);"
    )
    assert state(empty_database_url) == (2, True)
    assert tables(empty_database_url) == {"a"}  # the file ran as one transaction
    dirty = "error: Dirty database version 2. Fix and force version.\n"
    for command in (["up"], ["down", "1"], ["down", "-all"], ["goto", "1"], ["up", "1"]):
        assert cli(capsys, *args, *command) == (1, dirty)
    assert cli(capsys, *args, "version") == (0, "2 (dirty)\n")
    assert state(empty_database_url) == (2, True)
    (failing / "2_broken.up.sql").write_text("CREATE TABLE x (id int);")
    assert cli(capsys, *args, "force", "1") == (0, "")
    assert cli(capsys, *args, "up")[0] == 0
    assert (state(empty_database_url), tables(empty_database_url)) == ((2, False), {"a", "x"})


def test_a_dirty_nil_version_written_by_golang_migrate_is_refused(
    capsys: Capsys, basic: Path, empty_database_url: str
) -> None:
    execute(
        empty_database_url,
        "CREATE TABLE schema_migrations (version bigint not null primary key, "
        "dirty boolean not null); INSERT INTO schema_migrations VALUES (-1, true);",
    )
    args = ("-path", str(basic), "-database", empty_database_url)
    assert cli(capsys, *args, "up") == (
        1,
        "error: Dirty database version -1. Fix and force version.\n",
    )
    assert cli(capsys, *args, "version") == (1, "error: no migration\n")
    assert state(empty_database_url) == (None, True)


def test_continues_from_state_written_by_golang_migrate(
    capsys: Capsys, basic: Path, empty_database_url: str
) -> None:
    execute(
        empty_database_url,
        "CREATE TABLE a (id int); CREATE TABLE b (id int); "
        'CREATE TABLE IF NOT EXISTS "public"."schema_migrations" '
        "(version bigint not null primary key, dirty boolean not null); "
        "INSERT INTO schema_migrations (version, dirty) VALUES (3, false);",
    )
    code, err = cli(capsys, "-path", str(basic), "-database", empty_database_url, "up")
    assert (code, err.split(" (")[0]) == (0, "4/u create_c")
    assert state(empty_database_url) == (4, False)


def test_schema_migrations_has_golang_migrates_shape(
    capsys: Capsys, basic: Path, empty_database_url: str
) -> None:
    assert cli(capsys, "-path", str(basic), "-database", empty_database_url, "up", "2")[0] == 0
    columns = query(
        empty_database_url,
        "SELECT column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'schema_migrations' ORDER BY ordinal_position",
    )
    assert columns == [("version", "bigint", "NO", None), ("dirty", "boolean", "NO", None)]
    key_columns = query(
        empty_database_url,
        "SELECT kcu.column_name FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) "
        "WHERE tc.table_name = 'schema_migrations' AND tc.constraint_type = 'PRIMARY KEY'",
    )
    assert key_columns == [("version",)]
    assert migration_rows(empty_database_url) == [(3, False)]
