"""Bad input is a 422 problem+json naming the field at fault, and nothing is written.

Every case runs against one organisation (the `billing` fixture plus an archived customer,
an archived tax rate, a draft and an open invoice). Before and after each request the
superuser connection reads every row of the tables a request could touch (invoices, lines,
line taxes, payments, customers, tax rates, events, counters, idempotency keys): they must
be identical. Each POST carries a fresh `Idempotency-Key`, so a failure that stored its key
would show up too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from tests.invoices.conftest import LINE, Billing

pytestmark = pytest.mark.anyio

VALIDATION_TYPE = "https://penvoice.app/problems/validation-error"
BIGINT_MAX = 2**63 - 1
WATCHED_TABLES = (
    "organisations",
    "invoice_number_counters",
    "customers",
    "tax_rates",
    "invoices",
    "invoice_lines",
    "invoice_line_taxes",
    "payments",
    "events",
    "idempotency_keys",
)


@dataclass(frozen=True)
class World:
    billing: Billing
    admin: asyncpg.Connection[asyncpg.Record]
    archived_customer_id: str
    archived_rate_id: str
    draft_id: str
    open_id: str
    open_total: int

    async def rows(self) -> dict[str, tuple[int, str]]:
        """Per table: the row count and a digest of every row's full content."""
        digests: dict[str, tuple[int, str]] = {}
        for table in WATCHED_TABLES:
            record = await self.admin.fetchrow(
                f"""SELECT count(*) AS n, coalesce(md5(string_agg(row, ',' ORDER BY row)), '')
                           AS digest
                    FROM (SELECT to_jsonb(t)::text AS row FROM {table} t) AS rows"""
            )
            assert record is not None
            digests[table] = (record["n"], record["digest"])
        return digests


@dataclass(frozen=True)
class Bad:
    """One bad request and the one field its 422 must name."""

    name: str
    method: str
    path: str  # under the organisation; {draft} and {open} are the world's invoices
    at: str  # the field the 422 names
    body: object = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)


