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


# The event, and in the same statement (one round trip, the same transaction) one webhook
# message per enabled endpoint of the organisation that subscribed to its type: the outbox
# the worker delivers from (docs/webhooks.md). The body is fixed now, in the Standard
# Webhooks shape {type, timestamp, data}.
_APPEND = """WITH event AS (
    INSERT INTO events (org_id, type, actor, subject_type, subject_id, data)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING id, org_id, type, actor, subject_type, subject_id, data, created_at
)
INSERT INTO webhook_messages (id, org_id, endpoint_id, event_id, event_type, payload)
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
 AND (cardinality(w.event_types) = 0 OR e.type = ANY (w.event_types))"""


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
    rows = await conn.fetch(
        """SELECT id, type, actor, subject_type, subject_id, data, created_at
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
