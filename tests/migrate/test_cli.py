"""Command line behaviour that is not about migration state: usage, flags, URLs, secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from penvoice import __version__
from tests.migrate.helpers import (
    cli,
    migration_rows,
    query,
    run_cli,
    state,
    tables,
    write_migrations,
)

Capsys = pytest.CaptureFixture[str]


def test_help_documents_every_deliberate_difference(capsys: Capsys) -> None:
    code, err = cli(capsys, "-help")
    assert code == 0
    assert err.startswith("Usage: migrate OPTIONS COMMAND [arg...]")
    for text in (
        "-lock-timeout N",
        "can't acquire database lock",
        "SIGTERM",
        "rolls",
        "down N",
        "never prompts",
        "x-statement-timeout",
        "xxxxxx",
        "force V",
    ):
        assert text in err
    assert cli(capsys, "-h")[0] == 0
    assert cli(capsys, "up", "-help") == (
        0,
        "up [N]       Apply all or N up migrations\n  -help\n    \tPrint help information\n",
    )
    assert cli(capsys, "-version") == (0, f"{__version__}\n")


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        ([], "Usage: migrate OPTIONS COMMAND [arg...]"),
        (["drop"], "Usage: migrate OPTIONS COMMAND [arg...]"),
        (["-path", "/m", "sideways"], "Usage: migrate OPTIONS COMMAND [arg...]"),
        (["-nope", "up"], "flag provided but not defined: -nope"),
        (
            ["-lock-timeout", "soon", "up"],
            'invalid value "soon" for flag -lock-timeout: parse error',
        ),
        (["up", "-x"], "flag provided but not defined: -x"),
    ],
)
def test_bad_command_lines_exit_2_with_usage(
    capsys: Capsys, args: list[str], first_line: str
) -> None:
    code, err = cli(capsys, *args)
    assert code == 2
    assert err.splitlines()[0] == first_line
    assert "Usage" in err


def test_password_is_never_printed(capsys: Capsys, basic: Path, empty_database_url: str) -> None:
    secret = "pa55-w0rd-secret"
    unreachable = f"postgresql://user:{secret}@127.0.0.1:1/app"
    wrong_scheme = f"mysql://user:{secret}@127.0.0.1/app"
    with_password = empty_database_url.replace("postgres@", f"postgres:{secret}@")
    for url, command in ((unreachable, "up"), (wrong_scheme, "up"), (with_password, "goto")):
        code, err = cli(capsys, "-verbose", "-path", str(basic), "-database", url, command, "2")
        assert code == 1
        assert err.strip()
        assert secret not in err
    assert (
        "mysql://user:xxxxxx@127.0.0.1/app"
        in cli(capsys, "-path", str(basic), "-database", wrong_scheme, "up")[1]
    )


def test_flag_styles_source_url_and_x_migrations_table(
    capsys: Capsys, basic: Path, empty_database_url: str
) -> None:
    url = f"{empty_database_url}?x-migrations-table=app_migrations&x-custom=1"
    assert cli(capsys, f"-source=file://{basic}", "--database", url, "up", "1")[0] == 0
    assert migration_rows(empty_database_url, "app_migrations") == [(1, False)]
    assert state(empty_database_url) == (None, False)  # no default table was written
    assert cli(capsys, "-path", str(basic), "-database", url, "-prefetch", "3", "version") == (
        0,
        "1\n",
    )


def test_statement_timeout_fails_the_file_like_golang_migrate(
    capsys: Capsys, tmp_path: Path, empty_database_url: str
) -> None:
    migrations = write_migrations(
        tmp_path / "m", {"1_slow.up.sql": "CREATE TABLE s (id int); SELECT pg_sleep(5);"}
    )
    url = f"{empty_database_url}?x-statement-timeout=200"
    code, err = cli(capsys, "-path", str(migrations), "-database", url, "up")
    assert code == 1
    assert err.startswith("error: migration failed: statement timeout (200ms")
    assert state(empty_database_url) == (1, True)
    assert tables(empty_database_url) == set()


def test_verbose_logs_go_style(capsys: Capsys, basic: Path, empty_database_url: str) -> None:
    code, err = cli(capsys, "-verbose", "-path", str(basic), "-database", empty_database_url, "up")
    assert code == 0
    stamp = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d "
    lines = err.splitlines()
    assert all(re.match(stamp, line) for line in lines)
    assert re.fullmatch(stamp + r"Read and execute 1/u create_a", lines[0])
    assert re.fullmatch(stamp + r"Finished 1/u create_a \(read .+, ran .+\)", lines[1])
    assert re.fullmatch(stamp + r"Finished after .+", lines[-1])


@pytest.mark.slow
def test_python_m_runs_the_cli_and_writes_only_stderr(basic: Path, empty_database_url: str) -> None:
    result = run_cli("-path", str(basic), "-database", empty_database_url, "up", "1")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr.startswith("1/u create_a (")
    version = run_cli("-database", empty_database_url, "version")
    assert (version.returncode, version.stderr) == (0, "1\n")
    rows = query(empty_database_url, "SELECT count(*) FROM schema_migrations")
    assert rows == [(1,)]