@pytest.fixture
async def world(billing: Billing, admin_database_url: str) -> AsyncIterator[World]:
    client, base, headers = billing.api.client, billing.base, billing.headers()
    gone = await client.post(f"{base}/customers", json={"name": "Gone"}, headers=headers)
    rate = await client.post(
        f"{base}/tax-rates",
        json={"display_name": "Old", "percentage": "7", "inclusive": False},
        headers=headers,
    )
    for url in (f"{base}/customers/{gone.json()['id']}", f"{base}/tax-rates/{rate.json()['id']}"):
        archived = await client.patch(url, json={"archived": True}, headers=headers)
        assert archived.status_code == 200, archived.text
    draft = await billing.draft()
    opened = await billing.draft()
    finalized = await billing.post(f"/invoices/{opened['id']}/finalize")
    assert finalized.status_code == 200, finalized.text
    admin = await asyncpg.connect(admin_database_url)
    try:
        yield World(
            billing,
            admin,
            gone.json()["id"],
            rate.json()["id"],
            draft["id"],
            opened["id"],
            opened["total"],
        )
    finally:
        await admin.close()


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def bad_requests(world: World) -> list[Bad]:
    b = world.billing
    invoice = {"customer_id": b.customer_id, "lines": [LINE]}

    def line(**changes: object) -> dict[str, Any]:
        return {**invoice, "lines": [{**LINE, **changes}]}

    payment = {"amount": 100, "currency": "USD", "paid_on": "2026-11-20", "method": "cash"}
    pay = "/invoices/{open}/payments"
    edit = "/invoices/{draft}"
    post, patch = "POST", "PATCH"
    quantity, unit_amount = "body.lines.0.quantity", "body.lines.0.unit_amount"
    return [
        # Creating a draft.
        Bad("unknown top-level field", post, "/invoices", "body.colour",
            {**invoice, "colour": "red"}),
        Bad("unknown field in a line", post, "/invoices", "body.lines.0.colour",
            line(colour="red")),
        Bad("negative unit_amount", post, "/invoices", unit_amount, line(unit_amount=-1)),
        Bad("unit_amount above bigint", post, "/invoices", unit_amount,
            line(unit_amount=BIGINT_MAX + 1)),
        Bad("unit_amount as a string", post, "/invoices", unit_amount, line(unit_amount="100")),
        Bad("unit_amount as a float", post, "/invoices", unit_amount, line(unit_amount=19.97)),
        Bad("quantity 0", post, "/invoices", quantity, line(quantity="0")),
        Bad("quantity -1", post, "/invoices", quantity, line(quantity="-1")),
        Bad("quantity with 5 places", post, "/invoices", quantity, line(quantity="1.23456")),
        Bad("quantity as a JSON number", post, "/invoices", quantity, line(quantity=1.5)),
        Bad("quantity in exponent form", post, "/invoices", quantity, line(quantity="1e3")),
        Bad("quantity NaN", post, "/invoices", quantity, line(quantity="NaN")),
        Bad("quantity beyond numeric(16,4)", post, "/invoices", quantity,
            line(quantity="1000000000000")),
        Bad("251 lines", post, "/invoices", "body.lines", {**invoice, "lines": [LINE] * 251}),
        Bad("discount with percent and amount", post, "/invoices", "body.lines.0.discount",
            line(discount={"percent": "10", "amount": 5})),
        Bad("discount percent above 100", post, "/invoices", "body.lines.0.discount.percent",
            line(discount={"percent": "100.5"})),
        Bad("fixed discount above the line amount", post, "/invoices", "body.lines.1",
            {**invoice, "lines": [LINE, {**LINE, "discount": {"amount": 4994}}]}),
        Bad("unknown tax rate", post, "/invoices", "body.lines.0.tax_rate_ids",
            line(tax_rate_ids=["00000000-0000-4000-8000-000000000000"])),
        Bad("archived tax rate", post, "/invoices", "body.lines.0.tax_rate_ids",
            line(tax_rate_ids=[world.archived_rate_id])),
        Bad("a tax rate twice on a line", post, "/invoices", "body.lines.0.tax_rate_ids",
            line(tax_rate_ids=[b.levy_exclusive, b.levy_exclusive])),
        Bad("unknown customer", post, "/invoices", "body.customer_id",
            {**invoice, "customer_id": "00000000-0000-4000-8000-000000000000"}),
        Bad("archived customer", post, "/invoices", "body.customer_id",
            {**invoice, "customer_id": world.archived_customer_id}),
        Bad("customer_id not a uuid", post, "/invoices", "body.customer_id",
            {**invoice, "customer_id": "cus_123"}),
        Bad("client-sent total", post, "/invoices", "body.total", {**invoice, "total": 1}),
        Bad("client-sent amount_due", post, "/invoices", "body.amount_due",
            {**invoice, "amount_due": 1}),
        Bad("client-sent line amount", post, "/invoices", "body.lines.0.amount", line(amount=1)),
        Bad("memo over 5000 characters", post, "/invoices", "body.memo",
            {**invoice, "memo": "x" * 5001}),
        Bad("empty line description", post, "/invoices", "body.lines.0.description",
            line(description="")),
        Bad("currency without minor unit", post, "/invoices", "body.currency",
            {**invoice, "currency": "XAU"}),
        Bad("unknown currency", post, "/invoices", "body.currency",
            {**invoice, "currency": "ABC"}),
        Bad("quantity × unit_amount beyond bigint", post, "/invoices", "body.lines.0",
            line(quantity="999999999999", unit_amount=BIGINT_MAX)),
        Bad("sum of lines beyond bigint", post, "/invoices", "body.lines",
            {**invoice, "lines": [{**LINE, "quantity": "1", "unit_amount": 5 * 10**18}] * 2}),
        # The JSON parser's position goes into the message, not the field (issue 16).
        Bad("malformed JSON", post, "/invoices", "body", content=b'{"customer_id": ',
            headers={"Content-Type": "application/json"}),
        Bad("wrong content type", post, "/invoices", "header.Content-Type",
            content=json.dumps(invoice).encode(), headers={"Content-Type": "text/plain"}),
        Bad("a JSON array instead of an object", post, "/invoices", "body", [invoice]),
        Bad("Idempotency-Key over 255 characters", post, "/invoices", "header.Idempotency-Key",
            invoice, headers={"Idempotency-Key": "k" * 256}),
        Bad("empty Idempotency-Key", post, "/invoices", "header.Idempotency-Key", invoice,
            headers={"Idempotency-Key": ""}),
        # Listing.
        Bad("cursor that is not base64 JSON", "GET", "/invoices", "query.cursor",
            params={"cursor": "not-a-cursor!"}),
        Bad("cursor of a JSON object", "GET", "/invoices", "query.cursor",
            params={"cursor": cursor_of({"created_at": "2026-01-01"})}),
        Bad("cursor with a bad id", "GET", "/invoices", "query.cursor",
            params={"cursor": cursor_of(["2026-01-01T00:00:00+00:00", "x"])}),
        Bad("cursor over 512 characters", "GET", "/invoices", "query.cursor",
            params={"cursor": "A" * 513}),
        Bad("unknown status filter", "GET", "/invoices", "query.status",
            params={"status": "overdue"}),
        Bad("limit 0", "GET", "/invoices", "query.limit", params={"limit": "0"}),
        Bad("limit 101", "GET", "/invoices", "query.limit", params={"limit": "101"}),
        Bad("impossible issue date", "GET", "/invoices", "query.issue_date_from",
            params={"issue_date_from": "2026-02-30"}),
        Bad("customer filter not a uuid", "GET", "/invoices", "query.customer_id",
            params={"customer_id": "everyone"}),
        Bad("malformed events cursor", "GET", "/events", "query.cursor",
            params={"cursor": cursor_of(["last"])}),
        Bad("bad as_of", "GET", "/reports/ar-aging", "query.as_of", params={"as_of": "today"}),
        # Payments.
        Bad("payment in another currency", post, pay, "body.currency",
            {**payment, "currency": "EUR"}),
        Bad("payment above the amount due", post, pay, "body.amount",
            {**payment, "amount": world.open_total + 1}),
        Bad("payment of 0", post, pay, "body.amount", {**payment, "amount": 0}),
        Bad("negative payment", post, pay, "body.amount", {**payment, "amount": -100}),
        Bad("payment above bigint", post, pay, "body.amount",
            {**payment, "amount": BIGINT_MAX + 1}),
        Bad("payment amount as a string", post, pay, "body.amount", {**payment, "amount": "100"}),
        Bad("payment amount as a float", post, pay, "body.amount", {**payment, "amount": 1.5}),
        Bad("payment without a date", post, pay, "body.paid_on",
            {k: v for k, v in payment.items() if k != "paid_on"}),
        Bad("unknown payment field", post, pay, "body.colour", {**payment, "colour": "red"}),
        Bad("payment with a bad If-Match", post, pay, "header.If-Match", payment,
            headers={"If-Match": "v1"}),
        # Editing and finalizing a draft.
        Bad("If-Match that is not an ETag", patch, edit, "header.If-Match", {"memo": "x"},
            headers={"If-Match": "abc"}),
        Bad("If-Match beyond any version", patch, edit, "header.If-Match", {"memo": "x"},
            headers={"If-Match": '"99999999999"'}),
        Bad("edit with an unknown field", patch, edit, "body.colour", {"colour": "red"}),
        Bad("edit with a client total", patch, edit, "body.total", {"total": 1}),
        Bad("edit with a null memo", patch, edit, "body.memo", {"memo": None}),
        Bad("edit with a negative line", patch, edit, "body.lines.0.unit_amount",
            {"lines": [{**LINE, "unit_amount": -5}]}),
        Bad("edit overflowing bigint", patch, edit, "body.lines.0",
            {"lines": [{**LINE, "quantity": "999999999999", "unit_amount": BIGINT_MAX}]}),
        Bad("edit to an archived customer", patch, edit, "body.customer_id",
            {"customer_id": world.archived_customer_id}),
        Bad("finalize with an unknown field", post, "/invoices/{draft}/finalize", "body.colour",
            {"colour": "red"}),
        Bad("due date before issue date", post, "/invoices/{draft}/finalize", "body.due_date",
            {"issue_date": "2026-11-10", "due_date": "2026-11-09"}),
        Bad("finalize with a bad If-Match", post, "/invoices/{draft}/finalize",
            "header.If-Match", {}, headers={"If-Match": "*1"}),
    ]  # fmt: skip


