"""Migrations stay expand/contract-safe: during a canary the previous release runs against
the new schema, so a migration may add, never take away or change under old code.

Versions up to BASELINE form the first release's schema (no earlier release ever ran
against them). After it, a destructive statement needs a `-- contract:` comment naming the
earlier release that stopped using what it removes.
"""

import re

import pytest

from penvoice.migrate.files import latest_version
from tests.conftest import MIGRATIONS_DIR

BASELINE = 2
FORBIDDEN = {
    "drops a table": r"\bDROP\s+TABLE\b",
    "drops a column": r"\bDROP\s+COLUMN\b",
    "renames": r"\bRENAME\b",
    "changes a column type": r"\bALTER\s+COLUMN\s+\w+\s+(SET\s+DATA\s+)?TYPE\b",
    "adds NOT NULL to an existing column": r"\bALTER\s+COLUMN\s+\w+\s+SET\s+NOT\s+NULL\b",
    "adds a NOT NULL column without a default": (
        r"\bADD\s+COLUMN\s+(?![^,;]*\bDEFAULT\b)[^,;]*\bNOT\s+NULL\b"
    ),
}


def violations(sql: str) -> list[str]:
    code = re.sub(r"--[^\n]*", "", sql)
    return [
        name
        for name, pattern in FORBIDDEN.items()
        if re.search(pattern, code, flags=re.IGNORECASE | re.DOTALL)
    ]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("ALTER TABLE invoices DROP COLUMN memo;", ["drops a column"]),
        (
            "ALTER TABLE invoices ADD COLUMN po text NOT NULL;",
            ["adds a NOT NULL column without a default"],
        ),
        ("ALTER TABLE invoices ADD COLUMN po text NOT NULL DEFAULT '';", []),
        ("ALTER TABLE customers RENAME COLUMN notes TO remarks;", ["renames"]),
        ("ALTER TABLE invoices ALTER COLUMN memo TYPE varchar(10);", ["changes a column type"]),
        ("CREATE TABLE credit_notes (id uuid PRIMARY KEY);", []),
    ],
)
def test_the_policy_recognises_destructive_statements(sql: str, expected: list[str]) -> None:
    assert violations(sql) == expected


def test_migrations_after_the_baseline_only_expand() -> None:
    assert latest_version(MIGRATIONS_DIR) >= BASELINE
    for path in sorted(MIGRATIONS_DIR.glob("*.up.sql")):
        version = int(path.name.split("_", 1)[0])
        sql = path.read_text()
        if version <= BASELINE or "-- contract:" in sql:
            continue
        found = violations(sql)
        assert not found, f"{path.name} {', '.join(found)}: expand first, contract later"


def test_every_up_migration_has_a_down_migration() -> None:
    ups = {p.name.removesuffix(".up.sql") for p in MIGRATIONS_DIR.glob("*.up.sql")}
    downs = {p.name.removesuffix(".down.sql") for p in MIGRATIONS_DIR.glob("*.down.sql")}
    assert ups == downs
