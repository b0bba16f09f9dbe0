"""SQL of the per-transaction tenant context that row-level security keys on."""

from __future__ import annotations

from uuid import UUID

from penvoice.db import Connection


async def enter_principal(conn: Connection, subject: str, verified_email: str | None) -> None:
    """Who is asking: memberships and invitations of this subject/email become visible."""
    await conn.execute(
        "SELECT set_config('penvoice.subject', $1, true), set_config('penvoice.email', $2, true)",
        subject,
        (verified_email or "").lower(),
    )


async def enter_org(conn: Connection, org_id: UUID) -> None:
    """Which tenant: every tenant table shows only this organisation's rows from now on."""
    await conn.execute("SELECT set_config('penvoice.org_id', $1, true)", str(org_id))


async def enter_org_as_member(conn: Connection, org_id: UUID, subject: str) -> str | None:
    """`role_in`, then `enter_org` when there is a role, in one round trip: the setting is
    made only for a membership row that exists (the select list runs per row found)."""
    role: str | None = await conn.fetchval(
        """SELECT role, set_config('penvoice.org_id', $1::uuid::text, true)
           FROM memberships WHERE org_id = $1 AND subject = $2""",
        org_id,
        subject,
    )
    return role


async def role_in(conn: Connection, org_id: UUID, subject: str) -> str | None:
    role: str | None = await conn.fetchval(
        "SELECT role FROM memberships WHERE org_id = $1 AND subject = $2", org_id, subject
    )
    return role
