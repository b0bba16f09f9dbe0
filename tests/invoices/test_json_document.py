"""The invoice JSON built by PostgreSQL (`invoices.json_repository`) is, value for value,
the pydantic rendering of the same stored rows (`invoices.views.invoice_view`)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from penvoice.invoices import json_repository, repository
from penvoice.invoices.schemas import InvoiceSummary
from penvoice.invoices.views import invoice_view
from penvoice.tenancy.repository import enter
from tests.invoices.conftest import LINE, Billing

pytestmark = pytest.mark.anyio


async def both_renderings(url: str, billing: Billing, invoice_id: str) -> tuple[Any, Any]:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            org_id = UUID(billing.org_id)
            assert await enter(conn, billing.owner, None, org_id) == "owner"
            row = await repository.get_invoice(conn, org_id, UUID(invoice_id))
            assert row is not None
            lines = await repository.get_lines(conn, org_id, row.id)
            by_pydantic = json.loads(invoice_view(row, lines).model_dump_json())
            found = await json_repository.invoice_json(conn, org_id, UUID(invoice_id))
            assert found is not None
            version, document = found
            assert version == row.version
            return json.loads(document), by_pydantic
    finally:
        await conn.close()


async def test_every_field_and_shape_matches_the_models(
    billing: Billing, database_url: str
) -> None:
    lines = [
        LINE,  # no discount, no tax
        {
            **LINE,
            "quantity": "3",
            "discount": {"percent": "12.5"},
            "tax_rate_ids": [billing.vat_inclusive, billing.levy_exclusive],
        },
        {
            **LINE,
            "quantity": "0.0001",
            "unit_amount": 10**9,
            "discount": {"amount": 17},
            "tax_rate_ids": [billing.levy_exclusive],
        },
    ]
    draft = await billing.draft(lines, memo='Ünïcode memo "quoted"\n')
    by_database, by_pydantic = await both_renderings(database_url, billing, draft["id"])
    assert by_database == by_pydantic
    assert by_database["lines"][1]["discount"] == {"percent": "12.5", "amount": None}

    finalized = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    assert finalized.status_code == 200, finalized.text
    paid = await billing.post(
        f"/invoices/{draft['id']}/payments",
        {
            "amount": finalized.json()["amount_due"],
            "currency": "USD",
            "paid_on": finalized.json()["issue_date"],
            "method": "bank_transfer",
        },
    )
    assert paid.status_code == 201, paid.text
    by_database, by_pydantic = await both_renderings(database_url, billing, draft["id"])
    assert by_database == by_pydantic
    assert by_database["status"] == "paid"
    assert by_database["customer_snapshot"] is not None
    assert by_database["paid_at"].endswith("Z")
    # What the API answers is this document.
    got = await billing.api.client.get(
        f"{billing.base}/invoices/{draft['id']}", headers=billing.headers()
    )
    assert got.json() == by_pydantic
    assert got.headers["etag"] == f'"{by_pydantic["version"]}"'


async def test_a_list_page_matches_the_models_and_pages_on(
    billing: Billing, database_url: str
) -> None:
    for _ in range(3):
        await billing.draft()
    url = f"{billing.base}/invoices?limit=2"
    first = await billing.api.client.get(url, headers=billing.headers())
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    second = await billing.api.client.get(
        f"{url}&cursor={page['next_cursor']}", headers=billing.headers()
    )
    first_ids = {item["id"] for item in page["items"]}
    second_ids = {item["id"] for item in second.json()["items"]}
    assert second_ids
    assert second_ids.isdisjoint(first_ids)
    assert second.json()["next_cursor"] is None
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            org_id = UUID(billing.org_id)
            await enter(conn, billing.owner, None, org_id)
            rows = await repository.list_invoices(
                conn, org_id, repository.InvoiceFilters(), limit=2, after=None
            )
    finally:
        await conn.close()
    expected = [
        json.loads(
            InvoiceSummary(
                **{name: getattr(row, name) for name in InvoiceSummary.model_fields}
            ).model_dump_json()
        )
        for row in rows[:2]
    ]
    assert page["items"] == expected
