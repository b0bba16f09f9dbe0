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


def price_body_lines(
    lines: Sequence[LineInput], rates: Mapping[UUID, RateInfo], currency: str
) -> tuple[list[LineRow], Totals]:
    """`price_lines` for the lines of a request body: a money rule broken is a 422 naming
    the line (or its `tax_rate_ids` when its rates are at fault)."""
    try:
        return price_lines(lines, rates, currency)
    except money.MoneyError as exc:
        raise ValidationFailed.for_field(
            money_error_field(exc, "body.lines"), str(exc), "money"
        ) from None


def money_error_field(exc: money.MoneyError, prefix: str) -> str:
    """The field a money error names: `prefix.N` for line N, `prefix.N.tax_rate_ids` when
    the line's tax rates are at fault, `prefix` for the invoice as a whole."""
    if exc.line is None:
        return prefix
    if isinstance(exc, money.InclusiveRatesOver100):
        return f"{prefix}.{exc.line}.tax_rate_ids"
    return f"{prefix}.{exc.line}"


def price_lines(
    lines: Sequence[LineInput],
    rates: Mapping[UUID, RateInfo],
    currency: str,
    amount_paid: int = 0,
) -> tuple[list[LineRow], Totals]:
    """Price every line with `money`. Raises `money.MoneyError` with `line` set to the
    index of the line at fault, when one is."""
    inputs = []
    for index, line in enumerate(lines):
        try:
            inputs.append(_money_line(line, rates))
        except money.MoneyError as exc:
            exc.line = index
            raise
    figures = money.compute_invoice(inputs, currency=currency, amount_paid=amount_paid)
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
