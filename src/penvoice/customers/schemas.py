"""API models of customers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from penvoice.currencies import CurrencyCode
from penvoice.fields import Email, Strict
from penvoice.legal import PostalAddress, VatId

Name = Annotated[str, Field(min_length=1, max_length=200, examples=["Ana Lima Studio"])]
Address = Annotated[str, Field(max_length=1000, description="Free-form, multi-line.")]
TaxID = Annotated[str, Field(max_length=64, examples=["DE123456789"])]
Notes = Annotated[str, Field(max_length=5000, description="Internal; never on an invoice.")]
CustomerEmail = Annotated[
    Email, Field(description="Unique within the organisation, case-insensitively; stored lower.")
]
BuyerReference = Annotated[
    str,
    Field(
        max_length=200,
        description="Buyer reference (EN 16931 BT-10, e.g. a Leitweg-ID) for invoices that "
        "name none.",
    ),
]
Archived = Annotated[
    bool,
    Field(strict=True, description="true archives (hidden from default lists); false restores."),
]


class CustomerCreate(Strict):
    name: Name
    email: CustomerEmail | None = None
    billing_address: Address = ""
    tax_id: TaxID = ""
    currency: CurrencyCode | None = Field(
        default=None, description="Preferred invoice currency; the organisation's when left out."
    )
    notes: Notes = ""
    postal_address: PostalAddress | None = None
    vat_id: VatId = ""
    buyer_reference: BuyerReference = ""


class CustomerUpdate(Strict):
    """Only the fields sent change. `email` and `currency` may be null (cleared)."""

    name: Name | None = None
    email: CustomerEmail | None = None
    billing_address: Address | None = None
    tax_id: TaxID | None = None
    currency: CurrencyCode | None = None
    notes: Notes | None = None
    postal_address: PostalAddress | None = Field(default=None, description="null clears it.")
    vat_id: VatId | None = None
    buyer_reference: BuyerReference | None = None
    archived: Archived | None = None


class Customer(BaseModel):
    id: UUID
    name: str
    email: str | None
    billing_address: str
    tax_id: str
    currency: str | None
    notes: str
    postal_address: PostalAddress | None
    vat_id: str
    buyer_reference: str
    archived: bool
    archived_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
