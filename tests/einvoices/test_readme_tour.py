"""The README's tour, request for request (its JSON bodies parsed out of README.md), with
the answers it promises: ready before finalizing, AS-000001, CII, UBL and a Factur-X PDF,
then a credit note AS-CN-000001 with its UBL and PDF."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import facturx
import pytest

from tests.conftest import Api

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # PDFs start the render worker

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_bodies() -> list[Any]:
    """Each `-d '…'` body of the tour, with the shell variables as placeholders."""
    text = README.read_text()
    tour = text[text.index("ORG=$(curl") : text.index("| resource | routes |")]
    bodies = re.findall(r"-d '(.*?)'(?: \||\n)", tour, flags=re.DOTALL)
    # "'$CUSTOMER'" closes the shell quote around a variable: it reads "CUSTOMER" here.
    return [json.loads(re.sub(r"'\$([A-Z]+)'", r"\1", body)) for body in bodies]


def fill(value: Any, ids: dict[str, str]) -> Any:
    return json.loads(
        json.dumps(value)
        .replace('"CUSTOMER"', f'"{ids.get("customer", "")}"')
        .replace('"VAT"', f'"{ids.get("vat", "")}"')
    )


async def test_the_tour_works_as_written(api: Api) -> None:
    org_body, customer_body, vat_body, invoice_body, payment_body, credit_body, invite = (
        tour_bodies()
    )
    assert invite == {"email": "bob@example.com", "role": "viewer"}  # tried by tests/orgs
    auth = api.auth("tourist")
    org = await api.client.post("/v1/orgs", json=org_body, headers=auth)
    assert org.status_code == 201, org.text
    base = f"/v1/orgs/{org.json()['id']}"
    customer = await api.client.post(f"{base}/customers", json=customer_body, headers=auth)
    vat = await api.client.post(f"{base}/tax-rates", json=vat_body, headers=auth)
    assert customer.status_code == vat.status_code == 201, customer.text + vat.text
    ids = {"customer": customer.json()["id"], "vat": vat.json()["id"]}
    invoice = await api.client.post(
        f"{base}/invoices", json=fill(invoice_body, ids), headers={**auth, "Idempotency-Key": "t1"}
    )
    assert invoice.status_code == 201, invoice.text
    url = f"{base}/invoices/{invoice.json()['id']}"
    ready = await api.client.get(f"{url}/e-invoice/readiness", headers=auth)
    assert ready.json()["ready"] is True, ready.text
    done = await api.client.post(f"{url}/finalize", headers=auth)
    assert done.json()["number"] == "AS-000001"
    for format_ in ("cii", "ubl"):
        xml = await api.client.get(f"{url}/e-invoice?format={format_}", headers=auth)
        assert xml.status_code == 200, xml.text
    pdf = await api.client.get(f"{url}/pdf", headers=auth)
    assert facturx.get_xml_from_pdf(pdf.content, check_xsd=True)[0] == "factur-x.xml"
    paid = await api.client.post(f"{url}/payments", json=payment_body, headers=auth)
    assert paid.status_code == 201, paid.text
    assert paid.json()["amount"] == done.json()["total"] == 119000
    credit = await api.client.post(
        f"{url}/credit-notes", json=credit_body, headers={**auth, "Idempotency-Key": "t2"}
    )
    assert credit.status_code == 201, credit.text
    assert (credit.json()["number"], credit.json()["refunded"]) == ("AS-CN-000001", 11900)
    note = f"{base}/credit-notes/{credit.json()['id']}"
    ubl = await api.client.get(f"{note}/e-invoice?format=ubl", headers=auth)
    assert ubl.status_code == 200, ubl.text
    assert (await api.client.get(f"{note}/pdf", headers=auth)).status_code == 200
