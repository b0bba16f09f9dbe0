"""Money maths: the one place where invoice figures are computed.

Every amount is an ``int`` in the currency's **minor unit** (cents for USD, yen for JPY,
fils for KWD). The number of minor digits comes from ISO 4217 through the ``iso4217``
package; currencies for which ISO 4217 defines no minor unit (XAU, XDR, XXX, ...) are not
invoiceable and :func:`minor_digits` rejects them. Because unit amounts are already in
minor units, "round to the minor unit" means "round to an integer", whatever the currency.

Quantities and percentages (tax rates, percent discounts) are :class:`~decimal.Decimal`
values with at most 4 decimal places (checked by value, so ``Decimal("1.50000")`` is
fine); quantities are within 0 (excluded) and :data:`MAX_QUANTITY`, percentages within
0-100. Unit amounts, fixed discounts and payments are ints >= 0. Binary floating point is
never used: a ``float`` input is a ``TypeError``, and every intermediate value is an exact
rational computed with integers (``a x b / c`` is rounded with one integer division).

Invalid values raise :class:`MoneyError` (a ``ValueError``: the service answers 422),
wrong types raise ``TypeError``. The input dataclasses check their values when built.

Rounding rule
-------------
One rule everywhere: **round half up** (half away from zero: 2.5 -> 3, -2.5 -> -3,
2.4999 -> 2) to the minor unit, **per figure of each line, then sum**. Each figure is
rounded once, from the exact product or quotient of its inputs (which are ints or earlier,
already rounded figures); no other intermediate value is ever rounded or truncated.

Order of operations for one line
--------------------------------
1. ``amount = round(quantity x unit_amount)``.
2. ``discount_amount``: none -> 0; percent ``p`` -> ``round(amount x p / 100)``;
   fixed -> the given minor amount, which must not exceed ``amount``
   (:class:`DiscountExceedsAmount`, a :class:`MoneyError`, otherwise). Rejected rather
   than clamped: a figure is never silently changed, there is one source of truth for
   the rule, and the service answers 422 on the line's discount.
3. ``net = amount - discount_amount`` (never below zero).
4. Inclusive rates ``r1..rk`` (sum ``R``, at most 100 %) are carved out of ``net``. With
   the exact pre-tax value ``base = net / (1 + R/100)``, each inclusive tax is
   ``t_i = round(base x r_i / 100) = round(net x r_i / (100 + R))``, computed as one exact
   fraction (a rounded ``base`` can turn an exact .5 into .4999...: net 2 with 34 % and
   2 % included gives 2 x 34 / 136 = 0.5 -> 1, not 0).
   ``taxable_amount = net - sum(t_i)``, so the inclusive taxes and the taxable amount
   always add back to ``net`` exactly. (With R <= 100 % the rounded taxes can never
   exceed ``net``; above 100 % they could, so a line whose inclusive rates sum to more
   than 100 % is rejected.)
5. Each exclusive rate ``s_j`` is added on top of the net-of-inclusive base:
   ``e_j = round(taxable_amount x s_j / 100)``. Rates are not compound: every rate of a
   kind applies to the same base.
6. ``total = net + sum(e_j)``; ``inclusive_tax = sum(t_i)``; ``exclusive_tax = sum(e_j)``.

Invoice
-------
``subtotal = sum(net)``, ``inclusive_tax_total = sum(inclusive_tax)``,
``exclusive_tax_total = sum(exclusive_tax)``,
``tax_total = inclusive_tax_total + exclusive_tax_total``,
``total = subtotal + exclusive_tax_total`` (= sum of line totals),
``amount_due = total - amount_paid`` (``0 <= amount_paid <= total``).
The per-rate ``tax_summary`` (for the PDF) sums the per-line rounded figures by rate key,
in order of first appearance, so it always adds up to ``tax_total``. A key must mean the
same rate (percentage and inclusive flag) on every line of an invoice.

Every computed figure must fit in a PostgreSQL ``bigint``: otherwise
:class:`AmountOutOfRange` (a :class:`MoneyError`) is raised, so the service can answer 422.
Errors raised by :func:`compute_invoice` carry the 0-based index of the offending line
in ``MoneyError.line``.

Worked example (USD, 2 minor digits)
------------------------------------
Line: quantity ``2.5`` at ``unit_amount=1997`` (19.97), 15 % discount, VAT 20 %
inclusive, a 5 % levy exclusive.

=========================  ===============================  ==========================
figure                     exact value                      rounded (half up)
=========================  ===============================  ==========================
amount                     2.5 x 1997 = 4992.5              4993  (half-even: 4992)
discount_amount            4993 x 15 / 100 = 748.95         749
net                        4993 - 749                       4244
VAT (inclusive, 20 %)      4244 x 20 / 120 = 707.333...     707
taxable_amount             4244 - 707                       3537
levy (exclusive, 5 %)      3537 x 5 / 100 = 176.85          177
total                      4244 + 177                       4421  (44.21)
=========================  ===============================  ==========================

On an invoice with only this line and ``amount_paid=1000``: subtotal 4244, tax_total 884
(707 + 177), exclusive_tax_total 177, total 4421, amount_due 3421; the tax summary has
VAT (taxable 3537, tax 707) and the levy (taxable 3537, tax 177).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import iso4217

__all__ = [
    "BIGINT_MAX",
    "MAX_QUANTITY",
    "PLACES",
    "AmountOutOfRange",
    "Discount",
    "DiscountExceedsAmount",
    "InclusiveRatesOver100",
    "InvoiceFigures",
    "LineFigures",
    "LineInput",
    "LineTax",
    "MoneyError",
    "TaxRate",
    "TaxSummary",
    "compute_invoice",
    "compute_line",
    "format_amount",
    "minor_digits",
    "parse_decimal",
    "round_half_up",
    "to_decimal",
]

BIGINT_MAX = 2**63 - 1
"""Largest value of a PostgreSQL ``bigint``; every amount must satisfy ``|x| <= BIGINT_MAX``."""

PLACES = 4
"""Maximum number of decimal places of a quantity or a percentage."""

MAX_QUANTITY = Decimal("999999999999.9999")
"""Largest quantity (what a ``numeric(16, 4)`` column holds)."""

_SCALE = 10**PLACES  # a quantity or percentage times _SCALE is an integer
_HUNDRED_PERCENT = 100 * _SCALE  # 100 % in scaled units
_MAX_QUANTITY_SCALED = 10**16 - 1
_TOO_LARGE = 10**40  # stands for any scaled value far beyond every accepted range


class MoneyError(ValueError):
    """Invalid figures. ``line`` is the 0-based index of the line at fault, when known."""

    line: int | None = None


class AmountOutOfRange(MoneyError):
    """A figure (or an input that is stored as one) does not fit in a PostgreSQL bigint."""

    def __init__(self, figure: str, value: int) -> None:
        super().__init__(f"{figure} is out of range: |{value}| > {BIGINT_MAX}")
        self.figure = figure
        self.value = value


class InclusiveRatesOver100(MoneyError):
    """The inclusive tax rates of one line sum to more than 100 %."""

    def __init__(self, total: Decimal) -> None:
        super().__init__(
            f"the inclusive tax rates of a line must sum to at most 100 %, not {total:f} %"
        )
        self.total = total


class DiscountExceedsAmount(MoneyError):
    """A fixed discount is larger than the line amount it applies to."""

    def __init__(self, discount: int, amount: int) -> None:
        super().__init__(f"discount {discount} exceeds the line amount {amount}")
        self.discount = discount
        self.amount = amount


# --- rounding and validation primitives -------------------------------------------------


def _div_round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero, exactly (denominator > 0)."""
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return -magnitude if numerator < 0 else magnitude


