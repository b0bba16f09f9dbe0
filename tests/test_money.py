"""Money maths: examples that pin the rounding rule, and generated invoices that must
reconcile exactly and match an independent reference computation.

The reference (``reference_invoice``) is deliberately written another way than
``penvoice.money``: plain ``decimal`` arithmetic in a 200-digit context and
``quantize(Decimal(1), ROUND_HALF_UP)``, instead of scaled integers and floor division.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from penvoice import money
from penvoice.money import (
    BIGINT_MAX,
    MAX_QUANTITY,
    AmountOutOfRange,
    Discount,
    DiscountExceedsAmount,
    InvoiceFigures,
    LineFigures,
    LineInput,
    MoneyError,
    TaxRate,
    compute_invoice,
    compute_line,
    format_amount,
    minor_digits,
    parse_decimal,
    round_half_up,
    to_decimal,
)

D = Decimal
PROPERTY = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def line(
    quantity: str | int,
    unit_amount: int,
    *taxes: TaxRate,
    discount: Discount | None = None,
) -> LineInput:
    return LineInput(D(quantity), unit_amount, discount, taxes)


def inc(key: str, pct: str | int) -> TaxRate:
    return TaxRate(key, D(pct), inclusive=True)


def exc(key: str, pct: str | int) -> TaxRate:
    return TaxRate(key, D(pct), inclusive=False)


# --- currencies and formatting ------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "digits"), [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("KWD", 3), ("CLF", 4)]
)
def test_minor_digits_come_from_iso4217(currency: str, digits: int) -> None:
    assert minor_digits(currency) == digits


@pytest.mark.parametrize("currency", ["XAU", "XXX", "XDR", "XTS"])
def test_currencies_without_minor_unit_are_not_invoiceable(currency: str) -> None:
    with pytest.raises(MoneyError, match="no minor unit"):
        minor_digits(currency)
    with pytest.raises(ValueError, match="no minor unit"):
        compute_invoice([line(1, 100)], currency=currency)


@pytest.mark.parametrize("currency", ["ABC", "usd", "US", "", " USD"])
def test_unknown_currency_codes_are_rejected(currency: str) -> None:
    with pytest.raises(MoneyError, match="unknown currency"):
        minor_digits(currency)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (123450, "USD", "1,234.50"),
        (5, "USD", "0.05"),
        (0, "USD", "0.00"),
        (-123450, "USD", "-1,234.50"),
        (-5, "USD", "-0.05"),
        (1235, "JPY", "1,235"),
        (1234567890, "JPY", "1,234,567,890"),
        (1235, "KWD", "1.235"),
        (1234567, "KWD", "1,234.567"),
        (1, "CLF", "0.0001"),
        (BIGINT_MAX, "USD", "92,233,720,368,547,758.07"),
    ],
)
def test_format_amount(amount: int, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text


def test_format_amount_refuses_bad_input() -> None:
    with pytest.raises(MoneyError):
        format_amount(1, "XAU")
    with pytest.raises(TypeError):
        format_amount(1.5, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "value"),
    [(1234, "USD", "12.34"), (1234, "JPY", "1234"), (1234, "KWD", "1.234"), (-5, "USD", "-0.05")],
)
def test_to_decimal_is_exact(amount: int, currency: str, value: str) -> None:
    result = to_decimal(amount, currency)
    assert result == D(value)
    assert str(result) == value


@pytest.mark.parametrize(
    ("text", "value"), [("12", "12"), ("0.5", "0.5"), ("-3.1416", "-3.1416"), ("007.50", "7.5")]
)
def test_parse_decimal(text: str, value: str) -> None:
    assert parse_decimal(text) == D(value)


@pytest.mark.parametrize(
    "text", ["1.23456", "1e3", "NaN", "Infinity", "inf", " 1", "1 ", "", "1.", ".5", "+1", "1,5"]
)
def test_parse_decimal_rejects(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_decimal(text)


def test_parse_decimal_places() -> None:
    assert parse_decimal("3", places=0) == 3
    with pytest.raises(MoneyError):
        parse_decimal("3.0", places=0)


# --- the rounding rule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.5", 1),
        ("1.5", 2),
        ("2.5", 3),  # half-even would give 2
        ("-0.5", -1),
        ("-2.5", -3),
        ("0.4999", 0),
        ("-0.4999", 0),
        ("2.4999999999999999999999999999999", 2),
        ("2.5000000000000000000000000000001", 3),
        ("0.05", 0),
        ("-0.05", 0),
        ("0", 0),
        ("-0", 0),
        ("1E+2", 100),
        ("12345678901234567890123456789.5", 12345678901234567890123456790),
        ("7", 7),
    ],
)
def test_round_half_up(value: str, rounded: int) -> None:
    assert round_half_up(D(value)) == rounded


def test_round_half_up_refuses_non_decimals() -> None:
    with pytest.raises(TypeError):
        round_half_up(2.5)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        round_half_up(D("NaN"))
    with pytest.raises(MoneyError):
        round_half_up(D("Infinity"))


@pytest.mark.parametrize(
    ("quantity", "unit_amount", "amount"),
    [
        ("0.5", 1, 1),
        ("1.5", 1, 2),
        ("2.5", 1, 3),
        ("0.0001", 4999, 0),
        ("0.0001", 5000, 1),
        ("2.5", 1997, 4993),
        ("3", 333, 999),
        ("1.50000", 100, 150),  # trailing zeros beyond 4 places are fine
        ("1E+3", 7, 7000),
    ],
)
def test_line_amount_rounds_half_up(quantity: str, unit_amount: int, amount: int) -> None:
    assert compute_line(line(quantity, unit_amount)).amount == amount


def test_the_docstring_worked_example() -> None:
    item = line("2.5", 1997, inc("vat", 20), exc("levy", 5), discount=Discount(percent=D(15)))
    figures = compute_line(item)
    assert figures.amount == 4993
    assert figures.discount_amount == 749
    assert figures.net == 4244
    assert [t.amount for t in figures.taxes] == [707, 177]
    assert figures.taxable_amount == 3537
    assert figures.total == 4421
    invoice = compute_invoice([item], currency="USD", amount_paid=1000)
    assert (invoice.subtotal, invoice.tax_total, invoice.exclusive_tax_total) == (4244, 884, 177)
    assert (invoice.total, invoice.amount_due) == (4421, 3421)
    assert [(s.key, s.taxable_amount, s.amount) for s in invoice.tax_summary] == [
        ("vat", 3537, 707),
        ("levy", 3537, 177),
    ]
    assert format_amount(invoice.total, "USD") == "44.21"
    assert money.__doc__ is not None
    assert "4993 x 15 / 100 = 748.95" in money.__doc__


@pytest.mark.parametrize(
    ("currency", "total_text", "tax_text"),
    [("JPY", "4,072", "370"), ("USD", "40.72", "3.70"), ("KWD", "4.072", "0.370")],
)
def test_minor_units_make_the_maths_currency_independent(
    currency: str, total_text: str, tax_text: str
) -> None:
    # 3 x 1234 = 3702 minor units; 10 % of 3702 = 370.2 -> 370
    invoice = compute_invoice([line(3, 1234, exc("t", 10))], currency=currency)
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (3702, 370, 4072)
    assert format_amount(invoice.total, currency) == total_text
    assert format_amount(invoice.tax_total, currency) == tax_text


@pytest.mark.parametrize(("taxable", "tax"), [(10, 1), (30, 2), (50, 3), (70, 4), (9, 0), (11, 1)])
def test_exclusive_tax_rounds_half_up(taxable: int, tax: int) -> None:
    # 5 % of 10, 30, 50, 70 = 0.5, 1.5, 2.5, 3.5 -> 1, 2, 3, 4 (half-even: 0, 2, 2, 4)
    figures = compute_line(line(1, taxable, exc("t", 5)))
    assert figures.exclusive_tax == tax
    assert figures.total == taxable + tax


def test_percent_discount_rounds_half_up() -> None:
    figures = compute_line(line(1, 1005, discount=Discount(percent=D(10))))
    assert (figures.amount, figures.discount_amount, figures.net) == (1005, 101, 904)  # 100.5
    figures = compute_line(line(1, 1004, discount=Discount(percent=D("12.3456"))))
    assert figures.discount_amount == 124  # 123.949...
    full = compute_line(line(1, 999, exc("t", 20), discount=Discount(percent=D(100))))
    assert (full.net, full.exclusive_tax, full.total) == (0, 0, 0)


def test_fixed_discount() -> None:
    figures = compute_line(line(2, 500, exc("t", 10), discount=Discount(amount=250)))
    assert (figures.amount, figures.discount_amount, figures.net) == (1000, 250, 750)
    assert (figures.exclusive_tax, figures.total) == (75, 825)
    whole = compute_line(line(2, 500, inc("i", 10), discount=Discount(amount=1000)))
    assert (whole.net, whole.inclusive_tax, whole.taxable_amount, whole.total) == (0, 0, 0, 0)


def test_fixed_discount_larger_than_the_amount_is_rejected_not_clamped() -> None:
    with pytest.raises(DiscountExceedsAmount) as caught:
        compute_line(line(2, 500, discount=Discount(amount=1001)))
    assert (caught.value.discount, caught.value.amount) == (1001, 1000)
    assert str(caught.value) == "discount 1001 exceeds the line amount 1000"
    lines = [line(1, 100), line(1, 100), line("0.5", 3, discount=Discount(amount=3))]
    with pytest.raises(DiscountExceedsAmount) as caught:
        compute_invoice(lines, currency="USD")
    assert caught.value.line == 2  # 0.5 x 3 = 1.5 -> 2 < 3


def test_discount_needs_exactly_one_kind() -> None:
    with pytest.raises(MoneyError):
        Discount()
    with pytest.raises(MoneyError):
        Discount(percent=D(5), amount=5)
    for bad in (D("100.0001"), D(-1), D("5.00001")):
        with pytest.raises(MoneyError):
            Discount(percent=bad)
    with pytest.raises(MoneyError):
        Discount(amount=-1)
    with pytest.raises(AmountOutOfRange):
        Discount(amount=BIGINT_MAX + 1)
    with pytest.raises(TypeError):
        Discount(percent=5.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Discount(amount=True)


def test_two_inclusive_rates_quebec() -> None:
    # CAD 114.97 with GST 5 % and QST 9.975 % included: base = 11497 / 1.14975 = 9999.565...
    figures = compute_line(line(1, 11497, inc("gst", 5), inc("qst", "9.975")))
    assert [t.amount for t in figures.taxes] == [500, 997]  # 499.978..., 997.456...
    assert figures.inclusive_tax == 1497
    assert figures.taxable_amount == 10000
    assert figures.total == figures.net == 11497
    assert all(t.taxable_amount == 10000 for t in figures.taxes)


def test_inclusive_tax_is_one_exact_fraction() -> None:
    # net 2 with 34 % and 2 % included: 2 x 34 / 136 = 0.5 exactly -> 1. Going through a
    # rounded Decimal base (2 / 1.36 = 1.470588...) gives 0.4999...9 -> 0.
    with localcontext() as ctx:
        ctx.rounding = ROUND_HALF_UP
        naive = (D(2) / (1 + D(36) / 100) * D(34) / 100).quantize(D(1))
    assert naive == 0
    figures = compute_line(line(1, 2, inc("a", 34), inc("b", 2)))
    assert [t.amount for t in figures.taxes] == [1, 0]  # 0.5 -> 1; 0.0294... -> 0
    assert figures.taxable_amount == 1


def test_single_inclusive_rate_at_the_limits() -> None:
    figures = compute_line(line(1, 1, inc("all", 100)))  # 1 x 100 / 200 = 0.5 -> 1
    assert (figures.inclusive_tax, figures.taxable_amount) == (1, 0)
    figures = compute_line(line(1, 12000, inc("vat", 20)))
    assert (figures.inclusive_tax, figures.taxable_amount, figures.total) == (2000, 10000, 12000)
    figures = compute_line(line(1, 999, inc("zero", 0)))
    assert (figures.inclusive_tax, figures.taxable_amount) == (0, 999)


def test_inclusive_rates_above_100_percent_are_rejected() -> None:
    # Three 100 % inclusive rates on net 2 would round to 1 + 1 + 1 > 2.
    with pytest.raises(MoneyError, match="at most 100"):
        line(1, 2, inc("a", 100), inc("b", 100), inc("c", 100))
    with pytest.raises(MoneyError, match="at most 100"):
        line(1, 2, inc("a", 60), inc("b", "40.0001"))
    line(1, 2, inc("a", 60), inc("b", 40), exc("c", 100), exc("d", 100))  # fine


def test_one_inclusive_and_one_exclusive_rate() -> None:
    # 11900 with 19 % VAT included -> 1900 VAT, base 10000; 2.5 % exclusive on 10000 = 250.
    figures = compute_line(line(1, 11900, inc("vat", 19), exc("city", "2.5")))
    assert (figures.inclusive_tax, figures.taxable_amount) == (1900, 10000)
    assert figures.exclusive_tax == 250
    assert figures.total == 12150
    # the exclusive rate applies to the net-of-inclusive base, not to net:
    # 1 x 1001 with 10 % included: 1001 / 11 = 91 -> base 910; 5 % of 910 = 45.5 -> 46
    figures = compute_line(line(1, 1001, inc("vat", 10), exc("levy", 5)))
    assert [t.amount for t in figures.taxes] == [91, 46]
    assert figures.total == 1047


def test_exclusive_rates_are_not_compound() -> None:
    figures = compute_line(line(1, 1000, exc("a", 10), exc("b", 10)))
    assert [t.amount for t in figures.taxes] == [100, 100]
    assert [t.taxable_amount for t in figures.taxes] == [1000, 1000]


def test_line_input_validation() -> None:
    for bad_quantity in (D(0), D(-1), D("0.00001"), D("1.00005"), D("NaN"), D("Infinity")):
        with pytest.raises(MoneyError):
            LineInput(bad_quantity, 100)
    LineInput(MAX_QUANTITY, 0)
    for too_many in (MAX_QUANTITY + D("0.0001"), D("1E+40"), D("1E+999999")):
        with pytest.raises(MoneyError, match="at most"):
            LineInput(too_many, 0)
    with pytest.raises(MoneyError, match="decimal places"):
        LineInput(D("1E-999999"), 100)
    with pytest.raises(TypeError):
        LineInput(1.5, 100)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        LineInput(D(1), 1.0)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        LineInput(D(1), -1)
    with pytest.raises(AmountOutOfRange):
        LineInput(D(1), BIGINT_MAX + 1)
    with pytest.raises(MoneyError, match="twice"):
        line(1, 100, exc("vat", 20), inc("vat", 20))
    with pytest.raises(TypeError):
        LineInput(D(1), 100, None, ("vat",))  # type: ignore[arg-type]
    as_list = LineInput(D(1), 100, None, [exc("vat", 20)])  # type: ignore[arg-type]
    assert as_list.taxes == (exc("vat", 20),)


def test_tax_rate_validation() -> None:
    for bad in (D(-1), D("100.0001"), D("7.00001"), D("NaN")):
        with pytest.raises(MoneyError):
            TaxRate("t", bad, inclusive=False)
    with pytest.raises(MoneyError):
        TaxRate("", D(1), inclusive=False)
    with pytest.raises(TypeError):
        TaxRate("t", 20.0, inclusive=False)  # type: ignore[arg-type]
    TaxRate("t", D("99.99990000"), inclusive=True)


def test_invoice_totals_and_summary() -> None:
    vat = inc("vat", 20)
    levy = exc("levy", 5)
    lines = [
        line(1, 1200, vat),  # vat 200, base 1000
        line(2, 600, vat, levy),  # 1200: vat 200, base 1000, levy 50
        line(1, 333, levy, discount=Discount(amount=33)),  # net 300, levy 15
        line(3, 10),  # untaxed
    ]
    invoice = compute_invoice(lines, currency="EUR", amount_paid=1000)
    assert invoice.subtotal == 1200 + 1200 + 300 + 30
    assert invoice.inclusive_tax_total == 400
    assert invoice.exclusive_tax_total == 65
    assert invoice.tax_total == 465
    assert invoice.total == 2730 + 65
    assert invoice.amount_due == 2795 - 1000
    assert [(s.key, s.inclusive, s.taxable_amount, s.amount) for s in invoice.tax_summary] == [
        ("vat", True, 2000, 400),
        ("levy", False, 1300, 65),
    ]


def test_empty_invoice() -> None:
    invoice = compute_invoice([], currency="USD")
    assert (invoice.subtotal, invoice.tax_total, invoice.total, invoice.amount_due) == (0, 0, 0, 0)
    assert invoice.lines == ()
    assert invoice.tax_summary == ()


def test_a_key_must_mean_one_rate_on_an_invoice() -> None:
    with pytest.raises(MoneyError, match="different") as caught:
        compute_invoice(
            [line(1, 100, exc("vat", 20)), line(1, 100, exc("vat", 19))], currency="EUR"
        )
    assert caught.value.line == 1
    with pytest.raises(MoneyError, match="different"):
        compute_invoice(
            [line(1, 100, exc("vat", 20)), line(1, 100, inc("vat", 20))], currency="EUR"
        )
    same = compute_invoice(
        [line(1, 100, exc("vat", "20")), line(1, 100, exc("vat", "20.00"))], currency="EUR"
    )
    assert len(same.tax_summary) == 1


def test_amount_paid_bounds() -> None:
    invoice = compute_invoice([line(1, 100)], currency="USD", amount_paid=100)
    assert invoice.amount_due == 0
    with pytest.raises(MoneyError, match="exceeds"):
        compute_invoice([line(1, 100)], currency="USD", amount_paid=101)
    with pytest.raises(MoneyError):
        compute_invoice([line(1, 100)], currency="USD", amount_paid=-1)
    with pytest.raises(TypeError):
        compute_invoice([line(1, 100)], currency="USD", amount_paid=1.0)  # type: ignore[arg-type]


# --- bigint guards -----------------------------------------------------------------------


def test_amounts_up_to_bigint_are_fine() -> None:
    invoice = compute_invoice([line(1, BIGINT_MAX)], currency="USD", amount_paid=BIGINT_MAX)
    assert invoice.total == BIGINT_MAX
    assert invoice.amount_due == 0
    half = compute_line(line("0.5", BIGINT_MAX))
    assert half.amount == BIGINT_MAX // 2 + 1  # ...903.5 rounds up


@pytest.mark.parametrize(
    ("build", "figure"),
    [
        (lambda: compute_line(line(2, BIGINT_MAX)), "amount"),
        (lambda: compute_line(line("1.0001", BIGINT_MAX)), "amount"),
        (lambda: compute_line(line(1, BIGINT_MAX, exc("t", "0.0001"))), "line total"),
        (
            lambda: compute_line(line(1, BIGINT_MAX, exc("a", 100), exc("b", 100))),
            "exclusive tax",
        ),
        (
            lambda: compute_invoice([line(1, BIGINT_MAX // 2 + 1)] * 2, currency="USD"),
            "subtotal",
        ),
        (
            lambda: compute_invoice(
                [line(1, BIGINT_MAX // 2), line(1, BIGINT_MAX // 2, exc("t", 1))], currency="USD"
            ),
            "total",
        ),
        (lambda: LineInput(D(1), BIGINT_MAX + 1), "unit amount"),
        (lambda: compute_invoice([], currency="USD", amount_paid=BIGINT_MAX + 1), "amount paid"),
    ],
)
def test_figures_beyond_bigint_raise(build: Callable[[], object], figure: str) -> None:
    with pytest.raises(AmountOutOfRange) as caught:
        build()
    assert caught.value.figure == figure
    assert abs(caught.value.value) > BIGINT_MAX
    assert str(caught.value).startswith(f"{figure} is out of range: ")


def test_out_of_range_error_names_the_line() -> None:
    with pytest.raises(AmountOutOfRange) as caught:
        compute_invoice([line(1, 1), line(3, BIGINT_MAX // 2)], currency="USD")
    assert caught.value.line == 1


# --- no binary floating point ------------------------------------------------------------


def test_the_module_never_uses_floats() -> None:
    source = Path(money.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Constant) and isinstance(node.value, float | complex))
        assert not (isinstance(node, ast.Name) and node.id in {"float", "complex"})
        assert not isinstance(node, ast.Div), "true division"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = {alias.name for alias in node.names} | {getattr(node, "module", None)}
            assert not names & {"math", "fractions", "statistics", "cmath"}


# --- generated invoices ------------------------------------------------------------------

CURRENCIES = ["JPY", "USD", "KWD"]  # 0, 2 and 3 minor digits
REFERENCE = Context(prec=200, rounding=ROUND_HALF_UP)
ONE = Decimal(1)


@dataclass(frozen=True)
class Rate:
    key: str
    percentage: Decimal
    inclusive: bool


@dataclass(frozen=True)
class Spec:
    quantity: Decimal
    unit_amount: int
    discount_percent: Decimal | None
    discount_fixed: int | None
    rates: tuple[Rate, ...]


def ref_round(value: Decimal) -> int:
    return int(value.quantize(ONE, rounding=ROUND_HALF_UP, context=REFERENCE))


def reference_line(spec: Spec) -> dict[str, Any]:
    """One line, the textbook way. A single Decimal division per inclusive tax is exact
    whenever the true value is a half (it then terminates) and otherwise far more precise
    than the distance to the nearest half, so quantize decides exactly."""
    with localcontext(REFERENCE):
        amount = ref_round(spec.quantity * spec.unit_amount)
        if spec.discount_percent is not None:
            discount = ref_round(amount * spec.discount_percent / 100)
        elif spec.discount_fixed is not None:
            discount = spec.discount_fixed
        else:
            discount = 0
        net = amount - discount
        carved = sum((r.percentage for r in spec.rates if r.inclusive), Decimal(0))
        inclusive = {
            r.key: ref_round(net * r.percentage / (100 + carved)) for r in spec.rates if r.inclusive
        }
        taxable = net - sum(inclusive.values())
        exclusive = {
            r.key: ref_round(taxable * r.percentage / 100) for r in spec.rates if not r.inclusive
        }
    taxes = [(r.key, r.inclusive, {**inclusive, **exclusive}[r.key]) for r in spec.rates]
    return {
        "amount": amount,
        "discount_amount": discount,
        "net": net,
        "taxable_amount": taxable,
        "taxes": taxes,
        "inclusive_tax": sum(inclusive.values()),
        "exclusive_tax": sum(exclusive.values()),
        "total": net + sum(exclusive.values()),
    }


def reference_invoice(specs: list[Spec], amount_paid: int) -> dict[str, Any]:
    lines = [reference_line(spec) for spec in specs]
    summary: dict[str, list[int]] = {}
    for ref in lines:
        for key, _, tax in ref["taxes"]:
            sums = summary.setdefault(key, [0, 0])
            sums[0] += ref["taxable_amount"]
            sums[1] += tax
    subtotal = sum(ref["net"] for ref in lines)
    exclusive = sum(ref["exclusive_tax"] for ref in lines)
    inclusive = sum(ref["inclusive_tax"] for ref in lines)
    return {
        "lines": lines,
        "subtotal": subtotal,
        "inclusive_tax_total": inclusive,
        "exclusive_tax_total": exclusive,
        "tax_total": inclusive + exclusive,
        "total": subtotal + exclusive,
        "amount_paid": amount_paid,
        "amount_due": subtotal + exclusive - amount_paid,
        "summary": {key: tuple(sums) for key, sums in summary.items()},
    }


def to_input(spec: Spec) -> LineInput:
    discount = None
    if spec.discount_percent is not None:
        discount = Discount(percent=spec.discount_percent)
    elif spec.discount_fixed is not None:
        discount = Discount(amount=spec.discount_fixed)
    taxes = tuple(TaxRate(r.key, r.percentage, r.inclusive) for r in spec.rates)
    return LineInput(spec.quantity, spec.unit_amount, discount, taxes)


percentages = st.one_of(
    st.sampled_from([D(0), D(5), D("7.5"), D("9.975"), D(19), D(20), D(25), D(100)]),
    st.decimals(min_value=0, max_value=100, places=4),
)
quantities = st.one_of(
    st.integers(1, 100).map(Decimal),
    st.integers(0, 100).map(lambda n: n + D("0.5")),  # halves of odd unit amounts
    st.decimals(min_value=D("0.0001"), max_value=D(10**6), places=4),
)


@st.composite
def rate_pools(draw: st.DrawFn) -> tuple[Rate, ...]:
    """Up to 3 inclusive rates summing to at most 100 % and up to 3 exclusive rates."""
    nice = st.sampled_from([0, 20_000, 50_000, 99_750, 100_000, 200_000, 340_000, 10**6])
    scaled = draw(st.lists(st.one_of(nice, st.integers(0, 10**6)), max_size=3))
    if sum(scaled) > 10**6:
        scaled = [x * 10**6 // sum(scaled) for x in scaled]
    pool = [Rate(f"inc{i}", Decimal(x) / 10**4, True) for i, x in enumerate(scaled)]
    pool += [
        Rate(f"exc{i}", pct, False) for i, pct in enumerate(draw(st.lists(percentages, max_size=3)))
    ]
    return tuple(draw(st.permutations(pool)))


@st.composite
def specs(draw: st.DrawFn, pool: tuple[Rate, ...], unit_amounts: st.SearchStrategy[int]) -> Spec:
    quantity = draw(quantities)
    unit_amount = draw(unit_amounts)
    rates = tuple(rate for rate in pool if draw(st.booleans()))
    kind = draw(st.sampled_from(["none", "percent", "fixed"]))
    percent = draw(percentages) if kind == "percent" else None
    fixed = None
    if kind == "fixed":
        with localcontext(REFERENCE):
            amount = ref_round(quantity * unit_amount)
        fixed = draw(st.integers(0, min(amount, BIGINT_MAX)))
    return Spec(quantity, unit_amount, percent, fixed, rates)


@st.composite
def invoices(draw: st.DrawFn) -> tuple[str, list[Spec], int]:
    currency = draw(st.sampled_from(CURRENCIES))
    unit_amounts = st.one_of(
        st.integers(0, 1000), st.integers(0, 10 ** (minor_digits(currency) + 6))
    )
    pool = draw(rate_pools())
    count = draw(st.integers(1, 50))  # drawn first: plain lists would stay short
    lines = draw(st.lists(specs(pool, unit_amounts), min_size=count, max_size=count))
    total = reference_invoice(lines, 0)["total"]
    paid = draw(st.one_of(st.just(total), st.integers(0, 1000).map(lambda r: total * r // 1000)))
    return currency, lines, paid


def all_ints(figures: InvoiceFigures) -> list[object]:
    """The values of every field declared ``int`` in the invoice's figures."""
    items: list[Any] = [figures, *figures.lines, *figures.tax_summary]
    items += [tax for line_figures in figures.lines for tax in line_figures.taxes]
    return [getattr(item, f.name) for item in items for f in fields(item) if f.type == "int"]


