"""SQL of the per-transaction tenant context that row-level security keys on."""

from __future__ import annotations

import re
from typing import Any
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


# A read in one statement (no BEGIN, no COMMIT: the statement is its own transaction):
# `FROM {ENTERED} LEFT JOIN LATERAL (… AND ctx.role IS NOT NULL …) AS x ON true`. The
# subquery `ctx` cannot be flattened (OFFSET 0, a volatile call), so it runs first and sets
# the transaction-local tenant context; the lateral part refers to `ctx.role`, so it runs per
# `ctx` row, after that, under row-level security for that organisation. Parameters $1 to $3
# are `entered_args`; the read's own start at $4 (`shifted`).
ENTERED = "(SELECT penvoice_enter($1, $2, $3) AS role OFFSET 0) AS ctx"
ENTERED_PARAMETERS = 3
_PARAMETER = re.compile(r"\$(\d+)")


def entered_args(subject: str, verified_email: str | None, org_id: UUID | None) -> tuple[Any, ...]:
    return subject, (verified_email or "").lower(), org_id


def shifted(sql: str) -> str:
    """`sql` with its parameters renumbered to follow `ENTERED`'s three."""
    return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + ENTERED_PARAMETERS}", sql)
