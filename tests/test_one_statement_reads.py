"""Reads in one statement (`tenancy.repository.ENTERED`): the tenant context is set before
the read runs, so row-level security — not the query's own filter — decides what is seen."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest

from penvoice.tenancy.repository import ENTERED, entered_args
from tests.conftest import Api
from tests.invoices.conftest import make_billing

pytestmark = pytest.mark.anyio

# No organisation filter at all: only row-level security stands between tenants here.
UNFILTERED = f"""SELECT ctx.role, x.id FROM {ENTERED}
LEFT JOIN LATERAL (SELECT id FROM invoices WHERE ctx.role IS NOT NULL) AS x ON true"""


async def test_the_read_sees_the_entered_organisation_only(api: Api, database_url: str) -> None:
    mine = await make_billing(api, owner="olivia")
    theirs = await make_billing(api, owner="bob")
    my_drafts = {(await mine.draft())["id"] for _ in range(2)}
    await theirs.draft()
    conn = await asyncpg.connect(database_url)  # the API's role: RLS applies
    try:
        rows = await conn.fetch(UNFILTERED, *entered_args("olivia", None, UUID(mine.org_id)))
        assert {row["role"] for row in rows} == {"owner"}
        assert {str(row["id"]) for row in rows} == my_drafts
        # Olivia naming Bob's organisation: no role, nothing read.
        rows = await conn.fetch(UNFILTERED, *entered_args("olivia", None, UUID(theirs.org_id)))
        assert [(row["role"], row["id"]) for row in rows] == [(None, None)]
        # The context lived as long as the statement: nothing is visible afterwards.
        assert await conn.fetchval("SELECT count(*) FROM invoices") == 0
    finally:
        await conn.close()


async def test_get_and_list_answer_non_members_404_and_members_their_rows(api: Api) -> None:
    mine = await make_billing(api, owner="olivia")
    draft = await mine.draft()
    for path in (f"/invoices/{draft['id']}", "/invoices"):
        as_bob = await api.client.get(mine.base + path, headers=api.auth("bob"))
        assert as_bob.status_code == 404, as_bob.text
        as_olivia = await api.client.get(mine.base + path, headers=mine.headers())
        assert as_olivia.status_code == 200, as_olivia.text
