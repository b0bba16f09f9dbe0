"""Field types and the strict base model shared by the API's request models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    """Request bodies: unknown fields are a 422, not silently dropped; no text holds NUL.

    PostgreSQL text cannot store U+0000, which JSON carries as `\\u0000`: unchecked, it fails
    only at the database, as a 500. (Pydantic already refuses unpaired surrogates.)
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain the NUL character (U+0000)")
        return value


Email = Annotated[
    str,
    Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320, examples=["ana@example.com"]),
    AfterValidator(str.lower),
]