def round_half_up(value: Decimal) -> int:
    """Round a finite Decimal to an integer, halves away from zero: 2.5 -> 3, -2.5 -> -3."""
    _require_decimal(value, "value")
    if not value.is_finite():
        raise MoneyError(f"cannot round {value}")
    if not value or value.adjusted() < -1:  # |value| < 0.1 (or zero)
        return 0
    numerator, denominator = value.as_integer_ratio()
    return _div_round_half_up(numerator, denominator)


def _require_decimal(value: object, what: str) -> None:
    # bool and float are refused on purpose: money never goes through binary floating point.
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, not {type(value).__name__}")


def _require_int(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")


def _scaled(value: Decimal, what: str) -> int:
    """``value x 10**PLACES`` as an exact int; MoneyError if it has more than PLACES places.

    Values far too large for any range checked by the callers come back as ``_TOO_LARGE``
    instead of being expanded into a huge integer.
    """
    _require_decimal(value, what)
    if not value.is_finite():
        raise MoneyError(f"{what} must be a finite number, not {value}")
    sign, digits, exponent = value.as_tuple()
    if not any(digits):
        return 0
    if value.adjusted() > 30:
        return -_TOO_LARGE if sign else _TOO_LARGE
    assert isinstance(exponent, int)  # finite, so never 'n', 'N' or 'F'
    shift = exponent + PLACES
    if shift >= 0:
        magnitude = int("".join(map(str, digits)) + "0" * shift)
    else:
        dropped = digits[shift:]  # the digits beyond the PLACES-th decimal place
        if len(dropped) >= len(digits) or any(dropped):
            raise MoneyError(f"{what} must have at most {PLACES} decimal places, not {value}")
        magnitude = int("".join(map(str, digits[:shift])))
    return -magnitude if sign else magnitude


def _percentage(value: Decimal, what: str) -> int:
    scaled = _scaled(value, what)
    if not 0 <= scaled <= _HUNDRED_PERCENT:
        raise MoneyError(f"{what} must be between 0 and 100, not {value}")
    return scaled


def _quantity(value: Decimal) -> int:
    scaled = _scaled(value, "quantity")
    if scaled <= 0:
        raise MoneyError(f"quantity must be greater than 0, not {value}")
    if scaled > _MAX_QUANTITY_SCALED:
        raise MoneyError(f"quantity must be at most {MAX_QUANTITY}, not {value}")
    return scaled


def _amount_input(value: int, what: str) -> None:
    _require_int(value, what)
    if value < 0:
        raise MoneyError(f"{what} must be >= 0, not {value}")
    _fits(what, value)


def _fits(figure: str, value: int) -> int:
    if abs(value) > BIGINT_MAX:
        raise AmountOutOfRange(figure, value)
    return value


# --- currencies --------------------------------------------------------------------------


def minor_digits(currency: str) -> int:
    """ISO 4217 minor digits of an invoiceable currency: JPY 0, USD 2, KWD 3, CLF 4.

    ``currency`` is the upper-case alphabetic code. Unknown codes and codes without a
    defined minor unit (XAU, XXX, XDR, ...) raise MoneyError.
    """
    if not isinstance(currency, str):
        raise TypeError(f"currency must be a str, not {type(currency).__name__}")
    try:
        exponent = iso4217.Currency(currency).exponent
    except ValueError:
        raise MoneyError(f"unknown currency code {currency!r}") from None
    if exponent is None:
        raise MoneyError(f"currency {currency} has no minor unit and cannot be invoiced")
    return exponent


def format_amount(amount: int, currency: str) -> str:
    """``amount`` minor units as a plain number: USD 123450 -> "1,234.50", JPY 1235 ->
    "1,235", KWD 1235 -> "1.235", USD -5 -> "-0.05". No symbol, no locale."""
    _require_int(amount, "amount")
    digits = minor_digits(currency)
    whole, fraction = divmod(abs(amount), 10**digits)
    text = f"{whole:,}"
    if digits:
        text += f".{fraction:0{digits}d}"
    return f"-{text}" if amount < 0 else text


def to_decimal(amount: int, currency: str) -> Decimal:
    """``amount`` minor units as an exact Decimal in major units: USD 1234 -> 12.34."""
    _require_int(amount, "amount")
    digits = minor_digits(currency)
    sign = 1 if amount < 0 else 0
    return Decimal((sign, tuple(int(d) for d in str(abs(amount))), -digits))


_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,30}(?:\.[0-9]+)?")


