"""SQL for organisations, members, invitations and the invoice number counter."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from penvoice.db import Connection
from penvoice.tenancy.repository import ENTERED, entered_args


@dataclass(frozen=True)
class MembershipRow:
    org_id: UUID
    org_name: str
    role: str


@dataclass(frozen=True)
class OrgRow:
    id: UUID
    name: str
    address: str
    tax_id: str
    default_currency: str
    payment_terms_days: int
    invoice_prefix: str
    next_invoice_number: int
    legal_name: str
    postal_address: dict[str, Any] | None
    vat_id: str
    legal_registration_id: str
    contact: dict[str, Any] | None
    payment_account: dict[str, Any] | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MemberRow:
    subject: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class InvitationRow:
    id: UUID
    org_id: UUID
    email: str
    role: str
    invited_by: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


_ORG_COLUMNS = """o.id, o.name, o.address, o.tax_id, o.default_currency, o.payment_terms_days,
    o.invoice_prefix, c.next_number AS next_invoice_number, o.legal_name, o.postal_address,
    o.vat_id, o.legal_registration_id, o.contact, o.payment_account, o.version, o.created_at,
    o.updated_at"""
JSON_COLUMNS = frozenset({"postal_address", "contact", "payment_account"})


def _stored(name: str, value: Any) -> Any:
    """A value as its column takes it: the nested objects as jsonb text."""
    return json.dumps(value) if name in JSON_COLUMNS and value is not None else value


def _org(row: Any) -> OrgRow:
    values = dict(row)
    for name in JSON_COLUMNS:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return OrgRow(**values)


_INVITATION_COLUMNS = """id, org_id, email, role, invited_by, created_at, expires_at,
    accepted_at, revoked_at"""


async def read_memberships(
    conn: Connection, subject: str, verified_email: str | None
) -> list[MembershipRow]:
    """The principal's organisations and role in each, by name, in one statement that also
    enters the principal (`ENTERED`)."""
    rows = await conn.fetch(
        f"""SELECT m.org_id, m.org_name, m.role FROM {ENTERED}
            LEFT JOIN LATERAL (
                SELECT m.org_id, o.name AS org_name, m.role, ctx.role AS entered
                FROM memberships m JOIN organisations o ON o.id = m.org_id
                WHERE m.subject = $1) AS m ON true
            ORDER BY m.org_name, m.org_id""",  # noqa: S608 - fixed text
        *entered_args(subject, verified_email, None),
    )
    return [
        MembershipRow(row["org_id"], row["org_name"], row["role"])
        for row in rows
        if row["org_id"] is not None
    ]


async def insert_org(conn: Connection, org_id: UUID, values: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO organisations
               (id, name, address, tax_id, default_currency, payment_terms_days, invoice_prefix,
                legal_name, postal_address, vat_id, legal_registration_id, contact,
                payment_account)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        org_id,
        *(
            _stored(name, values[name])
            for name in (
                "name",
                "address",
                "tax_id",
                "default_currency",
                "payment_terms_days",
                "invoice_prefix",
                "legal_name",
                "postal_address",
                "vat_id",
                "legal_registration_id",
                "contact",
                "payment_account",
            )
        ),
    )
    await conn.execute("INSERT INTO invoice_number_counters (org_id) VALUES ($1)", org_id)


async def get_org(conn: Connection, org_id: UUID, *, for_update: bool = False) -> OrgRow | None:
    lock = "FOR UPDATE OF o, c" if for_update else ""
    row = await conn.fetchrow(
        f"""SELECT {_ORG_COLUMNS}
            FROM organisations o JOIN invoice_number_counters c ON c.org_id = o.id
            WHERE o.id = $1 {lock}""",  # noqa: S608 - fixed fragments only
        org_id,
    )
    return _org(row) if row else None


async def update_org(conn: Connection, org_id: UUID, changes: dict[str, Any]) -> None:
    """Apply `changes` (column → value, columns from OrgUpdate) and bump the version."""
    columns = [name for name in changes if name != "next_invoice_number"]
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    await conn.execute(
        f"""UPDATE organisations SET {assignments + ", " if assignments else ""}
                version = version + 1, updated_at = now()
            WHERE id = $1""",  # noqa: S608 - column names come from the model, not the client
        org_id,
        *(_stored(name, changes[name]) for name in columns),
    )
    if "next_invoice_number" in changes:
        await conn.execute(
            "UPDATE invoice_number_counters SET next_number = $2 WHERE org_id = $1",
            org_id,
            changes["next_invoice_number"],
        )


async def insert_member(conn: Connection, org_id: UUID, subject: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO memberships (org_id, subject, role) VALUES ($1, $2, $3)", org_id, subject, role
    )


async def list_members(conn: Connection, org_id: UUID) -> list[MemberRow]:
    rows = await conn.fetch(
        """SELECT subject, role, created_at FROM memberships
           WHERE org_id = $1 ORDER BY created_at, subject""",
        org_id,
    )
    return [MemberRow(**dict(row)) for row in rows]


async def lock_members(conn: Connection, org_id: UUID) -> list[MemberRow]:
    """All members, locked: role changes serialise, so the last owner cannot slip away."""
    rows = await conn.fetch(
        """SELECT subject, role, created_at FROM memberships
           WHERE org_id = $1 ORDER BY subject FOR UPDATE""",
        org_id,
    )
    return [MemberRow(**dict(row)) for row in rows]


async def set_member_role(conn: Connection, org_id: UUID, subject: str, role: str) -> None:
    await conn.execute(
        """UPDATE memberships SET role = $3, updated_at = now()
           WHERE org_id = $1 AND subject = $2""",
        org_id,
        subject,
        role,
    )


async def delete_member(conn: Connection, org_id: UUID, subject: str) -> None:
    await conn.execute(
        "DELETE FROM memberships WHERE org_id = $1 AND subject = $2", org_id, subject
    )


async def insert_invitation(
    conn: Connection, org_id: UUID, email: str, role: str, invited_by: str, expires_at: datetime
) -> InvitationRow:
    row = await conn.fetchrow(
        f"""INSERT INTO invitations (org_id, email, role, invited_by, expires_at)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_INVITATION_COLUMNS}""",  # noqa: S608
        org_id,
        email,
        role,
        invited_by,
        expires_at,
    )
    assert row is not None
    return InvitationRow(**dict(row))


class DuplicateInvitation(Exception):
    """Another open invitation of this email to this organisation exists (unique index)."""


async def insert_invitation_once(
    conn: Connection, org_id: UUID, email: str, role: str, invited_by: str, expires_at: datetime
) -> InvitationRow:
    """`insert_invitation` in a savepoint: a concurrent twin is `DuplicateInvitation`."""
    try:
        async with conn.transaction():
            return await insert_invitation(conn, org_id, email, role, invited_by, expires_at)
    except asyncpg.UniqueViolationError:
        raise DuplicateInvitation(email) from None


# An organisation has at most QUOTA_INVITATIONS_PER_ORG open invitations (at most 1,000), so
# its list is whole; the LIMIT also bounds an invitee's list, which spans organisations.
MAX_LISTED_INVITATIONS = 1000


async def pending_invitations(
    conn: Connection,
    *,
    org_id: UUID | None = None,
    email: str | None = None,
    include_expired: bool = False,
) -> list[InvitationRow]:
    """Neither accepted nor revoked, newest first; expired ones too with `include_expired`."""
    rows = await conn.fetch(
        f"""SELECT {_INVITATION_COLUMNS} FROM invitations
            WHERE ($1::uuid IS NULL OR org_id = $1) AND ($2::text IS NULL OR email = $2)
              AND accepted_at IS NULL AND revoked_at IS NULL
              AND ($3 OR expires_at > now())
            ORDER BY created_at DESC, id LIMIT $4""",  # noqa: S608
        org_id,
        email,
        include_expired,
        MAX_LISTED_INVITATIONS,
    )
    return [InvitationRow(**dict(row)) for row in rows]


async def open_invitation_for_update(
    conn: Connection, org_id: UUID, email: str
) -> InvitationRow | None:
    """The one invitation of `email` neither accepted nor revoked (maybe expired), locked."""
    row = await conn.fetchrow(
        f"""SELECT {_INVITATION_COLUMNS} FROM invitations
            WHERE org_id = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL
            FOR UPDATE""",  # noqa: S608
        org_id,
        email,
    )
    return InvitationRow(**dict(row)) if row else None


async def revoke_invitations_by(
    conn: Connection, org_id: UUID, invited_by: str, roles: Sequence[str]
) -> list[InvitationRow]:
    """Revoke the open invitations `invited_by` made for one of `roles`; return them."""
    rows = await conn.fetch(
        f"""UPDATE invitations SET revoked_at = now()
            WHERE org_id = $1 AND invited_by = $2 AND role = ANY($3::text[])
              AND accepted_at IS NULL AND revoked_at IS NULL
            RETURNING {_INVITATION_COLUMNS}""",  # noqa: S608
        org_id,
        invited_by,
        list(roles),
    )
    return [InvitationRow(**dict(row)) for row in rows]


async def get_invitation(
    conn: Connection, invitation_id: UUID, *, org_id: UUID | None = None
) -> InvitationRow | None:
    row = await conn.fetchrow(
        f"""SELECT {_INVITATION_COLUMNS} FROM invitations
            WHERE id = $1 AND ($2::uuid IS NULL OR org_id = $2) FOR UPDATE""",  # noqa: S608
        invitation_id,
        org_id,
    )
    return InvitationRow(**dict(row)) if row else None


async def mark_invitation(
    conn: Connection, invitation_id: UUID, *, accepted_by: str | None = None
) -> None:
    """Accept (with the accepting subject) or, without one, revoke."""
    if accepted_by is None:
        await conn.execute("UPDATE invitations SET revoked_at = now() WHERE id = $1", invitation_id)
    else:
        await conn.execute(
            "UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1",
            invitation_id,
            accepted_by,
        )
