"""Generated e-invoices pass the official EN 16931 validation: every VAT category, inclusive
and exclusive prices, discounts, several rates on one invoice, 0- and 2-digit currencies —
and the validation really fails a broken document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from lxml import etree

from tests.conftest import Api
from tests.einvoices.conftest import Seller, make_seller
from tests.einvoices.validation import Validator, fatal

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # PDFs start the render worker

RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"


def line(rate: str, unit: int = 10000, quantity: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "description": "Work",
        "quantity": quantity,
        "unit_amount": unit,
        "tax_rate_ids": [rate],
        **extra,
    }


async def standard_mixed(s: Seller) -> dict[str, Any]:
    """Several rates on one invoice, percent and fixed discounts, awkward quantities."""
    s19 = await s.rate("VAT 19", "19", "S")
    s7 = await s.rate("VAT 7", "7", "S")
    zero = await s.rate("Zero", "0", "Z")
    exempt = await s.rate("Exempt", "0", "E", exemption_reason="Exempt under §4 Nr. 21 UStG")
    return await s.finalized(
        [
            line(s19, 1997, "2.5", discount={"percent": "15"}),
            line(s19, 3333, "3", discount={"amount": 1}),
            line(s7, 1999, "1.3333"),
            line(zero, 5000),
            line(exempt, 12345, "0.5"),
        ],
        purchase_order_reference="PO-2026-11",
        supply_date="2026-10-30",
        memo="Thank you.",
    )


async def inclusive_prices(s: Seller) -> dict[str, Any]:
    incl = await s.rate("VAT 20 incl", "20", "S", inclusive=True)
    incl7 = await s.rate("VAT 7 incl", "7", "S", inclusive=True)
    excl = await s.rate("VAT 19", "19", "S")
    return await s.finalized(
        [
            line(incl, 1999, "3", discount={"percent": "12.5"}),
            line(incl, 1, "7"),
            line(incl7, 995, "1.25", discount={"amount": 100}),
            line(excl, 4999, "2"),
        ]
    )


async def reverse_charge(s: Seller) -> dict[str, Any]:
    ae = await s.rate("Reverse charge", "0", "AE")
    return await s.finalized([line(ae, 150000, "1.5")])


async def intra_community(s: Seller) -> dict[str, Any]:
    k = await s.rate("Intra-EU", "0", "K", exemption_reason="Intra-community supply")
    return await s.finalized(
        [line(k, 99900, "2")], service_period={"start": "2026-10-01", "end": "2026-10-31"}
    )


async def export(s: Seller) -> dict[str, Any]:
    g = await s.rate("Export", "0", "G", inclusive=True)
    customer = await s.call(
        "PATCH",
        f"/customers/{s.customer_id}",
        {
            "vat_id": "",
            "postal_address": {
                "line1": "1 Main St",
                "city": "Boston",
                "postal_code": "02108",
                "country": "US",
            },
        },
    )
    assert customer.status_code == 200, customer.text
    return await s.finalized([line(g, 25000, "4", discount={"percent": "5"})])


async def outside_scope(s: Seller) -> dict[str, Any]:
    o = await s.rate("Not subject", "0", "O", exemption_reason="Not subject to VAT")
    return await s.finalized([line(o, 7000), line(o, 3000, "2")])


async def paid_in_part(s: Seller) -> dict[str, Any]:
    s19 = await s.rate("VAT 19", "19", "S")
    invoice = await s.finalized([line(s19, 10000, "3")])
    paid = await s.call(
        "POST",
        f"/invoices/{invoice['id']}/payments",
        {"amount": 12000, "currency": "EUR", "paid_on": "2026-11-05", "method": "bank_transfer"},
    )
    assert paid.status_code == 201, paid.text
    return invoice


Scenario = Callable[[Seller], Awaitable[dict[str, Any]]]
SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "standard-several-rates-discounts": ("EUR", standard_mixed),
    "inclusive-prices": ("EUR", inclusive_prices),
    "reverse-charge-AE": ("EUR", reverse_charge),
    "intra-community-K": ("EUR", intra_community),
    "export-G": ("USD", export),
    "outside-scope-O": ("EUR", outside_scope),
    "paid-in-part": ("EUR", paid_in_part),
    "zero-digit-currency": ("JPY", inclusive_prices),
    "zero-digit-standard": ("JPY", standard_mixed),
}


async def download(s: Seller, invoice_id: str, format_: str) -> bytes:
    got = await s.call("GET", f"/invoices/{invoice_id}/e-invoice?format={format_}")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/xml")
    assert f'-{format_}.xml"' in got.headers["content-disposition"]
    content: bytes = got.content
    return content


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_generated_invoices_pass_the_official_rules(
    api: Api, en16931: Validator, name: str
) -> None:
    currency, scenario = SCENARIOS[name]
    seller = await make_seller(api, currency=currency)
    invoice = await scenario(seller)
    readiness = await seller.call("GET", f"/invoices/{invoice['id']}/e-invoice/readiness")
    assert readiness.json() == {"ready": True, "violations": []}, readiness.text
    cii = await download(seller, invoice["id"], "cii")
    assert en16931.cii_schema_errors(cii) == []
    assert fatal(en16931.cii(cii)) == []
    ubl = await download(seller, invoice["id"], "ubl")
    assert fatal(en16931.ubl(ubl)) == []
    # The document's totals are the API's.
    now = (await seller.call("GET", f"/invoices/{invoice['id']}")).json()
    root = etree.fromstring(cii)
    digits = 0 if currency == "JPY" else 2
    assert root.findtext(f".//{RAM}GrandTotalAmount") == f"{now['total'] / 10**digits:.{digits}f}"
    assert root.findtext(f".//{RAM}DuePayableAmount") == (
        f"{now['amount_due'] / 10**digits:.{digits}f}"
    )


async def test_a_broken_document_fails_the_rules_and_the_schema(
    seller: Seller, en16931: Validator
) -> None:
    invoice = await standard_mixed(seller)
    cii = await download(seller, invoice["id"], "cii")
    root = etree.fromstring(cii)
    total = root.find(f".//{RAM}GrandTotalAmount")
    assert total is not None
    total.text = "1.00"
    broken = etree.tostring(root)
    assert {"BR-CO-15", "BR-CO-16"} <= {f.rule for f in fatal(en16931.cii(broken))}
    ubl = (await download(seller, invoice["id"], "ubl")).replace(
        b"<cbc:ID>S</cbc:ID>", b"<cbc:ID>Q</cbc:ID>", 1
    )
    assert fatal(en16931.ubl(ubl))
    misnamed = cii.replace(b"ram:IssueDateTime>", b"ram:IssueDate>")
    assert any("IssueDate" in error for error in en16931.cii_schema_errors(misnamed))


async def test_three_minor_digits_are_a_clear_409(api: Api) -> None:
    seller = await make_seller(api, currency="KWD")
    s5 = await seller.rate("VAT 5", "5", "S")
    invoice = await seller.finalized([line(s5, 12345)])
    got = await seller.call("GET", f"/invoices/{invoice['id']}/e-invoice?format=cii")
    assert got.status_code == 409, got.text
    problem = got.json()
    assert problem["type"] == "https://penvoice.app/problems/e-invoice-currency-not-expressible"
    assert problem["minor_digits"] == 3


async def test_an_invoice_that_is_not_ready_is_a_409_listing_the_rules(api: Api) -> None:
    org = await api.create_org("plain", default_currency="EUR")
    base = f"/v1/orgs/{org['id']}"
    auth = api.auth("plain")
    customer = (await api.client.post(f"{base}/customers", json={"name": "C"}, headers=auth)).json()
    rate = await api.client.post(
        f"{base}/tax-rates",
        json={"display_name": "T", "percentage": "19", "inclusive": False},
        headers=auth,
    )
    draft = await api.client.post(
        f"{base}/invoices",
        json={"customer_id": customer["id"], "lines": [line(rate.json()["id"])]},
        headers=auth,
    )
    invoice = f"{base}/invoices/{draft.json()['id']}"
    as_draft = await api.client.get(f"{invoice}/e-invoice", headers=auth)
    assert as_draft.status_code == 409
    assert as_draft.json()["status_now"] == "draft"
    done = await api.client.post(f"{invoice}/finalize", headers=auth)
    assert done.status_code == 200, done.text
    found = (await api.client.get(f"{invoice}/e-invoice/readiness", headers=auth)).json()
    refused = await api.client.get(f"{invoice}/e-invoice?format=ubl", headers=auth)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "https://penvoice.app/problems/e-invoice-not-ready"
    assert refused.json()["violations"] == found["violations"]
    assert {v["rule"] for v in found["violations"]} == {"BR-08", "BR-10", "BR-CO-26", "BR-CO-04"}


async def test_bad_format_is_a_422_on_the_query(seller: Seller) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    invoice = await seller.finalized([line(s19)])
    got = await seller.call("GET", f"/invoices/{invoice['id']}/e-invoice?format=pdf")
    assert got.status_code == 422
    assert got.json()["errors"][0]["field"] == "query.format"


async def test_text_xml_cannot_carry_is_replaced_not_a_500(
    seller: Seller, en16931: Validator
) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    invoice = await seller.finalized(
        [line(s19, description='Bell\x07 and <tags> & "quotes"\x0b')], memo="Memo\x01"
    )
    for format_ in ("cii", "ubl"):
        xml = await download(seller, invoice["id"], format_)
        assert 'Bell\ufffd and <tags> & "quotes"\ufffd' in etree.fromstring(xml).xpath(
            "string(//*[local-name()='Name' and ancestor::*[local-name()='SpecifiedTradeProduct'"
            " or local-name()='Item']])"
        )
    assert fatal(en16931.cii(await download(seller, invoice["id"], "cii"))) == []
    pdf = await seller.call("GET", f"/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200, pdf.text
