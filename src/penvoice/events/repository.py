"""SQL of the event trail: every mutation appends one row in its own transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from penvoice.db import Connection


@dataclass(frozen=True)
class EventRow:
    id: int
    type: str
    actor: str
    subject_type: str
    subject_id: str
    data: dict[str, Any]
    created_at: datetime


# For a repository whose statement appends its own events (one round trip for a change and
# its trail): `INSERT_EVENTS` followed by a SELECT of (org_id, type, actor, subject_type,
# subject_id, data) rows, in the order they happened.
INSERT_EVENTS = "INSERT INTO events (org_id, type, actor, subject_type, subject_id, data)"


async def append(
    conn: Connection,
    org_id: UUID,
    type_: str,
    actor: str,
    subject: tuple[str, object],
    data: dict[str, Any] | None = None,
) -> None:
    subject_type, subject_id = subject
    await conn.execute(
        """INSERT INTO events (org_id, type, actor, subject_type, subject_id, data)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        org_id,
        type_,
        actor,
        subject_type,
        str(subject_id),
        json.dumps(data or {}, default=str),
    )


async def list_events(
    conn: Connection,
    org_id: UUID,
    *,
    limit: int,
    before_id: int | None,
    type_: str | None,
    subject_id: str | None,
) -> list[EventRow]:
    """The trail as the caller (the transaction's `penvoice.subject`) may read it: invitation
    events carry invitees' emails and roles, which only admins and owners list, so for
    everyone else their `data` is empty (the event itself — type, actor, time — stays)."""
    rows = await conn.fetch(
        """SELECT id, type, actor, subject_type, subject_id,
                  CASE WHEN subject_type <> 'invitation' OR EXISTS (
                           SELECT 1 FROM memberships m
                           WHERE m.org_id = $1 AND m.subject = penvoice_current_subject()
                             AND m.role IN ('owner', 'admin'))
                       THEN data ELSE '{}'::jsonb END AS data,
                  created_at
           FROM events
           WHERE org_id = $1
             AND ($2::bigint IS NULL OR id < $2)
             AND ($3::text IS NULL OR type = $3)
             AND ($4::text IS NULL OR subject_id = $4)
           ORDER BY id DESC
           LIMIT $5""",
        org_id,
        before_id,
        type_,
        subject_id,
        limit + 1,
    )
    return [
        EventRow(
            r["id"],
            r["type"],
            r["actor"],
            r["subject_type"],
            r["subject_id"],
            json.loads(r["data"]),
            r["created_at"],
        )
        for r in rows
    ]
