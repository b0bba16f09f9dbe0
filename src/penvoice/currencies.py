"""Currency codes the API accepts: ISO 4217 codes with defined minor units (from `iso4217`)."""

from __future__ import annotations

from typing import Annotated

import iso4217
from pydantic import AfterValidator, Field


def _invoiceable(code: str) -> str:
    try:
        exponent = iso4217.Currency(code).exponent
    except ValueError:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code") from None
    if exponent is None:
        raise ValueError(f"{code} has no minor unit and cannot be invoiced")
    return code


CurrencyCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", examples=["EUR"], description="ISO 4217 code, upper case"),
    AfterValidator(_invoiceable),
]
