"""The API's database role owns nothing and holds exactly the grants of migration 000006: it
cannot change a table, its row-level security or its policies, and reads only through them.

Every refusal is checked against the owner role too, so a test that passes because the
statement is simply wrong cannot hide here.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest

from penvoice.dev.roles import APP_ROLE, OWNER_ROLE
from tests import conftest
from tests.conftest import Api

Database = conftest.TestDatabase

pytestmark = pytest.mark.anyio

# (statement, what it would do to the tenant boundary)
FORBIDDEN = [
    ("ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY", "exempt the owner from RLS"),
    ("ALTER TABLE invoices DISABLE ROW LEVEL SECURITY", "turn RLS off"),
    ("ALTER TABLE invoices ADD COLUMN leak text", "change a table"),
    ("DROP POLICY invoices_tenant ON invoices", "drop a policy"),
    ("CREATE POLICY open_door ON invoices USING (true)", "add a permissive policy"),
    ("ALTER POLICY invoices_tenant ON invoices USING (true)", "widen a policy"),
    (
        "CREATE OR REPLACE FUNCTION penvoice_current_org() RETURNS uuid "
        "LANGUAGE sql STABLE AS $$ SELECT NULL::uuid $$",
        "replace the tenant context function",
    ),
    ("CREATE TABLE public.scratch (id int)", "create objects in the schema"),
    ("TRUNCATE events", "erase the audit trail"),
    ("DELETE FROM events", "delete from the audit trail"),
    ("UPDATE events SET actor = 'someone else'", "rewrite the audit trail"),
    ("DELETE FROM payments", "delete payments (they are only marked deleted)"),
    ("UPDATE organisation_usage SET invoices = 0", "reset what its quotas count"),
    ("UPDATE idempotency_usage SET responses = 0", "reset what a user's quota counts"),
    ("UPDATE schema_migrations SET dirty = true", "touch the migrations' state"),
    ("DROP TABLE invoices CASCADE", "drop a table"),
    (f"SET ROLE {OWNER_ROLE}", "become the owner"),
    ("SET session_replication_role = replica", "skip triggers and foreign keys"),
]

# Exactly the privileges the repositories need (docs: migrations/000006_*.up.sql).
EXPECTED_GRANTS = {
    "organisations": {"SELECT", "INSERT", "UPDATE"},
    "memberships": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "invitations": {"SELECT", "INSERT", "UPDATE"},
    "invoice_number_counters": {"SELECT", "INSERT", "UPDATE"},
    "customers": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "tax_rates": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "invoices": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "invoice_lines": {"SELECT", "INSERT", "DELETE"},
    "invoice_line_taxes": {"SELECT", "INSERT"},
    "payments": {"SELECT", "INSERT", "UPDATE"},
    "events": {"SELECT", "INSERT"},
    "idempotency_keys": {"SELECT", "INSERT", "DELETE"},
    "schema_migrations": {"SELECT"},
    # Tables added after 000006, granted by 000024.
    "pgqueuer": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "pgqueuer_log": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "pgqueuer_schedules": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "pgqueuer_statistics": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "invoice_deliveries": {"SELECT", "INSERT", "UPDATE"},
    "invoice_delivery_recipients": {"SELECT", "INSERT", "UPDATE"},
    "credit_note_counters": {"SELECT", "INSERT", "UPDATE"},
    "credit_notes": {"SELECT", "INSERT"},
    "credit_note_lines": {"SELECT", "INSERT"},
    "webhook_endpoints": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "webhook_secrets": {"SELECT", "INSERT", "UPDATE", "DELETE"},  # 000028: rotations prune
    "webhook_messages": {"SELECT", "INSERT", "UPDATE"},
    "webhook_attempts": {"SELECT", "INSERT"},
    "recurring_schedules": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "recurring_runs": {"SELECT", "INSERT", "UPDATE"},
    # Written only by the owner's triggers (000025, 000026).
    "organisation_usage": {"SELECT"},
    "idempotency_usage": {"SELECT"},
}
# Tables the app may read without a row-level policy, and why.
NO_POLICY = {
    "schema_migrations": "the schema version, no tenant data",
    "idempotency_keys": "keyed by the token's subject in every query; no organisation column",
    "pgqueuer": "the job queue: the worker picks every tenant's jobs, and each job re-enters "
    "its organisation's context before it reads tenant data",
    "pgqueuer_log": "the queue's log: job ids and statuses, no tenant data",
    "pgqueuer_schedules": "the queue's periodic tasks, no tenant data",
    "pgqueuer_statistics": "the queue's counters, no tenant data",
    "idempotency_usage": "what each subject keeps for idempotency_keys, keyed like it; "
    "written only by the owner's triggers",
}

# Tables whose policies bind the app but not the owner, and why.
UNFORCED = {
    "organisation_usage": "kept by triggers running as the owner, whoever wrote the invoices; "
    "the app may only read its tenant's row",
}


async def _refused(url: str, statement: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            try:
                await conn.execute(statement)
            except asyncpg.InsufficientPrivilegeError:
                return True
            raise _Rollback
    except _Rollback:
        return False
    finally:
        await conn.close()


class _Rollback(Exception):
    """Undo a statement the owner was allowed to run."""


@pytest.mark.parametrize(("statement", "harm"), FORBIDDEN, ids=[h for _, h in FORBIDDEN])
async def test_the_app_role_cannot_change_tables_policies_or_roles(
    test_database: Database, statement: str, harm: str
) -> None:
    assert await _refused(test_database.url, statement), f"the app role could {harm}"
    if statement.startswith("SET "):
        return  # the owner is no superuser either; nothing to compare
    assert not await _refused(test_database.owner_url, statement), "control: the owner may"


async def test_the_app_role_owns_nothing_and_has_no_power(test_database: Database) -> None:
    conn = await asyncpg.connect(test_database.admin_url)
    try:
        role = await conn.fetchrow("SELECT * FROM pg_roles WHERE rolname = $1", APP_ROLE)
        assert role is not None
        for power in ("rolsuper", "rolbypassrls", "rolcreaterole", "rolcreatedb", "rolreplication"):
            assert role[power] is False, power
        member_of = await conn.fetch(
            "SELECT roleid::regrole::text AS r FROM pg_auth_members WHERE member = $1::regrole",
            APP_ROLE,
        )
        assert [row["r"] for row in member_of] == []
        owned = await conn.fetchval(
            """SELECT (SELECT count(*) FROM pg_class WHERE relowner = $1::regrole)
                    + (SELECT count(*) FROM pg_proc WHERE proowner = $1::regrole)
                    + (SELECT count(*) FROM pg_namespace WHERE nspowner = $1::regrole)
                    + (SELECT count(*) FROM pg_type WHERE typowner = $1::regrole)
                    + (SELECT count(*) FROM pg_database WHERE datdba = $1::regrole)""",
            APP_ROLE,
        )
        assert owned == 0
        tables_of_owner = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = $1",
            OWNER_ROLE,
        )
        assert tables_of_owner == len(EXPECTED_GRANTS)
    finally:
        await conn.close()


async def test_the_app_role_holds_exactly_the_grants_the_code_needs(
    test_database: Database,
) -> None:
    conn = await asyncpg.connect(test_database.admin_url)
    try:
        rows = await conn.fetch(
            """SELECT table_name, privilege_type FROM information_schema.role_table_grants
               WHERE grantee = $1""",
            APP_ROLE,
        )
    finally:
        await conn.close()
    grants: dict[str, set[str]] = {}
    for row in rows:
        grants.setdefault(row["table_name"], set()).add(row["privilege_type"])
    assert grants == EXPECTED_GRANTS


async def test_every_table_the_app_reads_is_behind_a_forced_policy(
    test_database: Database,
) -> None:
    conn = await asyncpg.connect(test_database.admin_url)
    try:
        rows = await conn.fetch(
            """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                      EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
                 AND has_table_privilege($1, c.oid, 'SELECT')""",
            APP_ROLE,
        )
    finally:
        await conn.close()
    unprotected = {
        row["relname"] for row in rows if not (row["relrowsecurity"] and row["has_policy"])
    }
    assert unprotected == set(NO_POLICY)
    unforced = {
        row["relname"]
        for row in rows
        if row["relrowsecurity"] and row["has_policy"] and not row["relforcerowsecurity"]
    }
    assert unforced == set(UNFORCED)


async def test_the_api_connects_as_the_app_role_and_still_sees_only_policy_rows(
    api: Api, test_database: Database
) -> None:
    org = await api.create_org("ann")
    await api.create_org("bob")
    database = api.app.state.database
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT current_user") == APP_ROLE
        # No tenant context: the policies hide every organisation.
        assert await conn.fetchval("SELECT count(*) FROM organisations") == 0
        async with conn.transaction():
            await conn.execute("SELECT set_config('penvoice.org_id', $1, true)", str(org["id"]))
            seen = await conn.fetch("SELECT id FROM organisations")
    assert [row["id"] for row in seen] == [UUID(str(org["id"]))]
    owner = await asyncpg.connect(test_database.admin_url)
    try:
        assert await owner.fetchval("SELECT count(*) FROM organisations") == 2
    finally:
        await owner.close()
