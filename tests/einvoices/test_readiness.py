"""The readiness check: which EN 16931 rules an invoice would break, computed from the data,
each with the rule, the resource and field to fix, and a sentence."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.einvoices.conftest import make_seller

pytestmark = pytest.mark.anyio


def line(rate: str, unit: int = 10000, quantity: str = "1") -> dict[str, Any]:
    return {
        "description": "Work",
        "quantity": quantity,
        "unit_amount": unit,
        "tax_rate_ids": [rate],
    }


async def test_readiness_names_each_rule_and_field(api: Api) -> None:
    org = await api.create_org("plain", default_currency="EUR")
    base = f"/v1/orgs/{org['id']}"
    auth = api.auth("plain")
    customer = (await api.client.post(f"{base}/customers", json={"name": "C"}, headers=auth)).json()
    old_rate = (
        await api.client.post(
            f"{base}/tax-rates",
            json={"display_name": "T", "percentage": "19", "inclusive": False},
            headers=auth,
        )
    ).json()
    k = (
        await api.client.post(
            f"{base}/tax-rates",
            json={"display_name": "K", "percentage": "0", "inclusive": False, "vat_category": "K"},
            headers=auth,
        )
    ).json()
    two = {**line(old_rate["id"]), "tax_rate_ids": [old_rate["id"], k["id"]]}
    none = {**line(old_rate["id"]), "tax_rate_ids": []}
    draft = await api.client.post(
        f"{base}/invoices",
        json={
            "customer_id": customer["id"],
            "lines": [line(old_rate["id"]), line(k["id"]), two, none],
        },
        headers=auth,
    )
    assert draft.status_code == 201, draft.text
    url = f"{base}/invoices/{draft.json()['id']}/e-invoice/readiness"
    found = (await api.client.get(url, headers=auth)).json()
    assert found["ready"] is False
    got = {(v["rule"], v["resource"], v["field"]) for v in found["violations"]}
    assert got == {
        ("BR-08", "organisation", "postal_address"),
        ("BR-10", "customer", "postal_address"),
        ("BR-CO-26", "organisation", "vat_id"),
        ("BR-CO-04", "tax_rate", "vat_category"),
        ("BR-CO-04", "invoice", "lines.2.tax_rate_ids"),
        ("BR-CO-04", "invoice", "lines.3.tax_rate_ids"),
        ("BR-IC-02", "organisation", "vat_id"),
        ("BR-IC-02", "customer", "vat_id"),
        ("BR-IC-11", "invoice", "supply_date"),
    }
    tax_rate = next(v for v in found["violations"] if v["resource"] == "tax_rate")
    assert tax_rate["resource_id"] == old_rate["id"]
    assert all(v["message"].endswith(".") for v in found["violations"])
    # A draft is checked against the current data: categorising the rate clears its finding.
    fixed = await api.client.patch(
        f"{base}/tax-rates/{old_rate['id']}", json={"vat_category": "S"}, headers=auth
    )
    assert fixed.status_code == 200, fixed.text
    again = (await api.client.get(url, headers=auth)).json()
    assert ("BR-CO-04", "tax_rate") not in {(v["rule"], v["resource"]) for v in again["violations"]}


async def test_a_complete_seller_is_ready_and_o_leaves_out_vat_ids(api: Api) -> None:
    seller = await make_seller(api)
    s19 = await seller.rate("VAT 19", "19", "S")
    draft = await seller.draft([line(s19)])
    ready = await seller.call("GET", f"/invoices/{draft['id']}/e-invoice/readiness")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"ready": True, "violations": []}
    o = await seller.rate("Outside", "0", "O")
    mixed = await seller.draft([line(s19), line(o)])
    found = await seller.call("GET", f"/invoices/{mixed['id']}/e-invoice/readiness")
    assert [v["rule"] for v in found.json()["violations"]] == ["BR-O-11"]


async def test_three_minor_digits_are_reported(api: Api) -> None:
    seller = await make_seller(api, currency="KWD")
    s5 = await seller.rate("VAT 5", "5", "S")
    draft = await seller.draft([line(s5, 12345)])
    found = (await seller.call("GET", f"/invoices/{draft['id']}/e-invoice/readiness")).json()
    assert [(v["rule"], v["field"]) for v in found["violations"]] == [("BR-DEC-09", "currency")]


async def test_line_by_line_rounding_past_the_tolerance_is_reported(api: Api) -> None:
    seller = await make_seller(api, currency="JPY")
    s10 = await seller.rate("VAT 10", "10", "S")
    draft = await seller.draft([line(s10, 5) for _ in range(3)])  # 0.5 yen each → 1 each
    found = (await seller.call("GET", f"/invoices/{draft['id']}/e-invoice/readiness")).json()
    assert [v["rule"] for v in found["violations"]] == ["BR-CO-17"]
    fine = await seller.draft([line(s10, 5)])  # one line: 1 yen, within a unit of 0.5
    ok = (await seller.call("GET", f"/invoices/{fine['id']}/e-invoice/readiness")).json()
    assert ok["ready"] is True


async def test_an_unknown_invoice_is_404(api: Api) -> None:
    seller = await make_seller(api)
    missing = await seller.call(
        "GET", "/invoices/00000000-0000-4000-8000-000000000000/e-invoice/readiness"
    )
    assert missing.status_code == 404
