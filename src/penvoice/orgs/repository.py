"""SQL for organisations and memberships."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from penvoice.db import Connection


@dataclass(frozen=True)
class MembershipRow:
    org_id: UUID
    org_name: str
    role: str


async def memberships_of(conn: Connection, subject: str) -> list[MembershipRow]:
    rows = await conn.fetch(
        """
        SELECT m.org_id, o.name AS org_name, m.role
        FROM memberships m
        JOIN organisations o ON o.id = m.org_id
        WHERE m.subject = $1
        ORDER BY o.name, m.org_id
        """,
        subject,
    )
    return [MembershipRow(row["org_id"], row["org_name"], row["role"]) for row in rows]
