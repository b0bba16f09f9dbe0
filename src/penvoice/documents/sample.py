"""A sample invoice, priced by the same code as the API, for the README's picture.

python -m penvoice.documents.sample invoice.pdf
pdftoppm -png -r 110 -singlefile invoice.pdf docs/invoice-example
"""

from __future__ import annotations

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
        delivery_status=None,
        overdue=False,
    )
    return invoice, lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m penvoice.documents.sample OUT.pdf", file=sys.stderr)
        return 2
    Path(argv[0]).write_bytes(render_invoice_pdf(*sample_invoice()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
