"""API models of organisations, members and invitations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, computed_field

from penvoice.currencies import CurrencyCode
from penvoice.fields import Email, Strict
from penvoice.legal import Contact, PaymentAccount, PostalAddress, VatId
from penvoice.tenancy.access import Role

Name = Annotated[str, Field(min_length=1, max_length=200)]
Prefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9/_.-]{0,20}$", examples=["INV-"])]
Terms = Annotated[int, Field(ge=0, le=365, description="Days from issue date to due date.")]
LegalName = Annotated[
    str, Field(max_length=200, description="Registered name (EN 16931 BT-27); `name` when empty.")
]
RegistrationID = Annotated[
    str,
    Field(max_length=64, description="Legal registration id, e.g. a trade register number."),
]


class OrgCreate(Strict):
    name: Name
    address: Annotated[str, Field(max_length=1000)] = ""
    tax_id: Annotated[str, Field(max_length=64)] = ""
    default_currency: CurrencyCode = "EUR"
    payment_terms_days: Terms = 14
    invoice_prefix: Prefix = "INV-"
    legal_name: LegalName = ""
    postal_address: PostalAddress | None = None
    vat_id: VatId = ""
    legal_registration_id: RegistrationID = ""
    contact: Contact | None = None
    payment_account: PaymentAccount | None = None


class OrgUpdate(Strict):
    name: Name | None = None
    address: Annotated[str, Field(max_length=1000)] | None = None
    tax_id: Annotated[str, Field(max_length=64)] | None = None
    default_currency: CurrencyCode | None = None
    payment_terms_days: Terms | None = None
    invoice_prefix: Prefix | None = None
    legal_name: LegalName | None = None
    postal_address: PostalAddress | None = Field(default=None, description="null clears it.")
    vat_id: VatId | None = None
    legal_registration_id: RegistrationID | None = None
    contact: Contact | None = Field(default=None, description="null clears it.")
    payment_account: PaymentAccount | None = Field(default=None, description="null clears it.")
    next_invoice_number: (
        Annotated[int, Field(ge=1, le=999_999_999_999, description="May be raised, never lowered.")]
        | None
    ) = None


class Org(BaseModel):
    id: UUID
    name: str
    address: str
    tax_id: str
    default_currency: str
    payment_terms_days: int
    invoice_prefix: str
    next_invoice_number: int
    legal_name: str
    postal_address: PostalAddress | None
    vat_id: str
    legal_registration_id: str
    contact: Contact | None
    payment_account: PaymentAccount | None
    version: int
    created_at: datetime
    updated_at: datetime


class Member(BaseModel):
    subject: str
    role: Role
    created_at: datetime


class MemberUpdate(Strict):
    role: Role


class InvitationCreate(Strict):
    email: Email
    role: Role = "member"


class Invitation(BaseModel):
    """`status` is derived: accepted, revoked, expired (past `expires_at`) or pending."""

    id: UUID
    org_id: UUID
    email: str
    role: Role
    invited_by: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Literal["pending", "expired", "accepted", "revoked"]:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= datetime.now(UTC) else "pending"
