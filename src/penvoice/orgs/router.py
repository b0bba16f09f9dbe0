"""Organisations, members and invitations: thin handlers over `orgs.service`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response

from penvoice.auth import CurrentPrincipal
from penvoice.concurrency import ExpectedVersion, etag
from penvoice.idempotency.keys import IdempotentRequest
from penvoice.openapi import PROBLEMS
from penvoice.orgs import service
from penvoice.orgs.schemas import (
    Invitation,
    InvitationCreate,
    Member,
    MemberUpdate,
    Org,
    OrgCreate,
    OrgUpdate,
)
from penvoice.orgs.service import InvitationRow, MemberRow, OrgRow
from penvoice.responses import created
from penvoice.tenancy.access import AsAdmin, AsViewer, UserTransaction

router = APIRouter(tags=["organisations"])

Subject = Annotated[str, Path(min_length=1, max_length=255, description="Member's subject.")]
InvitationID = Annotated[UUID, Path(description="The invitation's id.")]


def _org(row: OrgRow) -> Org:
    return Org(**row.__dict__)


def _member(row: MemberRow) -> Member:
    return Member(**row.__dict__)


def _invitation(row: InvitationRow) -> Invitation:
    return Invitation(**row.__dict__)


@router.post(
    "/orgs",
    status_code=201,
    summary="Create an organisation; you become its owner",
    response_model=Org,
    responses=PROBLEMS(401, 409, 422),
)
async def create_org(
    body: OrgCreate, principal: CurrentPrincipal, conn: UserTransaction, key: IdempotentRequest
) -> Response:
    org = _org(await service.create_org(conn, principal, body))
    return await created(key, org, org.version, f"/v1/orgs/{org.id}")


@router.get(
    "/orgs/{org_id}",
    summary="Get an organisation and its settings",
    response_model=Org,
    responses=PROBLEMS(401, 404),
)
async def get_org(access: AsViewer, conn: UserTransaction, response: Response) -> Org:
    org = _org(await service.get_org(conn, access.org_id))
    response.headers["ETag"] = etag(org.version)
    return org


@router.patch(
    "/orgs/{org_id}",
    summary="Update settings: name, address, tax id, currency, terms, prefix, next number",
    response_model=Org,
    responses=PROBLEMS(401, 403, 404, 412, 422),
)
async def update_org(
    body: OrgUpdate,
    access: AsAdmin,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
    response: Response,
) -> Org:
    org = _org(await service.update_org(conn, access, body, expected_version))
    response.headers["ETag"] = etag(org.version)
    return org


@router.get(
    "/orgs/{org_id}/members",
    summary="List members and their roles",
    response_model=list[Member],
    responses=PROBLEMS(401, 404),
)
async def list_members(access: AsViewer, conn: UserTransaction) -> list[Member]:
    return [_member(row) for row in await service.list_members(conn, access)]


@router.patch(
    "/orgs/{org_id}/members/{subject}",
    summary="Change a member's role (the organisation keeps at least one owner)",
    response_model=Member,
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def change_role(
    subject: Subject, body: MemberUpdate, access: AsAdmin, conn: UserTransaction
) -> Member:
    return _member(await service.change_role(conn, access, subject, body.role))


@router.delete(
    "/orgs/{org_id}/members/{subject}",
    status_code=204,
    summary="Remove a member, or leave the organisation yourself",
    responses=PROBLEMS(401, 403, 404, 409),
)
async def remove_member(subject: Subject, access: AsViewer, conn: UserTransaction) -> Response:
    await service.remove_member(conn, access, subject)
    return Response(status_code=204)


@router.post(
    "/orgs/{org_id}/invitations",
    status_code=201,
    summary="Invite an email address with a role",
    response_model=Invitation,
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def invite(
    body: InvitationCreate, access: AsAdmin, conn: UserTransaction, key: IdempotentRequest
) -> Response:
    invitation = _invitation(await service.invite(conn, access, body))
    return await key.respond(201, invitation)


@router.get(
    "/orgs/{org_id}/invitations",
    summary="List pending invitations",
    response_model=list[Invitation],
    responses=PROBLEMS(401, 403, 404),
)
async def list_invitations(access: AsAdmin, conn: UserTransaction) -> list[Invitation]:
    return [_invitation(row) for row in await service.pending_for_org(conn, access)]


@router.delete(
    "/orgs/{org_id}/invitations/{invitation_id}",
    status_code=204,
    summary="Revoke a pending invitation",
    responses=PROBLEMS(401, 403, 404),
)
async def revoke_invitation(
    invitation_id: InvitationID, access: AsAdmin, conn: UserTransaction
) -> Response:
    await service.revoke(conn, access, invitation_id)
    return Response(status_code=204)


@router.get(
    "/invitations",
    summary="Pending invitations for your verified email",
    response_model=list[Invitation],
    responses=PROBLEMS(401),
)
async def my_invitations(principal: CurrentPrincipal, conn: UserTransaction) -> list[Invitation]:
    return [_invitation(row) for row in await service.pending_for_me(conn, principal)]


@router.post(
    "/invitations/{invitation_id}/accept",
    summary="Accept an invitation addressed to your verified email",
    response_model=Invitation,
    responses=PROBLEMS(401, 404, 409, 422),
)
async def accept_invitation(
    invitation_id: InvitationID,
    principal: CurrentPrincipal,
    conn: UserTransaction,
    key: IdempotentRequest,
) -> Response:
    invitation = _invitation(await service.accept(conn, principal, invitation_id))
    return await key.respond(200, invitation)
