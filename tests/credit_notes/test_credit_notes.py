"""Credit notes through the API: what they credit, how they change the invoice (never below
zero due, refunds never above what was paid), numbering, events, documents and reports."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.conftest import Api
from tests.einvoices.conftest import Seller, make_seller
from tests.einvoices.validation import Validator, fatal

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # PDFs start the render worker


def line(rate: str, unit: int = 10000, quantity: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "description": "Work",
        "quantity": quantity,
        "unit_amount": unit,
        "tax_rate_ids": [rate],
        **extra,
    }


async def credit(s: Seller, invoice_id: str, body: dict[str, Any]) -> httpx.Response:
    return await s.call("POST", f"/invoices/{invoice_id}/credit-notes", body)


async def invoice_now(s: Seller, invoice_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await s.call("GET", f"/invoices/{invoice_id}")).json()
    return found


async def test_a_full_credit_of_an_unpaid_invoice_settles_it(seller: Seller) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    invoice = await seller.finalized([line(s19), line(s19, 2500, "2")])
    made = await credit(seller, invoice["id"], {"reason": "Cancelled order"})
    assert made.status_code == 201, made.text
    note = made.json()
    assert note["number"] == "INV-CN-000001"
    assert made.headers["location"].endswith(f"/credit-notes/{note['id']}")
    assert (note["total"], note["applied"], note["refunded"]) == (invoice["total"], 17850, 0)
    assert [ln["invoice_line_id"] for ln in note["lines"]] == [ln["id"] for ln in invoice["lines"]]
    now = await invoice_now(seller, invoice["id"])
    assert (now["status"], now["amount_due"], now["amount_credited"]) == ("paid", 0, 17850)
    again = await credit(seller, invoice["id"], {})
    assert again.status_code == 409, again.text
    more = await credit(seller, invoice["id"], {"amount": 1})
    assert more.status_code == 422
    assert more.json()["errors"][0]["field"] == "body.amount"
    events = (await seller.call("GET", f"/events?subject_id={note['id']}")).json()["items"]
    assert [e["type"] for e in events] == ["credit_note.created"]
    assert (await seller.call("GET", f"/credit-notes/{note['id']}")).json() == note
    listed = (await seller.call("GET", f"/invoices/{invoice['id']}/credit-notes")).json()
    assert listed == [note]


async def test_crediting_a_paid_invoice_refunds_never_more_than_was_paid(seller: Seller) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    invoice = await seller.finalized([line(s19), line(s19, 5000)])  # 119.00 + 59.50
    paid = await seller.call(
        "POST",
        f"/invoices/{invoice['id']}/payments",
        {"amount": 10000, "currency": "EUR", "paid_on": "2026-11-05", "method": "cash"},
    )
    assert paid.status_code == 201, paid.text
    # 178.50 total, 100.00 paid, 78.50 due: crediting line 1 (119.00) takes 78.50 off the
    # amount due and refunds 40.50.
    first = await credit(seller, invoice["id"], {"lines": [{"line_id": invoice["lines"][0]["id"]}]})
    assert first.status_code == 201, first.text
    assert (first.json()["applied"], first.json()["refunded"]) == (7850, 4050)
    now = await invoice_now(seller, invoice["id"])
    assert (now["status"], now["amount_due"], now["amount_refunded"]) == ("paid", 0, 4050)
    twice = await credit(seller, invoice["id"], {"lines": [{"line_id": invoice["lines"][0]["id"]}]})
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["field"] == "body.lines.0.line_id"
    # What is left to credit (59.50) is all refund, within the 59.50 paid and not refunded.
    rest = await credit(seller, invoice["id"], {"amount": 5950})
    assert rest.status_code == 201, rest.text
    assert (rest.json()["applied"], rest.json()["refunded"]) == (0, 5950)
    assert rest.json()["number"] == "INV-CN-000002"
    now = await invoice_now(seller, invoice["id"])
    assert now["amount_refunded"] == now["amount_paid"] == 10000
    over = await credit(seller, invoice["id"], {"amount": 1})
    assert over.status_code == 422
    payment_id = (await seller.call("GET", f"/invoices/{invoice['id']}/payments")).json()
    refunded_payment = (
        payment_id["items"][0]["id"] if "items" in payment_id else payment_id[0]["id"]
    )
    deleted = await seller.call("DELETE", f"/invoices/{invoice['id']}/payments/{refunded_payment}")
    assert deleted.status_code == 409, deleted.text


async def test_an_amount_credit_carves_out_the_invoices_one_rate(seller: Seller) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    invoice = await seller.finalized([line(s19, 100000)])
    made = await credit(seller, invoice["id"], {"amount": 11900, "reason": "Goodwill"})
    assert made.status_code == 201, made.text
    note = made.json()
    assert (note["subtotal"], note["tax_total"], note["total"]) == (10000, 1900, 11900)
    assert note["lines"][0]["description"] == "Goodwill"
    now = await invoice_now(seller, invoice["id"])
    assert (now["status"], now["amount_due"]) == ("open", 119000 - 11900)
    s7 = await seller.rate("VAT 7", "7", "S")
    mixed = await seller.finalized([line(s19), line(s7)])
    refused = await credit(seller, mixed["id"], {"amount": 100})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.amount"


async def test_drafts_and_void_invoices_cannot_be_credited_and_credited_ones_not_voided(
    seller: Seller,
) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    draft = await seller.draft([line(s19)])
    assert (await credit(seller, draft["id"], {})).status_code == 409
    invoice = await seller.finalized([line(s19), line(s19)])
    made = await credit(seller, invoice["id"], {"lines": [{"line_id": invoice["lines"][1]["id"]}]})
    assert made.status_code == 201, made.text
    voided = await seller.call("POST", f"/invoices/{invoice['id']}/void")
    assert voided.status_code == 409


async def test_documents_of_a_credit_note(seller: Seller, en16931: Validator) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    incl = await seller.rate("VAT 7 incl", "7", "S", inclusive=True)
    invoice = await seller.finalized(
        [line(s19, 1997, "2.5", discount={"percent": "15"}), line(incl, 4999, "3")]
    )
    partial = await credit(
        seller, invoice["id"], {"lines": [{"line_id": invoice["lines"][1]["id"]}]}
    )
    full = await credit(seller, invoice["id"], {})
    for made in (partial, full):
        assert made.status_code == 201, made.text
        base = f"/credit-notes/{made.json()['id']}"
        cii = await seller.call("GET", f"{base}/e-invoice?format=cii")
        assert cii.status_code == 200, cii.text
        assert b"<ram:TypeCode>381</ram:TypeCode>" in cii.content
        assert invoice["number"].encode() in cii.content
        assert en16931.cii_schema_errors(cii.content) == []
        assert fatal(en16931.cii(cii.content)) == []
        ubl = await seller.call("GET", f"{base}/e-invoice?format=ubl")
        assert b"<CreditNote " in ubl.content
        assert fatal(en16931.ubl(ubl.content)) == []
        pdf = await seller.call("GET", f"{base}/pdf")
        assert pdf.status_code == 200, pdf.text
        text = " ".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
        assert "CREDIT NOTE" in text
        assert made.json()["number"] in text
        assert f"credits invoice {invoice['number']}" in text
    # The invoice's own e-invoice is the invoice as issued, and still passes the rules.
    original = await seller.call("GET", f"/invoices/{invoice['id']}/e-invoice?format=cii")
    assert original.status_code == 200, original.text
    assert fatal(en16931.cii(original.content)) == []


async def test_ar_aging_and_csv_account_for_credit_notes(seller: Seller) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    invoice = await seller.finalized([line(s19, 100000)])  # issued 2026-11-02, 1190.00
    made = await credit(seller, invoice["id"], {"amount": 19000, "issue_date": "2026-11-10"})
    assert made.status_code == 201, made.text
    before = (await seller.call("GET", "/reports/ar-aging?as_of=2026-11-05")).json()
    after = (await seller.call("GET", "/reports/ar-aging?as_of=2026-11-10")).json()
    totals = [sum(row["total"] for row in report["currencies"]) for report in (before, after)]
    assert totals == [119000, 100000], (before, after)
    csv = await seller.call("GET", "/invoices.csv")
    header, row = csv.text.splitlines()[:2]
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert (values["amount_due"], values["amount_credited"], values["amount_refunded"]) == (
        "1000.00",
        "190.00",
        "0.00",
    )


async def test_120_concurrent_credit_notes_are_numbered_without_gaps(api: Api) -> None:
    seller = await make_seller(api, owner="racer")
    s19 = await seller.rate("VAT 19", "19", "S")
    invoices = [await seller.finalized([line(s19, 1000)]) for _ in range(10)]  # 11.90 each
    requests = [(invoice["id"], {"amount": 100}) for invoice in invoices for _ in range(12)]
    # 120 requests at once, 12 × 1.00 per invoice of 11.90: the 12th of each would credit
    # more than the invoice, so 10 must fail — and take no number with them.
    answers = await asyncio.gather(
        *(
            api.client.post(
                f"{seller.base}/invoices/{invoice_id}/credit-notes",
                json=body,
                headers={**seller.headers(), "Idempotency-Key": f"race-{n}"},
            )
            for n, (invoice_id, body) in enumerate(requests)
        )
    )
    made = [answer.json() for answer in answers if answer.status_code == 201]
    refused = [answer for answer in answers if answer.status_code != 201]
    assert len(made) == 110, [a.text for a in refused][:3]
    assert {answer.status_code for answer in refused} == {422}
    numbers = sorted(int(note["number"].removeprefix("INV-CN-")) for note in made)
    assert numbers == list(range(1, 111))  # gapless, no duplicates
    for invoice in invoices:
        now = await invoice_now(seller, invoice["id"])
        assert (now["amount_credited"], now["amount_due"]) == (1100, 90)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": []}, "body.lines"),
        ({"amount": 0}, "body.amount"),
        ({"amount": 100, "lines": [{"line_id": "00000000-0000-4000-8000-000000000000"}]}, "body"),
        ({"lines": [{"line_id": "00000000-0000-4000-8000-000000000000"}]}, "body.lines.0.line_id"),
        ({"issue_date": "2026-01-01"}, "body.issue_date"),
        ({"reason": "x" * 1001}, "body.reason"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_takes_no_number(
    seller: Seller, body: dict[str, Any], field: str
) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    invoice = await seller.finalized([line(s19)])
    refused = await credit(seller, invoice["id"], body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == field
    made = await credit(seller, invoice["id"], {"amount": 100})
    assert made.json()["number"] == "INV-CN-000001"  # the refusal used no number


async def test_a_retried_request_answers_the_same_credit_note(seller: Seller) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    invoice = await seller.finalized([line(s19)])
    url = f"{seller.base}/invoices/{invoice['id']}/credit-notes"
    headers = {**seller.headers(), "Idempotency-Key": "credit-once"}
    first = await seller.api.client.post(url, json={"amount": 500}, headers=headers)
    again = await seller.api.client.post(url, json={"amount": 500}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    listed = (await seller.call("GET", f"/invoices/{invoice['id']}/credit-notes")).json()
    assert len(listed) == 1