def parse_decimal(text: str, *, places: int = PLACES) -> Decimal:
    """Parse a plain decimal string ("12", "0.5", "-3.1416") with at most ``places``
    decimal places. No exponent, NaN, infinity, whitespace, "+", ".5" or "5."."""
    if places < 0:
        raise MoneyError("places must be >= 0")
    if not isinstance(text, str) or not _DECIMAL_TEXT.fullmatch(text):
        raise MoneyError(f"not a plain decimal number: {text!r}")
    _, _, fraction = text.partition(".")
    if len(fraction) > places:
        raise MoneyError(f"at most {places} decimal places allowed: {text!r}")
    return Decimal(text)


# --- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A tax rate as applied to a line. ``key`` identifies it (e.g. the tax rate id) and
    groups the invoice's tax summary; ``percentage`` is 0-100 with at most 4 places."""

    key: str
    percentage: Decimal
    inclusive: bool

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise MoneyError("tax rate key must be a non-empty str")
        _percentage(self.percentage, "tax percentage")
        if not isinstance(self.inclusive, bool):
            raise TypeError("inclusive must be a bool")


@dataclass(frozen=True, slots=True)
class Discount:
    """A line discount: exactly one of ``percent`` (0-100, at most 4 places) or ``amount``
    (fixed, in minor units, >= 0)."""

    percent: Decimal | None = None
    amount: int | None = None

    def __post_init__(self) -> None:
        if (self.percent is None) == (self.amount is None):
            raise MoneyError("a discount has exactly one of percent or amount")
        if self.percent is not None:
            _percentage(self.percent, "discount percent")
        if self.amount is not None:
            _amount_input(self.amount, "discount amount")


