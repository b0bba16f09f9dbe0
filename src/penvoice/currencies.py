"""Currency codes the API accepts: those `money.minor_digits` can invoice (ISO 4217)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from penvoice.money import MoneyError, minor_digits


def _invoiceable(code: str) -> str:
    try:
        minor_digits(code)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    return code


CurrencyCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", examples=["EUR"], description="ISO 4217 code, upper case"),
    AfterValidator(_invoiceable),
]
