"""API models of the signed-in principal."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel

Role = Literal["owner", "admin", "member", "viewer"]


class Membership(BaseModel):
    org_id: UUID
    org_name: str
    role: Role


class Me(BaseModel):
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    username: str | None
    memberships: list[Membership]
