"""The legal data of issue 13: stored normalised, refused with a 422 naming the field,
snapshotted at finalization; organisations, customers and rates without it keep working."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.einvoices.conftest import SELLER, Seller

pytestmark = pytest.mark.anyio


def field_of(response: Any) -> str:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    fields = [error["field"] for error in response.json()["errors"]]
    assert len(fields) == 1, fields
    return str(fields[0])


async def test_seller_data_is_stored_normalised(seller: Seller) -> None:
    org = (await seller.call("GET", "")).json()
    assert org["legal_name"] == "Atelier Nord GmbH"
    assert org["vat_id"] == "DE123456789"
    assert org["postal_address"] == {
        "line1": "Hauptstraße 5",
        "line2": "",
        "city": "Berlin",
        "postal_code": "10115",
        "subdivision": "",
        "country": "DE",
    }
    assert org["payment_account"] == {
        "iban": "DE89370400440532013000",
        "bic": "COBADEFFXXX",
        "account_name": "",
    }
    assert org["contact"]["email"] == "billing@nord.example"
    cleared = await seller.call("PATCH", "", {"payment_account": None, "contact": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["payment_account"] is None
    assert cleared.json()["vat_id"] == "DE123456789"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payment_account": {"iban": "DE89 3704 0044 0532 0130 01"}}, "payment_account.iban"),
        (
            {"payment_account": {"iban": "DE89370400440532013000", "bic": "NOTABIC"}},
            "payment_account.bic",
        ),
        (
            {"postal_address": {"line1": "x", "city": "y", "country": "ZZ"}},
            "postal_address.country",
        ),
        ({"postal_address": {"line1": "x", "city": "y"}}, "postal_address.country"),
        ({"vat_id": "QQ123456789"}, "vat_id"),
        ({"vat_id": "DE12345678901234567"}, "vat_id"),
        ({"contact": {"email": "not-an-email"}}, "contact.email"),
        ({"legal_name": None}, "legal_name"),
    ],
)
async def test_bad_seller_data_is_a_422_naming_the_field(
    seller: Seller, body: dict[str, Any], field: str
) -> None:
    before = (await seller.call("GET", "")).json()
    assert field_of(await seller.call("PATCH", "", body)) == f"body.{field}"
    assert (await seller.call("GET", "")).json() == before


async def test_greek_vat_ids_use_el(seller: Seller) -> None:
    ok = await seller.call("PATCH", f"/customers/{seller.customer_id}", {"vat_id": "EL999999999"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["vat_id"] == "EL999999999"
    bad = await seller.call("PATCH", f"/customers/{seller.customer_id}", {"vat_id": "GR9999999"})
    assert field_of(bad) == "body.vat_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"percentage": "19", "vat_category": "Z"}, "percentage"),
        ({"percentage": "0", "vat_category": "S"}, "percentage"),
        ({"percentage": "0", "vat_category": "E"}, "exemption_reason"),
        ({"percentage": "19", "vat_category": "S", "exemption_reason": "x"}, "exemption_reason"),
        (
            {"percentage": "0", "vat_category": "Z", "exemption_code": "VATEX-EU-G"},
            "exemption_code",
        ),
        ({"percentage": "0", "vat_category": "E", "exemption_code": "EXEMPT"}, "exemption_code"),
        ({"percentage": "0", "vat_category": "X"}, "vat_category"),
        ({"percentage": "0", "exemption_reason": "why"}, "exemption_reason"),
    ],
)
async def test_vat_categories_keep_en16931_rules(
    seller: Seller, body: dict[str, Any], field: str
) -> None:
    made = await seller.call(
        "POST", "/tax-rates", {"display_name": "r", "inclusive": False, **body}
    )
    assert field_of(made) == f"body.{field}"


async def test_a_rate_update_is_checked_against_the_stored_rate(seller: Seller) -> None:
    rate = await seller.rate("VAT 19", "19", "S")
    to_zero = await seller.call("PATCH", f"/tax-rates/{rate}", {"vat_category": "Z"})
    assert field_of(to_zero) == "body.percentage"
    both = await seller.call(
        "PATCH", f"/tax-rates/{rate}", {"vat_category": "Z", "percentage": "0"}
    )
    assert both.status_code == 200, both.text
    exempt = await seller.rate("Exempt", "0", "E", exemption_code="vatex-eu-132-1i")
    got = (await seller.call("GET", f"/tax-rates/{exempt}")).json()
    assert (got["vat_category"], got["exemption_code"]) == ("E", "VATEX-EU-132-1I")


async def test_invoice_references_and_period_are_kept_and_snapshots_carry_the_parties(
    seller: Seller,
) -> None:
    rate = await seller.rate("VAT 19", "19", "S")
    line = {"description": "Work", "quantity": "1", "unit_amount": 1000, "tax_rate_ids": [rate]}
    bad = await seller.call(
        "POST",
        "/invoices",
        {
            "customer_id": seller.customer_id,
            "lines": [line],
            "service_period": {"start": "2026-10-31", "end": "2026-10-01"},
        },
    )
    assert field_of(bad) == "body.service_period"
    draft = await seller.draft(
        [line],
        purchase_order_reference="PO-7",
        service_period={"start": "2026-10-01", "end": "2026-10-31"},
    )
    assert draft["service_period"] == {"start": "2026-10-01", "end": "2026-10-31"}
    assert draft["lines"][0]["taxes"][0]["vat_category"] == "S"
    patched = await seller.call(
        "PATCH", f"/invoices/{draft['id']}", {"service_period": None, "supply_date": "2026-10-15"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["service_period"] is None
    assert patched.json()["supply_date"] == "2026-10-15"
    assert patched.json()["purchase_order_reference"] == "PO-7"
    done = await seller.call("POST", f"/invoices/{draft['id']}/finalize")
    assert done.status_code == 200, done.text
    invoice = done.json()
    assert invoice["org_snapshot"]["vat_id"] == "DE123456789"
    assert invoice["org_snapshot"]["payment_account"]["iban"] == "DE89370400440532013000"
    assert invoice["org_snapshot"]["legal_name"] == SELLER["legal_name"]
    assert invoice["customer_snapshot"]["postal_address"]["country"] == "FR"
    assert invoice["customer_snapshot"]["buyer_reference"] == "04011000-12345-34"


async def test_an_org_without_legal_data_still_invoices(api: Api) -> None:
    org = await api.create_org("plain")
    assert org["postal_address"] is None
    assert org["vat_id"] == ""
    base = f"/v1/orgs/{org['id']}"
    customer = await api.client.post(
        f"{base}/customers", json={"name": "C"}, headers=api.auth("plain")
    )
    rate = await api.client.post(
        f"{base}/tax-rates",
        json={"display_name": "T", "percentage": "7", "inclusive": False},
        headers=api.auth("plain"),
    )
    assert rate.json()["vat_category"] is None
    draft = await api.client.post(
        f"{base}/invoices",
        json={
            "customer_id": customer.json()["id"],
            "lines": [
                {
                    "description": "x",
                    "quantity": "1",
                    "unit_amount": 100,
                    "tax_rate_ids": [rate.json()["id"]],
                }
            ],
        },
        headers=api.auth("plain"),
    )
    assert draft.status_code == 201, draft.text
    done = await api.client.post(
        f"{base}/invoices/{draft.json()['id']}/finalize", headers=api.auth("plain")
    )
    assert done.status_code == 200, done.text
    assert done.json()["total"] == 107
