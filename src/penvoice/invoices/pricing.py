"""Turn the client's line inputs into priced, stored lines with `money` — the only maths."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from penvoice import money
from penvoice.errors import ValidationFailed
from penvoice.invoices.repository import LineRow, LineTaxRow, Totals
from penvoice.invoices.schemas import LineInput


class RateInfo(Protocol):
    """What pricing needs of a tax rate (the taxes repository's rows have it)."""

    @property
    def display_name(self) -> str: ...
    @property
    def percentage(self) -> Decimal: ...
    @property
    def inclusive(self) -> bool: ...
    @property
    def vat_category(self) -> str | None: ...
    @property
    def exemption_reason(self) -> str: ...
    @property
    def exemption_code(self) -> str: ...


def price_lines(
    lines: Sequence[LineInput],
    rates: Mapping[UUID, RateInfo],
    currency: str,
    amount_paid: int = 0,
) -> tuple[list[LineRow], Totals]:
    inputs = [_money_line(line, rates) for line in lines]
    try:
        figures = money.compute_invoice(inputs, currency=currency, amount_paid=amount_paid)
    except money.MoneyError as exc:
        field = f"body.lines.{exc.line}" if exc.line is not None else "body.lines"
        raise ValidationFailed.for_field(field, str(exc), "money") from None
    rows = [
        _row(position, line, figure, rates)
        for position, (line, figure) in enumerate(zip(lines, figures.lines, strict=True))
    ]
    totals = Totals(
        figures.subtotal, figures.tax_total, figures.total, figures.amount_paid, figures.amount_due
    )
    return rows, totals


def _money_line(line: LineInput, rates: Mapping[UUID, RateInfo]) -> money.LineInput:
    discount = None
    if line.discount is not None:
        percent = money.parse_decimal(line.discount.percent) if line.discount.percent else None
        discount = money.Discount(percent=percent, amount=line.discount.amount)
    taxes = tuple(
        money.TaxRate(str(rate_id), rates[rate_id].percentage, rates[rate_id].inclusive)
        for rate_id in line.tax_rate_ids
    )
    return money.LineInput(
        quantity=money.parse_decimal(line.quantity),
        unit_amount=line.unit_amount,
        discount=discount,
        taxes=taxes,
    )


def _row(
    position: int, line: LineInput, figure: money.LineFigures, rates: Mapping[UUID, RateInfo]
) -> LineRow:
    taxes = tuple(
        LineTaxRow(
            UUID(tax.key),
            rates[UUID(tax.key)].display_name,
            tax.percentage,
            tax.inclusive,
            tax.taxable_amount,
            tax.amount,
            rates[UUID(tax.key)].vat_category,
            rates[UUID(tax.key)].exemption_reason,
            rates[UUID(tax.key)].exemption_code,
        )
        for tax in figure.taxes
    )
    discount = line.discount
    return LineRow(
        id=uuid.uuid4(),
        position=position,
        description=line.description,
        quantity=money.parse_decimal(line.quantity),
        unit_amount=line.unit_amount,
        discount_percent=money.parse_decimal(discount.percent)
        if discount and discount.percent
        else None,
        discount_fixed=discount.amount if discount else None,
        amount=figure.amount,
        discount_amount=figure.discount_amount,
        net=figure.net,
        tax_amount=figure.inclusive_tax + figure.exclusive_tax,
        total=figure.total,
        taxes=taxes,
    )
