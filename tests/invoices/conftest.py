"""An organisation ready to invoice: an owner, a customer, an inclusive and an exclusive rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Api


@dataclass
class Billing:
    api: Api
    org_id: str
    customer_id: str
    vat_inclusive: str
    levy_exclusive: str
    owner: str = "olivia"

    @property
    def base(self) -> str:
        return f"/v1/orgs/{self.org_id}"

    def headers(self, **extra: str) -> dict[str, str]:
        return {**self.api.auth(self.owner), **extra}

    async def draft(self, lines: list[dict[str, Any]] | None = None, **body: Any) -> dict[str, Any]:
        payload = {"customer_id": self.customer_id, "lines": lines or [LINE], **body}
        response = await self.api.client.post(
            f"{self.base}/invoices", json=payload, headers=self.headers()
        )
        assert response.status_code == 201, response.text
        invoice: dict[str, Any] = response.json()
        return invoice

    async def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return await self.api.client.post(
            f"{self.base}{path}", json=body, headers=self.headers(**headers)
        )


LINE = {"description": "Consulting", "quantity": "2.5", "unit_amount": 1997}


async def make_billing(api: Api, owner: str = "olivia") -> Billing:
    org = await api.create_org(owner, default_currency="USD", invoice_prefix="INV-")
    base = f"/v1/orgs/{org['id']}"
    headers = api.auth(owner)
    customer = await api.client.post(
        f"{base}/customers",
        headers=headers,
        json={"name": "Ünïcode Kunde GmbH", "email": "ap@kunde.de"},
    )
    assert customer.status_code == 201, customer.text
    vat = await api.client.post(
        f"{base}/tax-rates",
        headers=headers,
        json={"display_name": "VAT", "percentage": "20", "inclusive": True},
    )
    levy = await api.client.post(
        f"{base}/tax-rates",
        headers=headers,
        json={"display_name": "Levy", "percentage": "5", "inclusive": False},
    )
    assert vat.status_code == levy.status_code == 201, vat.text + levy.text
    return Billing(
        api, str(org["id"]), customer.json()["id"], vat.json()["id"], levy.json()["id"], owner
    )


@pytest.fixture
async def billing(api: Api) -> Billing:
    return await make_billing(api)
