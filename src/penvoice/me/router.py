"""`GET /v1/me`: who the token says you are, and your organisations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from penvoice.errors import PROBLEM_MEDIA_TYPE
from penvoice.me.schemas import Me, Membership
from penvoice.orgs import service
from penvoice.tenancy.access import ReadAsPrincipal

router = APIRouter(tags=["me"])

PROBLEM: dict[str, Any] = {"content": {PROBLEM_MEDIA_TYPE: {}}}


@router.get(
    "/me",
    summary="The signed-in principal and their organisation memberships",
    response_model=Me,
    responses={
        401: {"description": "Missing or invalid bearer token", **PROBLEM},
        503: {"description": "Database unavailable", **PROBLEM},
    },
)
async def get_me(read: ReadAsPrincipal) -> Me:
    principal = read.principal
    rows = await service.read_memberships(read)
    return Me(
        subject=principal.subject,
        email=principal.email,
        email_verified=principal.email_verified,
        name=principal.name,
        username=principal.username,
        memberships=[Membership(org_id=r.org_id, org_name=r.org_name, role=r.role) for r in rows],
    )
