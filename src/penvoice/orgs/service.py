"""Organisation rules: creation, settings, the owner invariant, invitations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from penvoice import quotas
from penvoice.auth import Principal
from penvoice.concurrency import check_version
from penvoice.db import Connection
from penvoice.errors import (
    AlreadyMember,
    Forbidden,
    InvitationAccepted,
    InvitationPending,
    LastOwner,
    NotFound,
    ValidationFailed,
)
from penvoice.events import repository as events
from penvoice.orgs import repository
from penvoice.orgs.repository import InvitationRow as InvitationRow  # the routes' row types
from penvoice.orgs.repository import MemberRow as MemberRow
from penvoice.orgs.repository import MembershipRow as MembershipRow
from penvoice.orgs.repository import OrgRow as OrgRow
from penvoice.orgs.schemas import InvitationCreate, OrgCreate, OrgUpdate
from penvoice.tenancy import repository as tenancy
from penvoice.tenancy.access import OneStatementRead, OrgAccess

INVITATION_LIFETIME = timedelta(days=14)
ROLES = ("owner", "admin", "member", "viewer")


def grantable_roles(role: str | None) -> frozenset[str]:
    """The roles a member of `role` may invite to: owners any, admins all but owner."""
    if role == "owner":
        return frozenset(ROLES)
    if role == "admin":
        return frozenset({"admin", "member", "viewer"})
    return frozenset()


NULLABLE = frozenset({"postal_address", "contact", "payment_account"})


async def create_org(conn: Connection, principal: Principal, body: OrgCreate) -> OrgRow:
    """Any signed-in user may create an organisation and becomes its owner."""
    await quotas.check_new_org(conn, principal.subject)
    org_id = uuid.uuid4()
    await tenancy.enter_org(conn, org_id)
    await repository.insert_org(conn, org_id, body.model_dump())
    await repository.insert_member(conn, org_id, principal.subject, "owner")
    await events.append(
        conn, org_id, "org.created", principal.subject, ("org", org_id), {"name": body.name}
    )
    return await _org(conn, org_id)


async def get_org(conn: Connection, org_id: UUID) -> OrgRow:
    return await _org(conn, org_id)


async def update_org(
    conn: Connection, access: OrgAccess, body: OrgUpdate, expected_version: int | None
) -> OrgRow:
    current = await _org(conn, access.org_id, for_update=True)
    check_version(expected_version, current.version, "organisation")
    changes = body.model_dump(exclude_unset=True)
    if any(value is None and name not in NULLABLE for name, value in changes.items()):
        field = next(
            name for name, value in changes.items() if value is None and name not in NULLABLE
        )
        raise ValidationFailed.for_field(f"body.{field}", "may be left out but not null")
    if (
        changes.get("next_invoice_number", current.next_invoice_number)
        < current.next_invoice_number
    ):
        raise ValidationFailed.for_field(
            "body.next_invoice_number",
            f"may only be raised; the next number is {current.next_invoice_number}",
        )
    if changes:
        await repository.update_org(conn, access.org_id, changes)
        await events.append(
            conn, access.org_id, "org.updated", access.actor, ("org", access.org_id), changes
        )
    return await _org(conn, access.org_id)


async def list_members(conn: Connection, access: OrgAccess) -> list[MemberRow]:
    return await repository.list_members(conn, access.org_id)


async def change_role(conn: Connection, access: OrgAccess, subject: str, role: str) -> MemberRow:
    members = {m.subject: m for m in await repository.lock_members(conn, access.org_id)}
    member = members.get(subject)
    if member is None:
        raise NotFound("No member with this subject.")
    if "owner" in (role, member.role) and access.role != "owner":
        raise Forbidden("Only an owner can grant or take away the owner role.")
    _keep_an_owner(members, subject, new_role=role)
    await repository.set_member_role(conn, access.org_id, subject, role)
    await events.append(
        conn,
        access.org_id,
        "member.role_changed",
        access.actor,
        ("member", subject),
        {"from": member.role, "to": role},
    )
    lost = grantable_roles(member.role) - grantable_roles(role)
    await _revoke_invitations_by(conn, access, subject, lost, "inviter demoted")
    return MemberRow(subject, role, member.created_at)


async def remove_member(conn: Connection, access: OrgAccess, subject: str) -> None:
    """Admins remove others; anyone may leave. Access ends with this transaction."""
    members = {m.subject: m for m in await repository.lock_members(conn, access.org_id)}
    member = members.get(subject)
    if member is None:
        raise NotFound("No member with this subject.")
    if subject != access.actor and not access.at_least("admin"):
        raise Forbidden("Only admins and owners can remove other members.")
    if member.role == "owner" and subject != access.actor and access.role != "owner":
        raise Forbidden("Only an owner can remove an owner.")
    _keep_an_owner(members, subject, new_role=None)
    await repository.delete_member(conn, access.org_id, subject)
    await events.append(
        conn,
        access.org_id,
        "member.removed",
        access.actor,
        ("member", subject),
        {"role": member.role},
    )
    await _revoke_invitations_by(conn, access, subject, frozenset(ROLES), "inviter removed")


async def _revoke_invitations_by(
    conn: Connection, access: OrgAccess, subject: str, roles: frozenset[str], reason: str
) -> None:
    """An invitation never outlives its inviter's authority: when a member is removed or
    can no longer grant some roles, their open invitations to those roles are revoked."""
    if not roles:
        return
    revoked = await repository.revoke_invitations_by(conn, access.org_id, subject, sorted(roles))
    for invitation in revoked:
        await events.append(
            conn,
            access.org_id,
            "invitation.revoked",
            access.actor,
            ("invitation", invitation.id),
            {"email": invitation.email, "reason": reason},
        )


def _keep_an_owner(members: dict[str, MemberRow], subject: str, new_role: str | None) -> None:
    owners = {s for s, m in members.items() if m.role == "owner"}
    if owners == {subject} and new_role != "owner":
        raise LastOwner("An organisation keeps at least one owner; make someone else owner first.")


async def invite(conn: Connection, access: OrgAccess, body: InvitationCreate) -> InvitationRow:
    """One open invitation per email: a pending one is a 409; an expired one is revoked
    and replaced; a concurrent twin (the unique index) is the same 409."""
    if body.role == "owner" and access.role != "owner":
        raise Forbidden("Only an owner can invite an owner.")
    pending = InvitationPending(f"{body.email} already has a pending invitation; revoke it first.")
    now = datetime.now(UTC)
    existing = await repository.open_invitation_for_update(conn, access.org_id, body.email)
    if existing is not None:
        if existing.expires_at > now:
            raise pending
        await repository.mark_invitation(conn, existing.id)
        await events.append(
            conn,
            access.org_id,
            "invitation.revoked",
            access.actor,
            ("invitation", existing.id),
            {"email": existing.email, "reason": "expired, replaced"},
        )
    await quotas.check_new_invitation(conn, access.org_id)
    try:
        invitation = await repository.insert_invitation_once(
            conn, access.org_id, body.email, body.role, access.actor, now + INVITATION_LIFETIME
        )
    except repository.DuplicateInvitation:
        raise pending from None
    await events.append(
        conn,
        access.org_id,
        "invitation.created",
        access.actor,
        ("invitation", invitation.id),
        {"email": body.email, "role": body.role},
    )
    return invitation


async def pending_for_org(conn: Connection, access: OrgAccess) -> list[InvitationRow]:
    """Open invitations, expired ones included (so they can be seen and revoked)."""
    return await repository.pending_invitations(conn, org_id=access.org_id, include_expired=True)


async def revoke(conn: Connection, access: OrgAccess, invitation_id: UUID) -> None:
    invitation = await repository.get_invitation(conn, invitation_id, org_id=access.org_id)
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        raise NotFound("No pending invitation with this id.")
    await repository.mark_invitation(conn, invitation_id)
    await events.append(
        conn,
        access.org_id,
        "invitation.revoked",
        access.actor,
        ("invitation", invitation_id),
        {"email": invitation.email},
    )


async def pending_for_me(conn: Connection, principal: Principal) -> list[InvitationRow]:
    if not principal.email or not principal.email_verified:
        return []
    return await repository.pending_invitations(conn, email=principal.email.lower())


async def accept(conn: Connection, principal: Principal, invitation_id: UUID) -> InvitationRow:
    """Row-level security shows only invitations for the token's verified email."""
    invitation = await repository.get_invitation(conn, invitation_id)
    now = datetime.now(UTC)
    if invitation is None or invitation.revoked_at or invitation.expires_at <= now:
        raise NotFound("No pending invitation with this id for your verified email.")
    if invitation.accepted_at is not None:
        raise InvitationAccepted("This invitation was already accepted.")
    await tenancy.enter_org(conn, invitation.org_id)
    inviter_role = await tenancy.role_in(conn, invitation.org_id, invitation.invited_by)
    if invitation.role not in grantable_roles(inviter_role):  # their authority has ended
        raise NotFound("No pending invitation with this id for your verified email.")
    if await tenancy.role_in(conn, invitation.org_id, principal.subject) is not None:
        raise AlreadyMember("You are already a member of this organisation.")
    await repository.insert_member(conn, invitation.org_id, principal.subject, invitation.role)
    await repository.mark_invitation(conn, invitation_id, accepted_by=principal.subject)
    await events.append(
        conn,
        invitation.org_id,
        "invitation.accepted",
        principal.subject,
        ("invitation", invitation_id),
        {"role": invitation.role},
    )
    accepted = await repository.get_invitation(conn, invitation_id)
    assert accepted is not None
    return accepted


async def _org(conn: Connection, org_id: UUID, *, for_update: bool = False) -> OrgRow:
    org = await repository.get_org(conn, org_id, for_update=for_update)
    if org is None:
        raise NotFound("No organisation with this id.")
    return org


async def read_memberships(read: OneStatementRead) -> list[MembershipRow]:
    """The caller's organisations and role in each (`GET /v1/me`), in one statement."""
    return await repository.read_memberships(read.conn, read.subject, read.email)
