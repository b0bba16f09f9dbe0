"""API models of the e-invoice readiness check."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class RuleViolation(BaseModel):
    rule: str = Field(description="The EN 16931 rule, as the official validation names it.")
    resource: Literal["organisation", "customer", "invoice", "tax_rate"] = Field(
        description="Where the data to fix lives."
    )
    resource_id: str
    field: str = Field(description="The field of that resource to fix (dotted path).")
    message: str


class Readiness(BaseModel):
    ready: bool = Field(description="true: the e-invoice can be generated once finalized.")
    violations: list[RuleViolation]