@pytest.mark.slow
@PROPERTY
@given(invoices())
def test_generated_invoices_match_the_reference_and_reconcile(
    case: tuple[str, list[Spec], int],
) -> None:
    currency, lines, paid = case
    invoice = compute_invoice(
        [to_input(spec) for spec in lines], currency=currency, amount_paid=paid
    )
    ref = reference_invoice(lines, paid)

    # every line figure equals the independent reference
    for got, want in zip(invoice.lines, ref["lines"], strict=True):
        assert isinstance(got, LineFigures)
        assert [(t.key, t.inclusive, t.amount) for t in got.taxes] == want["taxes"]
        for name in (
            "amount", "discount_amount", "net", "taxable_amount",
            "inclusive_tax", "exclusive_tax", "total",
        ):  # fmt: skip
            assert getattr(got, name) == want[name], name

    # and so does every invoice figure
    for name in (
        "subtotal", "inclusive_tax_total", "exclusive_tax_total", "tax_total",
        "total", "amount_paid", "amount_due",
    ):  # fmt: skip
        assert getattr(invoice, name) == ref[name], name
    assert {s.key: (s.taxable_amount, s.amount) for s in invoice.tax_summary} == ref["summary"]
    assert invoice.currency == currency

    # the figures reconcile exactly
    assert invoice.total == invoice.subtotal + invoice.exclusive_tax_total
    assert invoice.amount_due == invoice.total - invoice.amount_paid
    assert invoice.subtotal == sum(f.net for f in invoice.lines)
    assert invoice.total == sum(f.total for f in invoice.lines)
    assert invoice.tax_total == sum(t.amount for f in invoice.lines for t in f.taxes)
    assert invoice.tax_total == invoice.inclusive_tax_total + invoice.exclusive_tax_total
    assert invoice.tax_total == sum(s.amount for s in invoice.tax_summary)
    assert invoice.inclusive_tax_total == sum(s.amount for s in invoice.tax_summary if s.inclusive)
    for f in invoice.lines:
        assert f.net == f.amount - f.discount_amount
        assert 0 <= f.discount_amount <= f.amount
        assert f.taxable_amount + f.inclusive_tax == f.net
        assert 0 <= f.taxable_amount <= f.net
        assert f.inclusive_tax == sum(t.amount for t in f.taxes if t.inclusive)
        assert f.exclusive_tax == sum(t.amount for t in f.taxes if not t.inclusive)
        assert f.total == f.net + f.exclusive_tax
        assert all(t.taxable_amount == f.taxable_amount and t.amount >= 0 for t in f.taxes)
    keys = list(dict.fromkeys(t.key for f in invoice.lines for t in f.taxes))
    assert [s.key for s in invoice.tax_summary] == keys  # order of first appearance

    # every figure is a plain int that a bigint column holds
    values = all_ints(invoice)
    assert all(type(v) is int for v in values)
    assert all(0 <= v <= BIGINT_MAX for v in values if isinstance(v, int))
    assert len(values) == 7 + 7 * len(invoice.lines) + 2 * (
        len(invoice.tax_summary) + sum(len(f.taxes) for f in invoice.lines)
    )
    assert invoice.amount_due >= 0


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=D("0.0001"), max_value=D(10**6), places=4),
            st.one_of(st.integers(0, 2**64), st.integers(0, 10**13)),
            st.sampled_from([(), (Rate("ve", D(20), False),), (Rate("vi", D(20), True),)]),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_out_of_range_iff_a_reference_figure_exceeds_bigint(
    raw: list[tuple[Decimal, int, tuple[Rate, ...]]],
) -> None:
    lines = [Spec(q, unit, None, None, rates) for q, unit, rates in raw]
    ref = reference_invoice(lines, 0)
    figures = [ref[k] for k in ("subtotal", "tax_total", "total")] + [unit for _, unit, _ in raw]
    for r in ref["lines"]:
        figures += [r["amount"], r["total"], *(tax for _, _, tax in r["taxes"])]
    if max(figures) > BIGINT_MAX:
        with pytest.raises(AmountOutOfRange):
            compute_invoice([to_input(spec) for spec in lines], currency="USD")
    else:
        invoice = compute_invoice([to_input(spec) for spec in lines], currency="USD")
        assert invoice.total == ref["total"]
        assert invoice.tax_total == ref["tax_total"]


@PROPERTY
@given(st.integers(-(10**30), 10**30), st.integers(0, 12))
def test_round_half_up_matches_quantize(digits: int, places: int) -> None:
    value = Decimal(digits).scaleb(-places, context=REFERENCE)
    assert round_half_up(value) == ref_round(value)
    assert round_half_up(value.copy_negate()) == -round_half_up(
        value
    )  # symmetric: half away from zero


@PROPERTY
@given(st.integers(-BIGINT_MAX, BIGINT_MAX), st.sampled_from([*CURRENCIES, "CLF"]))
def test_format_amount_and_to_decimal_round_trip(amount: int, currency: str) -> None:
    text = format_amount(amount, currency)
    value = to_decimal(amount, currency)
    assert Decimal(text.replace(",", "")) == value
    assert value.scaleb(minor_digits(currency), context=REFERENCE) == amount
    assert parse_decimal(str(value), places=minor_digits(currency)) == value


@PROPERTY
@given(st.decimals(min_value=-(10**12), max_value=10**12, places=4))
def test_parse_decimal_round_trips_plain_text(value: Decimal) -> None:
    assert parse_decimal(format(value, "f")) == value
