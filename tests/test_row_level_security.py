"""Row-level security is a second wall: a query that forgets `org_id` still sees one org."""

from typing import Any, cast
from uuid import UUID

import asyncpg
import pytest

from penvoice.db import Connection
from penvoice.invoices import repository as invoices
from penvoice.invoices.repository import InvoiceFilters
from penvoice.tenancy import repository as tenancy
from tests.conftest import Api
from tests.invoices.conftest import LINE, make_billing

pytestmark = pytest.mark.anyio

TENANT_TABLES = [
    "invoice_number_counters",
    "customers",
    "tax_rates",
    "invoices",
    "invoice_lines",
    "invoice_line_taxes",
    "payments",
    "events",
    "invitations",
    "memberships",
    "organisations",
    "credit_note_counters",
    "credit_notes",
    "credit_note_lines",
]


class ForgetfulConnection:
    """Runs the repository's own SQL with its `org_id = $1` filter taken out."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.rewrites = 0

    def _forget(self, sql: str) -> str:
        self.rewrites += sql.count("org_id = $1")
        return sql.replace("org_id = $1", "$1::uuid IS NOT NULL")

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self.conn.fetch(self._forget(sql), *args)


async def _seed(api: Api) -> tuple[UUID, UUID]:
    orgs = []
    for owner in ("ann", "bob"):
        billing = await make_billing(api, owner=owner)
        draft = await billing.draft([{**LINE, "tax_rate_ids": [billing.vat_inclusive]}])
        await billing.post(f"/invoices/{draft['id']}/finalize")
        payment = {"amount": 100, "currency": "USD", "paid_on": "2026-11-20", "method": "cash"}
        assert (await billing.post(f"/invoices/{draft['id']}/payments", payment)).is_success
        credit = await billing.post(f"/invoices/{draft['id']}/credit-notes", {"amount": 50})
        assert credit.status_code == 201, credit.text
        await billing.post("/invitations", {"email": f"friend-of-{owner}@example.com"})
        orgs.append(UUID(billing.org_id))
    return orgs[0], orgs[1]


async def test_a_query_without_its_org_filter_still_returns_only_the_current_org(
    api: Api, database_url: str, admin_database_url: str
) -> None:
    org_a, org_b = await _seed(api)
    app_conn = await asyncpg.connect(database_url)  # the API's role: RLS applies
    admin_conn = await asyncpg.connect(admin_database_url)  # superuser: RLS bypassed
    try:
        async with app_conn.transaction():
            await tenancy.enter_principal(app_conn, "ann", None)
            await tenancy.enter_org(app_conn, org_a)
            forgetful = ForgetfulConnection(app_conn)
            seen = await invoices.list_invoices(
                cast(Connection, forgetful),
                org_a,
                InvoiceFilters(),
                limit=100,
                after=None,
            )
        unfiltered = ForgetfulConnection(admin_conn)
        everything = await invoices.list_invoices(
            cast(Connection, unfiltered),
            org_a,
            InvoiceFilters(),
            limit=100,
            after=None,
        )
    finally:
        await app_conn.close()
        await admin_conn.close()
    assert forgetful.rewrites == 1  # the filter really was removed
    owners = {
        row["org_id"] for row in await _orgs_of(admin_database_url, [i.id for i in everything])
    }
    assert owners == {org_a, org_b}  # without RLS the forgetful query leaks
    assert len(seen) == 1
    assert {row["org_id"] for row in await _orgs_of(admin_database_url, [seen[0].id])} == {org_a}


async def _orgs_of(admin_url: str, invoice_ids: list[UUID]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(admin_url)
    try:
        return await conn.fetch("SELECT org_id FROM invoices WHERE id = ANY($1)", invoice_ids)
    finally:
        await conn.close()


async def test_every_tenant_table_shows_only_the_current_org(api: Api, database_url: str) -> None:
    org_a, org_b = await _seed(api)
    conn = await asyncpg.connect(database_url)
    try:
        for table in TENANT_TABLES:
            column = "id" if table == "organisations" else "org_id"
            async with conn.transaction():
                nothing = await conn.fetchval(f"SELECT count(*) FROM {table}")
                assert nothing == 0, f"{table} is visible without a tenant context"
                await tenancy.enter_org(conn, org_a)
                orgs = await conn.fetch(f"SELECT DISTINCT {column} AS org FROM {table}")
                assert {row["org"] for row in orgs} == {org_a}, table
        async with conn.transaction():
            await tenancy.enter_org(conn, org_a)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO events (org_id, type, actor, subject_type, subject_id) "
                    "VALUES ($1, 'org.updated', 'x', 'org', 'x')",
                    org_b,
                )
    finally:
        await conn.close()
