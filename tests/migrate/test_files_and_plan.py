"""The migrations directory (golang-migrate's file source) and which files each command runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from penvoice.migrate.errors import (
    DuplicateMigrationError,
    FileNotExistError,
    NoChange,
    ShortLimitError,
    SourceError,
    VersionNotFoundError,
)
from penvoice.migrate.files import (
    MigrationSource,
    latest_version,
    parse_file_name,
    source_directory,
)
from penvoice.migrate.plan import Plan, plan_down, plan_goto, plan_up
from tests.migrate.helpers import BASIC, write_migrations


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("000001_init.up.sql", (1, "init", "up")),
        ("20240102030405_add_x.down.sql", (20240102030405, "add_x", "down")),
        ("2_.up.sql", (2, "", "up")),
        ("3_a.up.down.txt", (3, "a.up", "down")),
        ("4_any.up.", (4, "any", "up")),  # the extension may be empty
        ("5_noext.up", None),
        ("x_bad.up.sql", None),
        ("_1.up.sql", None),
        ("6_name.sideways.sql", None),
        ("7_a.up.sql\n", None),
        (f"{2**64}_too_big.up.sql", None),
        (f"{2**64 - 1}_max.up.sql", (2**64 - 1, "max", "up")),
    ],
)
def test_file_names_follow_golang_migrate_regex(
    name: str, expected: tuple[int, str, str] | None
) -> None:
    assert parse_file_name(name) == expected


def test_source_skips_other_files_and_directories(tmp_path: Path) -> None:
    directory = write_migrations(tmp_path / "m", {**BASIC, "6_only_down.down.sql": "SELECT 1;"})
    (directory / "7_dir.up.sql").mkdir()
    source = MigrationSource.load(directory)
    assert source.versions == (1, 3, 4, 6)
    assert sorted(source.up) == [1, 3, 4]
    assert sorted(source.down) == [1, 3, 4, 6]
    assert source.up[3].identifier == "create_b"
    assert (source.first(), source.next(1), source.next(6), source.next(2)) == (1, 3, None, None)
    assert (source.prev(3), source.prev(1), source.prev(2)) == (1, None, None)


def test_duplicate_version_and_direction_is_an_error(tmp_path: Path) -> None:
    directory = write_migrations(
        tmp_path / "m", {"1_a.up.sql": "", "01_b.up.sql": "", "1_a.down.sql": ""}
    )
    with pytest.raises(DuplicateMigrationError, match=r"^duplicate migration file: 1_a.up.sql$"):
        MigrationSource.load(directory)


def test_missing_directory_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or directory"):
        MigrationSource.load(tmp_path / "absent")


def test_latest_version_is_the_highest_up_migration(tmp_path: Path) -> None:
    directory = write_migrations(tmp_path / "m", {**BASIC, "9_gone.down.sql": "SELECT 1;"})
    assert latest_version(directory) == 4
    with pytest.raises(SourceError):
        latest_version(write_migrations(tmp_path / "empty", {"9_x.down.sql": ""}))


def test_source_urls_resolve_like_golang_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert source_directory(f"file://{tmp_path}/m") == tmp_path / "m"
    assert source_directory("file://./rel") == tmp_path / "rel"
    assert source_directory("file://rel") == tmp_path / "rel"
    with pytest.raises(SourceError, match="unsupported source driver"):
        source_directory("github://owner/repo")
    with pytest.raises(SourceError, match="-path"):
        source_directory("")


@pytest.fixture
def source(tmp_path: Path) -> MigrationSource:
    return MigrationSource.load(write_migrations(tmp_path / "m", BASIC))


def _moves(plan: Plan) -> list[tuple[int, int | None]]:
    return [(step.version, step.target) for step in plan.steps]


def test_plan_up(source: MigrationSource) -> None:
    assert _moves(plan_up(source, None, None)) == [(1, 1), (3, 3), (4, 4)]
    assert _moves(plan_up(source, 1, 1)) == [(3, 3)]
    assert [s.log_string() for s in plan_up(source, 3, None).steps] == ["4/u create_c"]
    with pytest.raises(NoChange):
        plan_up(source, 4, None)
    with pytest.raises(FileNotExistError, match=r"^file does not exist$"):
        plan_up(source, 4, 1)
    short = plan_up(source, 3, 3)
    assert _moves(short) == [(4, 4)]
    assert isinstance(short.error, ShortLimitError)
    assert str(short.error) == "limit 2 short"


def test_plan_down(source: MigrationSource) -> None:
    assert _moves(plan_down(source, 4, None)) == [(4, 3), (3, 1), (1, None)]
    assert [s.log_string() for s in plan_down(source, 4, 1).steps] == ["4/d create_c"]
    with pytest.raises(NoChange):
        plan_down(source, None, None)
    with pytest.raises(FileNotExistError):
        plan_down(source, None, 1)
    short = plan_down(source, 3, 5)
    assert _moves(short) == [(3, 1), (1, None)]
    assert str(short.error) == "limit 3 short"


def test_plan_goto(source: MigrationSource) -> None:
    assert _moves(plan_goto(source, None, 3)) == [(1, 1), (3, 3)]
    assert _moves(plan_goto(source, 4, 1)) == [(4, 3), (3, 1)]
    with pytest.raises(NoChange):
        plan_goto(source, 3, 3)
    with pytest.raises(VersionNotFoundError, match=r"^no migration found for version 2$"):
        plan_goto(source, 1, 2)


def test_a_database_ahead_of_the_files_is_refused(source: MigrationSource) -> None:
    for plan in (plan_up, plan_down):
        with pytest.raises(VersionNotFoundError, match="version 7"):
            plan(source, 7, None)


def test_a_version_without_a_file_moves_with_an_empty_step(tmp_path: Path) -> None:
    source = MigrationSource.load(
        write_migrations(tmp_path / "m", {"1_a.up.sql": "SELECT 1;", "2_b.down.sql": "SELECT 1;"})
    )
    step = plan_up(source, 1, None).steps[0]
    assert (step.version, step.target, step.file) == (2, 2, None)
    assert step.log_string() == "2/u <empty>"
    assert [s.log_string() for s in plan_down(source, 2, None).steps] == ["2/d b", "1/d <empty>"]