@dataclass(frozen=True, slots=True)
class LineInput:
    """One invoice line. ``taxes`` may be given as any iterable; it is kept as a tuple.

    Rules checked here: quantity > 0 with at most 4 places, 0 <= unit_amount <= bigint,
    distinct tax keys, inclusive percentages summing to at most 100.
    """

    quantity: Decimal
    unit_amount: int
    discount: Discount | None = None
    taxes: tuple[TaxRate, ...] = ()

    def __post_init__(self) -> None:
        _quantity(self.quantity)
        _amount_input(self.unit_amount, "unit amount")
        if self.discount is not None and not isinstance(self.discount, Discount):
            raise TypeError("discount must be a Discount or None")
        object.__setattr__(self, "taxes", tuple(self.taxes))
        keys: set[str] = set()
        inclusive_total = 0
        for rate in self.taxes:
            if not isinstance(rate, TaxRate):
                raise TypeError("taxes must be TaxRate values")
            if rate.key in keys:
                raise MoneyError(f"tax rate {rate.key!r} appears twice on one line")
            keys.add(rate.key)
            if rate.inclusive:
                inclusive_total += _percentage(rate.percentage, "tax percentage")
        if inclusive_total > _HUNDRED_PERCENT:
            raise InclusiveRatesOver100(Decimal(inclusive_total).scaleb(-PLACES).normalize())


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineTax:
    """One tax of one line: ``amount`` of tax computed on ``taxable_amount``."""

    key: str
    inclusive: bool
    percentage: Decimal
    taxable_amount: int
    amount: int


@dataclass(frozen=True, slots=True)
class LineFigures:
    """The figures of one line (see the module docstring for their definitions).

    ``net == taxable_amount + inclusive_tax`` and ``total == net + exclusive_tax``.
    """

    amount: int
    discount_amount: int
    net: int
    taxable_amount: int
    taxes: tuple[LineTax, ...]
    inclusive_tax: int
    exclusive_tax: int
    total: int


@dataclass(frozen=True, slots=True)
class TaxSummary:
    """One rate on the invoice: the sums of its per-line taxable amounts and taxes."""

    key: str
    inclusive: bool
    percentage: Decimal
    taxable_amount: int
    amount: int


@dataclass(frozen=True, slots=True)
class InvoiceFigures:
    """The figures of an invoice (see the module docstring for their definitions)."""

    currency: str
    lines: tuple[LineFigures, ...]
    subtotal: int
    inclusive_tax_total: int
    exclusive_tax_total: int
    tax_total: int
    total: int
    amount_paid: int
    amount_due: int
    tax_summary: tuple[TaxSummary, ...]


# --- computation -------------------------------------------------------------------------


