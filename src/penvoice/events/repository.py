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


# The outbox of the webhooks (docs/webhooks.md): for each event, in the same statement (one
# round trip, the same transaction), one webhook message per enabled endpoint of the
# organisation that subscribed to its type. The body is fixed now, in the Standard Webhooks
# shape {type, timestamp, data}. `_OUTBOX` reads the new rows from a CTE named `event`.
_OUTBOX = """INSERT INTO webhook_messages (id, org_id, endpoint_id, event_id, event_type, payload)
SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), w.org_id, w.id, e.id, e.type,
       json_build_object(
           'type', e.type,
           'timestamp', penvoice_json_time(e.created_at),
           'data', json_build_object(
               'event_id', e.id,
               'org_id', e.org_id,
               'actor', e.actor,
               'subject', json_build_object('type', e.subject_type, 'id', e.subject_id),
               'data', e.data))::text
FROM event e
JOIN webhook_endpoints w
  ON w.org_id = e.org_id AND w.enabled
 AND (cardinality(w.event_types) = 0 OR e.type = ANY (w.event_types))
ORDER BY e.id"""
_INSERT = "INSERT INTO events (org_id, type, actor, subject_type, subject_id, data)"
_RETURNING = "RETURNING id, org_id, type, actor, subject_type, subject_id, data, created_at"
_APPEND = f"""WITH event AS ({_INSERT} VALUES ($1, $2, $3, $4, $5, $6) {_RETURNING})
{_OUTBOX}"""


def event_ctes(rows: str) -> str:
    """For a repository whose statement appends its own events (one round trip for a change
    and its trail): the CTEs `event` (the events of `rows`, a SELECT of (org_id, type, actor,
    subject_type, subject_id, data) in the order they happened) and `event_outbox` (their
    webhook messages, as `append` writes them)."""
    return f"event AS ({_INSERT} {rows} {_RETURNING}), event_outbox AS ({_OUTBOX})"


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
        _APPEND,
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
