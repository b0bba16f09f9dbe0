"""Sample invoices, priced by the same code as the API, for the README's pictures.

python -m penvoice.documents.sample invoice.pdf
pdftoppm -png -r 110 -singlefile invoice.pdf docs/invoice-example
python -m penvoice.documents.sample --factur-x facturx.pdf   # PDF/A-3 with its CII
pdftoppm -png -r 110 -singlefile facturx.pdf docs/facturx-invoice-example
python -m penvoice.documents.sample --credit-note credit-note.pdf
pdftoppm -png -r 110 -singlefile credit-note.pdf docs/credit-note-example
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from penvoice.documents.pdf import render_invoice_pdf
from penvoice.invoices.pricing import price_lines
from penvoice.invoices.repository import InvoiceRow, LineRow
from penvoice.invoices.schemas import LineInput


@dataclass(frozen=True)
class _Rate:
    display_name: str
    percentage: Decimal
    inclusive: bool
    vat_category: str | None = None
    exemption_reason: str = ""
    exemption_code: str = ""


VAT = UUID(int=1)
SERVICE_TAX = UUID(int=2)
RATES = {
    VAT: _Rate("VAT", Decimal(19), inclusive=False),
    SERVICE_TAX: _Rate("Service tax", Decimal(5), inclusive=True),
}
LINES = [
    {
        "description": "Brand identity workshop, two days on site: preparation, facilitation "
        "and a written summary of the outcomes for the leadership team",
        "quantity": "2",
        "unit_amount": 120000,
        "discount": {"percent": "10"},
        "tax_rate_ids": [VAT],
    },
    {
        "description": "Design work — Ελληνικά / Русский / 日本語 localisation",
        "quantity": "12.5",
        "unit_amount": 8000,
        "tax_rate_ids": [VAT, SERVICE_TAX],
    },
    {"description": "Hosting (November)", "quantity": "1", "unit_amount": 2999},
    {
        "description": "北京办公室 — on-site support",
        "quantity": "3",
        "unit_amount": 4500,
        "discount": {"amount": 1500},
        "tax_rate_ids": [SERVICE_TAX],
    },
]


def sample_invoice() -> tuple[InvoiceRow, list[LineRow]]:
    inputs = [LineInput.model_validate(line) for line in LINES]
    lines, totals = price_lines(inputs, RATES, "EUR")
    finalized = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    invoice = InvoiceRow(
        id=UUID(int=10),
        customer_id=UUID(int=11),
        status="paid",
        currency="EUR",
        number="AN-000042",
        issue_date=date(2026, 11, 2),
        due_date=date(2026, 11, 16),
        memo="Thank you for your business. Bank transfer to IBAN DE89 3704 0044 0532 0130 00, "
        "quoting the invoice number.",
        subtotal=totals.subtotal,
        tax_total=totals.tax_total,
        total=totals.total,
        amount_paid=totals.total,
        amount_due=0,
        org_snapshot={
            "name": "Atelier Nord GmbH",
            "address": "Hauptstraße 5\n10115 Berlin\nGermany",
            "tax_id": "DE123456789",
        },
        customer_snapshot={
            "name": "Ελληνική Εταιρεία Α.Ε.",
            "email": "ap@example.gr",
            "billing_address": "Λεωφόρος Κηφισίας 10\n115 26 Αθήνα\nGreece",
            "tax_id": "EL999999999",
        },
        version=4,
        created_at=finalized,
        created_by="sample",
        updated_at=finalized,
        finalized_at=finalized,
        finalized_by="sample",
        paid_at=finalized,
        voided_at=None,
        voided_by=None,
        uncollectible_at=None,
        uncollectible_by=None,
        buyer_reference="",
        purchase_order_reference="",
        supply_date=None,
        period_start=None,
        period_end=None,
        delivery_status=None,
        amount_credited=0,
        amount_refunded=0,
        overdue=False,
    )
    return invoice, lines


STANDARD = UUID(int=3)
REDUCED = UUID(int=4)
E_RATES = {
    STANDARD: _Rate("VAT", Decimal(19), inclusive=False, vat_category="S"),
    REDUCED: _Rate("VAT", Decimal(7), inclusive=True, vat_category="S"),
}
E_LINES = [
    {
        "description": "Brand identity workshop, two days on site",
        "quantity": "2",
        "unit_amount": 120000,
        "discount": {"percent": "10"},
        "tax_rate_ids": [STANDARD],
    },
    {
        "description": "Design work",
        "quantity": "12.5",
        "unit_amount": 8000,
        "tax_rate_ids": [STANDARD],
    },
    {
        "description": "Printed style guide, 20 copies",
        "quantity": "20",
        "unit_amount": 1499,
        "tax_rate_ids": [REDUCED],
    },
]


def sample_e_invoice() -> tuple[InvoiceRow, list[LineRow]]:
    """An open invoice with the legal data of issue 13: one VAT rate per line, structured
    addresses, VAT identifiers and a bank account — what a Factur-X invoice needs."""
    invoice, _ = sample_invoice()
    inputs = [LineInput.model_validate(line) for line in E_LINES]
    lines, totals = price_lines(inputs, E_RATES, "EUR")
    seller = {
        "name": "Atelier Nord",
        "address": "",
        "tax_id": "",
        "legal_name": "Atelier Nord GmbH",
        "postal_address": {
            "line1": "Hauptstraße 5",
            "line2": "",
            "city": "Berlin",
            "postal_code": "10115",
            "subdivision": "",
            "country": "DE",
        },
        "vat_id": "DE123456789",
        "legal_registration_id": "HRB 123456 B",
        "contact": {
            "name": "Anna Nord",
            "phone": "+49 30 1234567",
            "email": "billing@atelier-nord.example",
        },
        "payment_account": {
            "iban": "DE89370400440532013000",
            "bic": "COBADEFFXXX",
            "account_name": "Atelier Nord GmbH",
        },
    }
    buyer = {
        "name": "Kunde SARL",
        "email": "ap@kunde.example",
        "billing_address": "",
        "tax_id": "",
        "postal_address": {
            "line1": "1 rue de la Paix",
            "line2": "",
            "city": "Paris",
            "postal_code": "75002",
            "subdivision": "",
            "country": "FR",
        },
        "vat_id": "FR12345678901",
        "buyer_reference": "KUNDE-2026-11",
    }
    e_invoice = dataclasses.replace(
        invoice,
        status="open",
        number="AN-000043",
        memo="Payment by SEPA transfer within 14 days, quoting the invoice number.",
        subtotal=totals.subtotal,
        tax_total=totals.tax_total,
        total=totals.total,
        amount_paid=0,
        amount_due=totals.total,
        org_snapshot=seller,
        customer_snapshot=buyer,
        paid_at=None,
        purchase_order_reference="PO-4711",
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
    )
    return e_invoice, lines


def sample_facturx_pdf() -> bytes:
    from penvoice.documents.hybrid import embed  # noqa: PLC0415
    from penvoice.einvoices.build import build  # noqa: PLC0415
    from penvoice.einvoices.cii import render  # noqa: PLC0415

    invoice, lines = sample_e_invoice()
    doc = build(invoice, lines, invoice.org_snapshot, invoice.customer_snapshot, {})
    return embed(render_invoice_pdf(invoice, lines, pdfa=True), render(doc), invoice)


def sample_credit_note_pdf() -> bytes:
    """A credit note for the style-guide line of `sample_e_invoice`, after payment in full:
    all of it is a refund."""
    from penvoice.documents.labels import credit_note_labels  # noqa: PLC0415

    invoice, lines = sample_e_invoice()
    credited = [dataclasses.replace(lines[2], position=0)]
    total = credited[0].total
    note = dataclasses.replace(
        invoice,
        number="AN-CN-000007",
        issue_date=date(2026, 11, 20),
        due_date=date(2026, 11, 20),
        memo="Style guide returned: 20 copies printed with the wrong logo.",
        subtotal=credited[0].net,
        tax_total=credited[0].tax_amount,
        total=total,
        amount_paid=total,  # refunded
        amount_due=0,  # taken off the amount due
        purchase_order_reference="",
        period_start=None,
        period_end=None,
    )
    return render_invoice_pdf(note, credited, labels=credit_note_labels(str(invoice.number)))


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--credit-note":
        Path(argv[1]).write_bytes(sample_credit_note_pdf())
        return 0
    if len(argv) == 2 and argv[0] == "--factur-x":
        Path(argv[1]).write_bytes(sample_facturx_pdf())
        return 0
    if len(argv) != 1:
        print(
            "usage: python -m penvoice.documents.sample [--factur-x|--credit-note] OUT.pdf",
            file=sys.stderr,
        )
        return 2
    Path(argv[0]).write_bytes(render_invoice_pdf(*sample_invoice()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
