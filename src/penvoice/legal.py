"""Field types of the legal data an EN 16931 invoice needs, shared by organisations,
customers and tax rates: postal addresses with an ISO 3166 country, VAT identifiers, a
contact, a bank account (IBAN/BIC checked with `schwifty`) and VAT categories.

Values are normalised as they are validated (upper case, no spaces), so what is stored is
what an e-invoice carries.
"""

from __future__ import annotations

from typing import Annotated, Literal

import pycountry
from pydantic import AfterValidator, BeforeValidator, Field
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from penvoice.fields import Email, Strict

VatCategory = Literal["S", "Z", "E", "AE", "K", "G", "O"]
"""UNTDID 5305 as EN 16931 uses it: S standard, Z zero rated, E exempt, AE reverse charge,
K intra-community supply, G export outside the EU, O outside the scope of VAT."""

EXEMPT_CATEGORIES = frozenset({"E", "AE", "K", "G", "O"})
"""Categories whose VAT breakdown must state an exemption reason (text or VATEX code)."""

DEFAULT_EXEMPTION_CODES: dict[str, str] = {
    "AE": "VATEX-EU-AE",
    "K": "VATEX-EU-IC",
    "G": "VATEX-EU-G",
    "O": "VATEX-EU-O",
}
"""The VATEX code a category implies when the rate names none (E has no single one)."""

# VAT identifiers are prefixed with an ISO 3166-1 alpha-2 code, except Greece (EL) and
# Northern Ireland (XI), which the EU's VIES uses.
_VAT_PREFIXES_BEYOND_ISO = frozenset({"EL", "XI"})


def _compact(value: object) -> object:
    return "".join(value.split()).upper() if isinstance(value, str) else value


def _country(code: str) -> str:
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{code} is not an ISO 3166-1 alpha-2 country code")
    return code


def _vat_id(value: str) -> str:
    if value.startswith("GR"):
        raise ValueError("Greek VAT identifiers start with EL, not GR")
    if value and value[:2] not in _VAT_PREFIXES_BEYOND_ISO:
        _country(value[:2])
    return value


def _iban(value: str) -> str:
    try:
        return str(IBAN(value).compact)
    except SchwiftyException as exc:
        raise ValueError(f"not a valid IBAN ({exc})") from None


def _bic(value: str) -> str:
    try:
        return str(BIC(value).compact)
    except SchwiftyException as exc:
        raise ValueError(f"not a valid BIC ({exc})") from None


CountryCode = Annotated[
    str,
    BeforeValidator(_compact),
    Field(pattern=r"^[A-Z]{2}$", examples=["DE"], description="ISO 3166-1 alpha-2."),
    AfterValidator(_country),
]
VatId = Annotated[
    str,
    BeforeValidator(_compact),
    Field(
        pattern=r"^([A-Z]{2}[0-9A-Z+*.]{2,13})?$",
        examples=["DE123456789"],
        description="VAT identifier with its country prefix (EL for Greece); empty for none.",
    ),
    AfterValidator(_vat_id),
]
Line = Annotated[str, Field(max_length=200)]


class PostalAddress(Strict):
    line1: Annotated[str, Field(min_length=1, max_length=200, examples=["Hauptstraße 1"])]
    line2: Line = ""
    city: Annotated[str, Field(min_length=1, max_length=100, examples=["Berlin"])]
    postal_code: Annotated[str, Field(max_length=20, examples=["10115"])] = ""
    subdivision: Annotated[
        str, Field(max_length=100, description="Region, state or province, when used.")
    ] = ""
    country: CountryCode


class Contact(Strict):
    name: Line = ""
    phone: Annotated[str, Field(max_length=50)] = ""
    email: Email | None = None


class PaymentAccount(Strict):
    """Where buyers pay by credit transfer (EN 16931 BG-17)."""

    iban: Annotated[
        str, Field(max_length=42, examples=["DE89370400440532013000"]), AfterValidator(_iban)
    ]
    bic: Annotated[str, Field(max_length=11, examples=["COBADEFFXXX"]), AfterValidator(_bic)] = ""
    account_name: Line = ""


ExemptionReason = Annotated[
    str,
    Field(
        max_length=500,
        description="Why no VAT is charged (EN 16931 BT-120); required for category E "
        "unless an exemption_code is given.",
    ),
]
ExemptionCode = Annotated[
    str,
    BeforeValidator(_compact),
    Field(
        pattern=r"^(VATEX-[A-Z0-9-]{1,30})?$",
        examples=["VATEX-EU-132-1I"],
        description="VATEX code (EN 16931 BT-121); AE, K, G and O imply theirs when empty.",
    ),
]