async def test_every_bad_request_is_a_422_naming_its_field_and_writes_nothing(
    world: World, subtests: pytest.Subtests
) -> None:
    b = world.billing
    cases = bad_requests(world)
    names = [case.name for case in cases]
    assert len(set(names)) == len(names) >= 60
    for number, case in enumerate(cases):
        with subtests.test(case.name):
            before = await world.rows()
            headers = b.headers(**case.headers)
            if case.method == "POST":
                headers.setdefault("Idempotency-Key", f"bad-input-{number}")
            path = case.path.format(draft=world.draft_id, open=world.open_id)
            response = await b.api.client.request(
                case.method,
                f"{b.base}{path}",
                params=dict(case.params),
                headers=headers,
                **({"content": case.content} if case.content is not None else {"json": case.body}),
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert (problem["type"], problem["status"]) == (VALIDATION_TYPE, 422)
            assert [error["field"] for error in problem["errors"]] == [case.at], problem
            assert all(error["message"] for error in problem["errors"])
            assert await world.rows() == before


async def test_the_limits_themselves_are_accepted(world: World) -> None:
    """The bounds are where the contract says: 250 lines, bigint, 4 places, 5000 chars."""
    b = world.billing
    line = {**LINE, "quantity": "0.0001", "unit_amount": BIGINT_MAX}
    draft = await b.draft([line] * 250, memo="x" * 5000)
    assert len(draft["lines"]) == 250
    assert draft["lines"][0]["amount"] == (BIGINT_MAX + 5_000) // 10_000  # half up
    exact = await b.draft([{**LINE, "quantity": "1", "unit_amount": BIGINT_MAX}])
    assert exact["total"] == BIGINT_MAX
    whole = await b.post(
        f"/invoices/{world.open_id}/payments",
        {"amount": world.open_total, "currency": "USD", "paid_on": "2026-11-20", "method": "x"},
    )
    assert whole.status_code == 201, whole.text


async def test_invoice_cursor_with_a_timestamp_out_of_range_is_422(billing: Billing) -> None:
    cursor = cursor_of(["9999-12-31T23:59:59-05:00", "00000000-0000-4000-8000-000000000000"])
    response = await billing.api.client.get(
        f"{billing.base}/invoices", params={"cursor": cursor}, headers=billing.headers()
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.cursor"


async def test_events_cursor_beyond_bigint_is_422(billing: Billing) -> None:
    response = await billing.api.client.get(
        f"{billing.base}/events",
        params={"cursor": cursor_of([str(2**63)])},
        headers=billing.headers(),
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.cursor"


async def test_null_lines_on_an_edit_are_refused_like_every_other_null(world: World) -> None:
    b = world.billing
    before = await world.rows()
    response = await b.api.client.patch(
        f"{b.base}/invoices/{world.draft_id}", json={"lines": None}, headers=b.headers()
    )
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["body.lines"]
    assert await world.rows() == before
