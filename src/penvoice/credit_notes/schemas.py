"""API models of credit notes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, field_validator, model_validator

from penvoice.fields import Strict
from penvoice.invoices.schemas import MAX_LINES, LineTax, MinorAmount


class CreditLineInput(Strict):
    line_id: UUID = Field(description="A line of the invoice, credited in full (once).")


class CreditNoteCreate(Strict):
    """Credit some lines, or an amount (tax included, at the invoice's one tax rate); with
    neither, every line not credited yet."""

    lines: Annotated[list[CreditLineInput], Field(min_length=1, max_length=MAX_LINES)] | None = None
    amount: Annotated[MinorAmount, Field(ge=1)] | None = None
    reason: Annotated[str, Field(max_length=1000)] = ""
    issue_date: date | None = Field(default=None, description="Defaults to today (UTC).")

    @field_validator("lines")
    @classmethod
    def _distinct(cls, value: list[CreditLineInput] | None) -> list[CreditLineInput] | None:
        if value is not None and len({line.line_id for line in value}) != len(value):
            raise ValueError("a line may be credited once")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> CreditNoteCreate:
        if self.lines is not None and self.amount is not None:
            raise ValueError("give lines or an amount, not both")
        return self


class CreditNoteLine(BaseModel):
    position: int
    invoice_line_id: UUID | None
    description: str
    quantity: str
    unit_amount: int
    discount_amount: int
    net: int
    tax_amount: int
    total: int
    taxes: list[LineTax]


class CreditNote(BaseModel):
    id: UUID
    invoice_id: UUID
    number: str
    issue_date: date
    reason: str
    currency: str
    subtotal: int
    tax_total: int
    total: int
    applied: int = Field(description="Taken off the invoice's amount due.")
    refunded: int = Field(description="Paid back to the customer (at most what was paid).")
    lines: list[CreditNoteLine]
    created_at: datetime
    created_by: str
