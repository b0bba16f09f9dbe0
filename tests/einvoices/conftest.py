"""An organisation with everything an EN 16931 invoice needs, and helpers to invoice it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import Api

SELLER = {
    "name": "Atelier Nord",
    "legal_name": "Atelier Nord GmbH",
    "postal_address": {
        "line1": "Hauptstraße 5",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "de",
    },
    "vat_id": "DE 123456789",
    "legal_registration_id": "HRB 12345 B",
    "contact": {"name": "Anna Nord", "phone": "+49 30 123456", "email": "billing@nord.example"},
    "payment_account": {"iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX"},
}
BUYER = {
    "name": "Kunde SARL",
    "email": "ap@kunde.fr",
    "postal_address": {
        "line1": "1 rue de la Paix",
        "city": "Paris",
        "postal_code": "75002",
        "country": "FR",
    },
    "vat_id": "FR12345678901",
    "buyer_reference": "04011000-12345-34",
}


@dataclass
class Seller:
    api: Api
    org_id: str
    customer_id: str
    owner: str = "olivia"
    rates: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"/v1/orgs/{self.org_id}"

    def headers(self) -> dict[str, str]:
        return self.api.auth(self.owner)

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.api.client.request(
            method, f"{self.base}{path}", json=body, headers=self.headers()
        )

    async def rate(
        self,
        key: str,
        percentage: str,
        category: str | None,
        *,
        inclusive: bool = False,
        **extra: Any,
    ) -> str:
        """A tax rate, made once per key."""
        if key not in self.rates:
            body = {
                "display_name": key,
                "percentage": percentage,
                "inclusive": inclusive,
                "vat_category": category,
                **extra,
            }
            made = await self.call("POST", "/tax-rates", body)
            assert made.status_code == 201, made.text
            self.rates[key] = made.json()["id"]
        return self.rates[key]

    async def draft(self, lines: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
        payload = {"customer_id": self.customer_id, "lines": lines, **body}
        made = await self.call("POST", "/invoices", payload)
        assert made.status_code == 201, made.text
        invoice: dict[str, Any] = made.json()
        return invoice

    async def finalized(self, lines: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
        draft = await self.draft(lines, **body)
        done = await self.call(
            "POST", f"/invoices/{draft['id']}/finalize", {"issue_date": "2026-11-02"}
        )
        assert done.status_code == 200, done.text
        invoice: dict[str, Any] = done.json()
        return invoice


async def make_seller(
    api: Api, owner: str = "olivia", currency: str = "EUR", buyer: dict[str, Any] | None = None
) -> Seller:
    org = await api.create_org(owner, default_currency=currency, **SELLER)
    customer = await api.client.post(
        f"/v1/orgs/{org['id']}/customers", json=buyer or BUYER, headers=api.auth(owner)
    )
    assert customer.status_code == 201, customer.text
    return Seller(api, str(org["id"]), customer.json()["id"], owner)


@pytest.fixture
async def seller(api: Api) -> Seller:
    return await make_seller(api)


from tests.einvoices.validation import en16931 as en16931  # noqa: E402 - the session fixture
