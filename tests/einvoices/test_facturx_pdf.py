"""The PDF of an invoice that can be an e-invoice is a Factur-X PDF/A-3: its CII is attached
as Factur-X requires (the `factur-x` library reads it back), it passes the official rules,
and the PDF still reads as before. Other invoices keep their plain PDF."""

from __future__ import annotations

import io
from typing import Any

import facturx
import pytest
from pypdf import PdfReader

from tests.conftest import Api
from tests.einvoices.conftest import Seller, make_seller
from tests.einvoices.validation import Validator, fatal

pytestmark = pytest.mark.slow  # the PDF renders in the worker process


@pytest.mark.anyio
async def test_a_ready_invoice_is_a_factur_x_pdf_a_3(seller: Seller, en16931: Validator) -> None:
    s19 = await seller.rate("VAT 19", "19", "S")
    line = {
        "description": "Design work",
        "quantity": "12.5",
        "unit_amount": 8000,
        "discount": {"percent": "10"},
        "tax_rate_ids": [s19],
    }
    invoice = await seller.finalized([line], purchase_order_reference="PO-1")
    pdf = await seller.call("GET", f"/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    name, xml = facturx.get_xml_from_pdf(pdf.content, check_xsd=True)
    assert name == "factur-x.xml"
    cii = await seller.call("GET", f"/invoices/{invoice['id']}/e-invoice?format=cii")
    assert xml == cii.content
    assert fatal(en16931.cii(xml)) == []
    reader = PdfReader(io.BytesIO(pdf.content))
    root: Any = reader.trailer["/Root"].get_object()  # pypdf's objects are loosely typed
    metadata = root["/Metadata"].get_object().get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in metadata
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in metadata
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in metadata
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    attachment = root["/AF"][0].get_object()
    assert attachment["/AFRelationship"] == "/Data"
    # Still the invoice a person reads.
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert invoice["number"] in text
    assert "1,071.00" in text  # total: 12.5 × 80.00 − 10 % = 900.00 + 19 % VAT
    assert "VAT ID: DE123456789" in text
    assert "Hauptstraße 5" in text


@pytest.mark.anyio
async def test_an_invoice_that_is_not_ready_keeps_its_plain_pdf(api: Api) -> None:
    seller = await make_seller(api)
    unknown = await seller.call(
        "POST", "/tax-rates", {"display_name": "T", "percentage": "19", "inclusive": False}
    )
    line = {
        "description": "Work",
        "quantity": "1",
        "unit_amount": 100,
        "tax_rate_ids": [unknown.json()["id"]],
    }
    invoice = await seller.finalized([line])
    pdf = await seller.call("GET", f"/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200, pdf.text
    root: Any = PdfReader(io.BytesIO(pdf.content)).trailer["/Root"].get_object()
    assert "/AF" not in root
    assert facturx.get_xml_from_pdf(pdf.content, check_xsd=False) == (False, False)


def test_the_readme_sample_is_a_valid_factur_x(en16931: Validator) -> None:
    from penvoice.documents.sample import sample_facturx_pdf

    name, xml = facturx.get_xml_from_pdf(sample_facturx_pdf(), check_xsd=True)
    assert name == "factur-x.xml"
    assert en16931.cii_schema_errors(xml) == []
    assert fatal(en16931.cii(xml)) == []


def test_the_writers_express_a_credit_note_referencing_its_invoice(en16931: Validator) -> None:
    """CII type 381 and UBL CreditNote with the invoice as preceding document (BR-55): the
    syntax a credit-note feature builds on, checked by the official rules."""
    import dataclasses
    from datetime import date

    from penvoice.documents.sample import sample_e_invoice
    from penvoice.einvoices import cii, ubl
    from penvoice.einvoices.build import build
    from penvoice.einvoices.model import Reference

    invoice, lines = sample_e_invoice()
    doc = build(invoice, lines, invoice.org_snapshot, invoice.customer_snapshot, {})
    credit = dataclasses.replace(
        doc,
        kind="credit_note",
        number="CN-000001",
        issue_date=date(2026, 11, 20),
        preceding=Reference(doc.number, doc.issue_date),
    )
    cii_xml, ubl_xml = cii.render(credit), ubl.render(credit)
    assert b"<ram:TypeCode>381</ram:TypeCode>" in cii_xml
    assert b"<CreditNote " in ubl_xml
    assert en16931.cii_schema_errors(cii_xml) == []
    assert fatal(en16931.cii(cii_xml)) == []
    assert fatal(en16931.ubl(ubl_xml)) == []
