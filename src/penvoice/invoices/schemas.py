"""API models of invoices and their lines. Clients send inputs; the server computes money."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictStr, field_validator, model_validator

from penvoice.currencies import CurrencyCode
from penvoice.fields import Strict
from penvoice.money import BIGINT_MAX, MAX_QUANTITY, MoneyError, parse_decimal

MAX_LINES = 250
MAX_TAXES_PER_LINE = 5

Status = Literal["draft", "open", "paid", "void", "uncollectible"]
DeliveryStatus = Literal["queued", "sent", "partially_sent", "failed", "unknown"]
MinorAmount = Annotated[
    int,
    Field(
        ge=0, le=BIGINT_MAX, strict=True, description="Integer amount in the currency's minor unit."
    ),
]
DecimalText = Annotated[StrictStr, Field(max_length=40, examples=["1.5"])]


def _decimal(text: str, *, low: Decimal, high: Decimal, low_inclusive: bool) -> Decimal:
    try:
        value = parse_decimal(text)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    too_low = value < low if low_inclusive else value <= low
    if too_low or value > high:
        bound = "at least" if low_inclusive else "greater than"
        raise ValueError(f"must be {bound} {low} and at most {high}")
    return value


class DiscountInput(Strict):
    """Either a percentage (a decimal string, 0-100) or a fixed minor amount."""

    percent: DecimalText | None = None
    amount: MinorAmount | None = None

    @field_validator("percent")
    @classmethod
    def _percent(cls, value: str | None) -> str | None:
        if value is not None:
            _decimal(value, low=Decimal(0), high=Decimal(100), low_inclusive=True)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> DiscountInput:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("give exactly one of percent or amount")
        return self


class LineInput(Strict):
    description: Annotated[str, Field(min_length=1, max_length=2000)]
    quantity: DecimalText = Field(description="Decimal string, > 0, at most 4 places.")
    unit_amount: MinorAmount
    discount: DiscountInput | None = None
    tax_rate_ids: Annotated[list[UUID], Field(max_length=MAX_TAXES_PER_LINE)] = Field(
        default_factory=list
    )

    @field_validator("quantity")
    @classmethod
    def _quantity(cls, value: str) -> str:
        _decimal(value, low=Decimal(0), high=MAX_QUANTITY, low_inclusive=False)
        return value

    @field_validator("tax_rate_ids")
    @classmethod
    def _distinct(cls, value: list[UUID]) -> list[UUID]:
        if len(set(value)) != len(value):
            raise ValueError("a tax rate may appear once per line")
        return value


Lines = Annotated[list[LineInput], Field(max_length=MAX_LINES)]
Reference = Annotated[str, Field(max_length=200)]
BuyerReference = Annotated[
    Reference,
    Field(description="EN 16931 BT-10 (e.g. a Leitweg-ID); empty: the customer's buyer_reference."),
]
OrderReference = Annotated[Reference, Field(description="The buyer's purchase order (BT-13).")]
SupplyDate = Annotated[
    date, Field(description="When the goods or services were supplied (EN 16931 BT-72).")
]


class ServicePeriod(Strict):
    """The period the invoice covers (EN 16931 BG-14), both days included."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ServicePeriod:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class Period(BaseModel):
    start: date
    end: date


class InvoiceCreate(Strict):
    customer_id: UUID
    currency: CurrencyCode | None = Field(
        default=None, description="Defaults to the customer's currency, else the organisation's."
    )
    memo: Annotated[str, Field(max_length=5000)] = ""
    lines: Lines = Field(default_factory=list)
    buyer_reference: BuyerReference = ""
    purchase_order_reference: OrderReference = ""
    supply_date: SupplyDate | None = None
    service_period: ServicePeriod | None = None


class InvoiceUpdate(Strict):
    """Drafts only. `lines`, when given, replaces every line."""

    customer_id: UUID | None = None
    currency: CurrencyCode | None = None
    memo: Annotated[str, Field(max_length=5000)] | None = None
    lines: Lines | None = None
    buyer_reference: BuyerReference | None = None
    purchase_order_reference: OrderReference | None = None
    supply_date: SupplyDate | None = Field(default=None, description="null clears it.")
    service_period: ServicePeriod | None = Field(default=None, description="null clears it.")


EARLIEST_DATE = date(1900, 1, 1)
LATEST_ISSUE_DATE = date(2999, 12, 31)
LATEST_DUE_DATE = date(3000, 12, 31)  # the latest issue date plus the longest terms (365)


class FinalizeRequest(Strict):
    """Dates are bounded so that every due date computed from them is a valid date."""

    issue_date: date | None = Field(
        default=None,
        ge=EARLIEST_DATE,
        le=LATEST_ISSUE_DATE,
        description="Defaults to today (UTC). From 1900-01-01 to 2999-12-31.",
    )
    due_date: date | None = Field(
        default=None,
        ge=EARLIEST_DATE,
        le=LATEST_DUE_DATE,
        description="Defaults to issue date + terms. From 1900-01-01 to 3000-12-31.",
    )


class LineTax(BaseModel):
    tax_rate_id: UUID
    display_name: str
    percentage: str
    inclusive: bool
    taxable_amount: int
    amount: int
    vat_category: str | None


class Line(BaseModel):
    id: UUID
    position: int
    description: str
    quantity: str
    unit_amount: int
    discount: DiscountInput | None
    amount: int
    discount_amount: int
    net: int
    tax_amount: int
    total: int
    taxes: list[LineTax]


class Invoice(BaseModel):
    id: UUID
    customer_id: UUID
    status: Status
    overdue: bool
    currency: str
    number: str | None
    issue_date: date | None
    due_date: date | None
    memo: str
    buyer_reference: str
    purchase_order_reference: str
    supply_date: date | None
    service_period: Period | None
    subtotal: int
    tax_total: int
    total: int
    amount_paid: int
    amount_due: int
    amount_credited: int = Field(description="Taken off the amount due by credit notes.")
    amount_refunded: int = Field(description="Paid back by credit notes (at most amount_paid).")
    lines: list[Line]
    org_snapshot: dict[str, Any] | None
    customer_snapshot: dict[str, Any] | None
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    finalized_at: datetime | None
    finalized_by: str | None
    paid_at: datetime | None
    voided_at: datetime | None
    voided_by: str | None
    uncollectible_at: datetime | None
    uncollectible_by: str | None
    delivery_status: DeliveryStatus | None = Field(
        description="The latest email send's outcome (`POST …/send`); null: never sent."
    )


class InvoiceSummary(BaseModel):
    """An invoice without its lines, for lists."""

    id: UUID
    customer_id: UUID
    status: Status
    overdue: bool
    currency: str
    number: str | None
    issue_date: date | None
    due_date: date | None
    total: int
    amount_paid: int
    amount_due: int
    version: int
    created_at: datetime
    updated_at: datetime
