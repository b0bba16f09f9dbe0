"""Pure pieces: the advisory lock key, the database URL, Go flag parsing, output, atomicity."""

from __future__ import annotations

import pytest

from penvoice.migrate.atomicity import is_provably_atomic, top_level_text
from penvoice.migrate.dburl import advisory_lock_key, mask_url, parse_database_url, redact
from penvoice.migrate.errors import DatabaseError, DirtyError
from penvoice.migrate.flags import FlagError, FlagKind, HelpRequested, parse_flags
from penvoice.migrate.output import go_duration


@pytest.mark.parametrize(
    ("database_name", "names", "expected"),
    [
        # golang-migrate database/util_test.go vectors.
        ("database_name", (), 1764327054),
        ("database_name", ("schema_name_1",), 2453313553),
        # What golang-migrate computes for a CNPG URI ending in /app: the path keeps its slash.
        ("/app", ("public", "schema_migrations"), 1726534663),
    ],
)
def test_advisory_lock_key_matches_golang_migrate(
    database_name: str, names: tuple[str, ...], expected: int
) -> None:
    assert advisory_lock_key(database_name, *names) == expected


def test_database_name_keeps_the_leading_slash_and_x_params_are_stripped() -> None:
    config = parse_database_url(
        "postgresql://app:pw@db-rw.ns:5432/app?sslmode=disable&x-migrations-table=mig"
        "&x-statement-timeout=1500&x-no-lock=true"
    )
    assert config.database_name == "/app"
    assert config.connect_dsn == "postgresql://app:pw@db-rw.ns:5432/app?sslmode=disable"
    assert (config.table, config.schema, config.statement_timeout) == ("mig", None, 1.5)
    plain = parse_database_url("postgres://h/db")
    assert (plain.connect_dsn, plain.table, plain.statement_timeout) == (
        "postgres://h/db",
        "schema_migrations",
        None,
    )


def test_quoted_migrations_table_names_a_schema() -> None:
    config = parse_database_url(
        'postgres://h/db?x-migrations-table="meta"."mig"&x-migrations-table-quoted=1'
    )
    assert (config.schema, config.table) == ("meta", "mig")
    with pytest.raises(DatabaseError, match="must be quoted"):
        parse_database_url("postgres://h/db?x-migrations-table=mig&x-migrations-table-quoted=1")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:p@h/db",
        "",
        "postgres://h/db?x-multi-statement=true",
        "postgres://h/db?x-statement-timeout=soon",
    ],
)
def test_unusable_database_urls_are_refused(url: str) -> None:
    with pytest.raises(DatabaseError):
        parse_database_url(url)


def test_passwords_are_masked() -> None:
    url = "postgresql://app:s3cr%40t@db:5432/app?password=other-secret"
    assert mask_url(url) == "postgresql://app:xxxxxx@db:5432/app?password=xxxxxx"
    text = redact(f"failed for {url}; user app password s3cr@t and other-secret", url)
    assert "s3cr" not in text
    assert "other-secret" not in text
    assert "postgresql://app:xxxxxx@db:5432/app" in text
    assert mask_url("postgres://h/db") == "postgres://h/db"


def test_dirty_message_is_golang_migrates() -> None:
    assert str(DirtyError(3)) == "Dirty database version 3. Fix and force version."
    assert str(DirtyError(None)) == "Dirty database version -1. Fix and force version."


TOP: dict[str, FlagKind] = {
    "path": "string",
    "verbose": "bool",
    "lock-timeout": "seconds",
    "prefetch": "uint",
}


def test_flags_parse_like_go() -> None:
    flags, rest = parse_flags(
        ["-path", "/m", "--verbose", "-lock-timeout=2.5", "up", "-path", "x"], TOP
    )
    assert flags == {"path": "/m", "verbose": True, "lock-timeout": "2.5"}
    assert rest == ["up", "-path", "x"]
    assert parse_flags(["-verbose=false", "--", "-path"], TOP) == ({"verbose": False}, ["-path"])
    assert parse_flags(["-", "up"], TOP) == ({}, ["-", "up"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-nope"], "flag provided but not defined: -nope"),
        (["-path"], "flag needs an argument: -path"),
        (["-lock-timeout", "-1"], 'invalid value "-1" for flag -lock-timeout: parse error'),
        (["-prefetch", "1.5"], 'invalid value "1.5" for flag -prefetch: parse error'),
        (["-verbose=maybe"], 'invalid boolean value "maybe" for -verbose: parse error'),
        (["---path", "x"], "bad flag syntax: ---path"),
    ],
)
def test_bad_flags(args: list[str], message: str) -> None:
    with pytest.raises(FlagError) as caught:
        parse_flags(args, TOP)
    assert str(caught.value) == message


def test_undefined_h_asks_for_help() -> None:
    with pytest.raises(HelpRequested):
        parse_flags(["-h"], TOP)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (850e-9, "850ns"),
        (12.5e-6, "12.5µs"),
        (0.003250, "3.25ms"),
        (1.5, "1.5s"),
        (123.5, "2m3.5s"),
        (3600, "1h0m0s"),
    ],
)
def test_durations_print_like_go(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE a (id int); INSERT INTO a VALUES (1);",
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql;",
        "CREATE FUNCTION g() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql;",
        "COMMENT ON TABLE a IS 'the end; vacuum it concurrently';",
        'CREATE TABLE "end" (id int); -- end of story',
        "SELECT pg_sleep(1); /* nested /* end */ vacuum */ SELECT 1;",
        "SELECT E'it\\'s the end', 'it''s the end';",
    ],
)
def test_transactional_files_are_atomic(sql: str) -> None:
    assert is_provably_atomic(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE a (); COMMIT; CREATE TABLE b ();",
        "BEGIN; CREATE TABLE a (); END;",
        "CREATE INDEX CONCURRENTLY a_idx ON a (id);",
        "VACUUM a;",
        "CALL do_things();",
        "DO $$ BEGIN INSERT INTO a VALUES (1); COMMIT; END $$;",
        "CREATE DATABASE other;",
        "ALTER SYSTEM SET work_mem = '8MB';",
        "SELECT '$$'; CREATE INDEX CONCURRENTLY x ON a (id); SELECT '$$';",
        "SELECT 1; rollback;",
    ],
)
def test_files_that_control_transactions_are_not_atomic(sql: str) -> None:
    assert not is_provably_atomic(sql)


def test_top_level_text_blanks_literals_comments_and_bodies() -> None:
    text = top_level_text("SELECT 'a', \"b\", $x$ c $x$, $1 -- d\n/* e */ FROM t")
    assert text.split() == ["SELECT", ",", ",", ",", "$1", "FROM", "t"]
