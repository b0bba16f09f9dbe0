"""API models of tax rates.

A percentage travels as a JSON **string** both ways ("19", "7.5" in; "19.0000" out): a JSON
number may have been a binary float on the client, so numbers are refused with a 422.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, PlainSerializer, PlainValidator, WithJsonSchema

from penvoice.fields import Strict
from penvoice.legal import ExemptionCode, ExemptionReason, VatCategory

PERCENTAGE_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,4})?$"
_PERCENTAGE = re.compile(PERCENTAGE_PATTERN)
MAX_PERCENTAGE = Decimal(100)


def _parse_percentage(value: object) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('must be a JSON string such as "19" or "7.5", not a number')
    if not _PERCENTAGE.fullmatch(value):
        raise ValueError("must be a decimal from 0 to 100 with at most 4 decimal places")
    percentage = Decimal(value)
    if percentage > MAX_PERCENTAGE:
        raise ValueError("must be at most 100")
    return percentage


PercentageInput = Annotated[
    Decimal,
    PlainValidator(_parse_percentage),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": PERCENTAGE_PATTERN,
            "description": "0 to 100, at most 4 decimal places, as a string (numbers are "
            "refused so no binary float creeps in).",
            "examples": ["19", "7.5"],
        },
        mode="validation",
    ),
]
Percentage = Annotated[
    Decimal,
    PlainSerializer(lambda value: f"{value:f}", return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,3}\.[0-9]{4}$",
            "description": "Always with 4 decimal places.",
            "examples": ["19.0000"],
        },
        mode="serialization",
    ),
]
DisplayName = Annotated[
    str, Field(min_length=1, max_length=100, examples=["VAT 19 %"], description="On invoices.")
]
Inclusive = Annotated[
    bool,
    Field(
        strict=True,
        description="true: the tax is contained in the line's amount (carved out); "
        "false: added on top.",
    ),
]
Category = Annotated[
    VatCategory,
    Field(
        description="EN 16931 VAT category: S standard (percentage > 0), Z zero rated, "
        "E exempt, AE reverse charge, K intra-community supply, G export outside the EU, "
        "O outside the scope of VAT (all but S at 0 %). Needed for e-invoices."
    ),
]
Archived = Annotated[
    bool,
    Field(
        strict=True, description="true archives (no new use, hidden by default); false restores."
    ),
]


class TaxRateCreate(Strict):
    display_name: DisplayName
    percentage: PercentageInput
    inclusive: Inclusive
    vat_category: Category | None = None
    exemption_reason: ExemptionReason = ""
    exemption_code: ExemptionCode = ""


class TaxRateUpdate(Strict):
    """`display_name` and `archived` always; `percentage` and `inclusive` only until a
    finalized invoice uses the rate (then archive it and create a new one)."""

    display_name: DisplayName | None = None
    percentage: PercentageInput | None = None
    inclusive: Inclusive | None = None
    vat_category: Category | None = None
    exemption_reason: ExemptionReason | None = None
    exemption_code: ExemptionCode | None = None
    archived: Archived | None = None


class TaxRate(BaseModel):
    id: UUID
    display_name: str
    percentage: Percentage
    inclusive: bool
    vat_category: VatCategory | None
    exemption_reason: str
    exemption_code: str
    archived: bool
    archived_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
