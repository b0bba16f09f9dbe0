"""Field types and the strict base model shared by the API's request models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Request bodies: unknown fields are a 422, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


Email = Annotated[
    str,
    Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320, examples=["ana@example.com"]),
    AfterValidator(str.lower),
]
