"""API models of payments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from penvoice.currencies import CurrencyCode
from penvoice.fields import Strict
from penvoice.money import BIGINT_MAX


class PaymentCreate(Strict):
    amount: Annotated[
        int,
        Field(gt=0, le=BIGINT_MAX, strict=True, description="Minor units; at most the amount due."),
    ]
    currency: CurrencyCode = Field(description="Must be the invoice's currency.")
    paid_on: date
    method: Annotated[str, Field(min_length=1, max_length=50, examples=["bank_transfer"])]
    reference: Annotated[str, Field(max_length=200)] = ""


class Payment(BaseModel):
    id: UUID
    invoice_id: UUID
    amount: int
    currency: str
    paid_on: date
    method: str
    reference: str
    created_at: datetime
    created_by: str
    deleted_at: datetime | None
    deleted_by: str | None
