"""Stored rows → API models (the API never recomputes figures: it shows what is stored)."""

from __future__ import annotations

from decimal import Decimal

from penvoice.invoices.repository import InvoiceRow, LineRow
from penvoice.invoices.schemas import DiscountInput, Invoice, Line, LineTax, Period


def decimal_text(value: Decimal) -> str:
    """Without trailing zeros or exponent: Decimal('2.5000') → '2.5', Decimal('10') → '10'."""
    return format(value.normalize(), "f")


def line_view(line: LineRow) -> Line:
    discount = None
    if line.discount_percent is not None:
        discount = DiscountInput(percent=decimal_text(line.discount_percent))
    elif line.discount_fixed is not None:
        discount = DiscountInput(amount=line.discount_fixed)
    return Line(
        id=line.id,
        position=line.position,
        description=line.description,
        quantity=decimal_text(line.quantity),
        unit_amount=line.unit_amount,
        discount=discount,
        amount=line.amount,
        discount_amount=line.discount_amount,
        net=line.net,
        tax_amount=line.tax_amount,
        total=line.total,
        taxes=[
            LineTax(
                tax_rate_id=tax.tax_rate_id,
                display_name=tax.display_name,
                percentage=decimal_text(tax.percentage),
                inclusive=tax.inclusive,
                taxable_amount=tax.taxable_amount,
                amount=tax.amount,
                vat_category=tax.vat_category,
            )
            for tax in line.taxes
        ],
    )


def invoice_view(invoice: InvoiceRow, lines: list[LineRow]) -> Invoice:
    period = None
    if invoice.period_start is not None and invoice.period_end is not None:
        period = Period(start=invoice.period_start, end=invoice.period_end)
    return Invoice(
        **invoice.__dict__, service_period=period, lines=[line_view(line) for line in lines]
    )
