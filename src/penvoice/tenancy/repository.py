"""SQL of the per-transaction tenant context that row-level security keys on."""

from __future__ import annotations

from uuid import UUID

from penvoice.db import Connection


async def enter(
    conn: Connection, subject: str, verified_email: str | None, org_id: UUID | None
) -> str | None:
    """Who is asking and, when `org_id` is given, their role in it, in one round trip.

    `penvoice_enter` (migration 000005) sets the subject and email for this transaction, so
    their memberships and invitations become visible, then enters the organisation only when
    a membership row exists: every tenant table then shows that organisation's rows alone.
    The role, or None for a non-member (and always None without `org_id`)."""
    role: str | None = await conn.fetchval(
        "SELECT penvoice_enter($1, $2, $3)", subject, (verified_email or "").lower(), org_id
    )
    return role


async def enter_principal(conn: Connection, subject: str, verified_email: str | None) -> None:
    """Who is asking, without an organisation (`/v1/me`, creating one, invitations)."""
    await enter(conn, subject, verified_email, None)


async def enter_org(conn: Connection, org_id: UUID) -> None:
    """Which tenant: every tenant table shows only this organisation's rows from now on."""
    await conn.execute("SELECT set_config('penvoice.org_id', $1, true)", str(org_id))


async def role_in(conn: Connection, org_id: UUID, subject: str) -> str | None:
    role: str | None = await conn.fetchval(
        "SELECT role FROM memberships WHERE org_id = $1 AND subject = $2", org_id, subject
    )
    return role