def compute_line(line: LineInput) -> LineFigures:
    """Compute one line's figures; see the module docstring for the exact rule."""
    quantity = _quantity(line.quantity)
    amount = _fits("amount", _div_round_half_up(quantity * line.unit_amount, _SCALE))

    discount = line.discount
    if discount is None:
        discount_amount = 0
    elif discount.percent is not None:
        percent = _percentage(discount.percent, "discount percent")
        discount_amount = _div_round_half_up(amount * percent, _HUNDRED_PERCENT)
    else:
        assert discount.amount is not None  # Discount guarantees one of the two
        discount_amount = discount.amount
        if discount_amount > amount:
            raise DiscountExceedsAmount(discount_amount, amount)
    net = amount - discount_amount

    inclusive = [
        (rate, _percentage(rate.percentage, "tax percentage"))
        for rate in line.taxes
        if rate.inclusive
    ]
    divisor = _HUNDRED_PERCENT + sum(scaled for _, scaled in inclusive)
    carved = {rate.key: _div_round_half_up(net * scaled, divisor) for rate, scaled in inclusive}
    inclusive_tax = sum(carved.values())
    taxable_amount = net - inclusive_tax  # >= 0 because the inclusive rates sum to <= 100 %

    taxes: list[LineTax] = []
    exclusive_tax = 0
    for rate in line.taxes:
        if rate.inclusive:
            tax = carved[rate.key]
        else:
            scaled = _percentage(rate.percentage, "tax percentage")
            # <= taxable_amount: a rate is at most 100 %
            tax = _div_round_half_up(taxable_amount * scaled, _HUNDRED_PERCENT)
            exclusive_tax += tax
        taxes.append(LineTax(rate.key, rate.inclusive, rate.percentage, taxable_amount, tax))

    return LineFigures(
        amount=amount,
        discount_amount=discount_amount,
        net=net,
        taxable_amount=taxable_amount,
        taxes=tuple(taxes),
        inclusive_tax=inclusive_tax,
        exclusive_tax=_fits("exclusive tax", exclusive_tax),
        total=_fits("line total", net + exclusive_tax),
    )


def compute_invoice(
    lines: Sequence[LineInput], *, currency: str, amount_paid: int = 0
) -> InvoiceFigures:
    """Compute every figure of an invoice from its lines: per line, then sums.

    ``currency`` must be invoiceable (:func:`minor_digits`); ``0 <= amount_paid <= total``.
    A :class:`MoneyError` caused by one line carries that line's index in ``line``.
    """
    minor_digits(currency)
    _amount_input(amount_paid, "amount paid")

    figures: list[LineFigures] = []
    for index, line in enumerate(lines):
        if not isinstance(line, LineInput):
            raise TypeError("lines must be LineInput values")
        try:
            figures.append(compute_line(line))
        except MoneyError as exc:
            exc.line = index
            raise

    subtotal = _fits("subtotal", sum(f.net for f in figures))
    inclusive_tax_total = sum(f.inclusive_tax for f in figures)  # <= subtotal
    exclusive_tax_total = _fits("exclusive tax total", sum(f.exclusive_tax for f in figures))
    total = _fits("total", subtotal + exclusive_tax_total)
    tax_total = inclusive_tax_total + exclusive_tax_total  # <= total
    if amount_paid > total:
        raise MoneyError(f"amount paid {amount_paid} exceeds the invoice total {total}")

    return InvoiceFigures(
        currency=currency,
        lines=tuple(figures),
        subtotal=subtotal,
        inclusive_tax_total=inclusive_tax_total,
        exclusive_tax_total=exclusive_tax_total,
        tax_total=tax_total,
        total=total,
        amount_paid=amount_paid,
        amount_due=total - amount_paid,
        tax_summary=_summarise(figures),
    )


def _summarise(figures: Sequence[LineFigures]) -> tuple[TaxSummary, ...]:
    """Per-rate sums of the lines' rounded figures, in order of first appearance.

    Each sum of taxable amounts is at most the subtotal and each sum of taxes at most the
    tax total, so they fit whenever those do.
    """
    summary: dict[str, TaxSummary] = {}
    for index, line in enumerate(figures):
        for tax in line.taxes:
            seen = summary.get(tax.key)
            if seen is None:
                seen = TaxSummary(tax.key, tax.inclusive, tax.percentage, 0, 0)
            elif (seen.inclusive, seen.percentage) != (tax.inclusive, tax.percentage):
                error = MoneyError(
                    f"tax rate {tax.key!r} has different percentages or inclusive flags "
                    "on different lines"
                )
                error.line = index
                raise error
            summary[tax.key] = TaxSummary(
                seen.key,
                seen.inclusive,
                seen.percentage,
                seen.taxable_amount + tax.taxable_amount,
                seen.amount + tax.amount,
            )
    return tuple(summary.values())
