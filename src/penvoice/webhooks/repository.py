"""SQL of webhooks: endpoints, secrets, the messages the event trail fans out to (see
`events.repository.append`), attempts, and the worker's sweep and delivery steps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from penvoice.db import Connection


@dataclass(frozen=True)
class EndpointRow:
    id: UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AttemptRow:
    attempted_at: datetime
    response_status: int | None
    response_body: str | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class MessageRow:
    id: str
    event_id: int
    event_type: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None


_ENDPOINT = (
    "id, url, description, event_types, enabled, disabled_reason, failing_since, version, "
    "created_at, updated_at"
)
_MESSAGE = (
    "id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, delivered_at"
)


def _endpoint(row: Any) -> EndpointRow:
    values = dict(row)
    values["event_types"] = list(values["event_types"])
    return EndpointRow(**values)


async def insert_endpoint(
    conn: Connection,
    org_id: UUID,
    url: str,
    description: str,
    event_types: list[str],
    actor: str,
) -> EndpointRow:
    row = await conn.fetchrow(
        f"""INSERT INTO webhook_endpoints (org_id, url, description, event_types, created_by)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_ENDPOINT}""",  # noqa: S608 - fixed list
        org_id,
        url,
        description,
        event_types,
        actor,
    )
    return _endpoint(row)


async def get_endpoint(
    conn: Connection, org_id: UUID, endpoint_id: UUID, *, for_update: bool = False
) -> EndpointRow | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE org_id = $1 AND id = $2{lock}",  # noqa: S608
        org_id,
        endpoint_id,
    )
    return _endpoint(row) if row else None


async def list_endpoints(conn: Connection, org_id: UUID) -> list[EndpointRow]:
    rows = await conn.fetch(
        f"""SELECT {_ENDPOINT} FROM webhook_endpoints WHERE org_id = $1
            ORDER BY created_at, id LIMIT 100""",  # noqa: S608 - fixed list
        org_id,
    )
    return [_endpoint(row) for row in rows]


async def update_endpoint(
    conn: Connection, org_id: UUID, endpoint_id: UUID, changes: dict[str, Any]
) -> EndpointRow:
    """`changes` keys are column names chosen by the service, never by the client."""
    allowed = {"url", "description", "event_types", "enabled", "disabled_reason", "failing_since"}
    assert set(changes) <= allowed, changes
    names = sorted(changes)
    assignments = ", ".join(f"{name} = ${index + 3}" for index, name in enumerate(names))
    row = await conn.fetchrow(
        f"""UPDATE webhook_endpoints
            SET {assignments}, version = version + 1, updated_at = now()
            WHERE org_id = $1 AND id = $2 RETURNING {_ENDPOINT}""",  # noqa: S608 - fixed names
        org_id,
        endpoint_id,
        *(changes[name] for name in names),
    )
    return _endpoint(row)


async def delete_endpoint(conn: Connection, org_id: UUID, endpoint_id: UUID) -> None:
    await conn.execute(
        "DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2", org_id, endpoint_id
    )


async def add_secret(
    conn: Connection, org_id: UUID, endpoint_id: UUID, secret: str, overlap_seconds: int
) -> None:
    """The new current secret; the one it replaces keeps signing for the overlap, and any
    older one stops now and is deleted: at most two secrets sign, and two rows are kept,
    however often an endpoint is rotated."""
    await conn.execute(
        """DELETE FROM webhook_secrets
           WHERE org_id = $1 AND endpoint_id = $2 AND expires_at IS NOT NULL""",
        org_id,
        endpoint_id,
    )
    await conn.execute(
        """UPDATE webhook_secrets SET expires_at = now() + make_interval(secs => $3)
           WHERE org_id = $1 AND endpoint_id = $2 AND expires_at IS NULL""",
        org_id,
        endpoint_id,
        float(overlap_seconds),
    )
    await conn.execute(
        "INSERT INTO webhook_secrets (org_id, endpoint_id, secret) VALUES ($1, $2, $3)",
        org_id,
        endpoint_id,
        secret,
    )


async def signing_secrets(conn: Connection, org_id: UUID, endpoint_id: UUID) -> list[str]:
    """Every secret that signs now: the current one first, then those still overlapping."""
    rows = await conn.fetch(
        """SELECT secret FROM webhook_secrets
           WHERE org_id = $1 AND endpoint_id = $2 AND (expires_at IS NULL OR expires_at > now())
           ORDER BY expires_at DESC NULLS FIRST, id DESC""",
        org_id,
        endpoint_id,
    )
    return [row["secret"] for row in rows]


# The log shows each message's latest attempts only: resends add attempts without end, and
# each keeps up to 4,000 characters of response and error.
MAX_LISTED_ATTEMPTS = 20


async def list_messages(
    conn: Connection, org_id: UUID, endpoint_id: UUID, message_id: str | None = None
) -> list[tuple[MessageRow, list[AttemptRow]]]:
    """The delivery log, newest first (100), or the one message `message_id`; each message
    with its latest MAX_LISTED_ATTEMPTS attempts, oldest first."""
    rows = await conn.fetch(
        f"""SELECT {_MESSAGE} FROM webhook_messages
            WHERE org_id = $1 AND endpoint_id = $2 AND ($3::text IS NULL OR id = $3)
            ORDER BY seq DESC LIMIT 100""",  # noqa: S608 - fixed list
        org_id,
        endpoint_id,
        message_id,
    )
    attempts = await conn.fetch(
        """SELECT message_id, attempted_at, response_status, response_body, error, duration_ms
           FROM (SELECT *, row_number() OVER (PARTITION BY message_id ORDER BY id DESC) AS n
                 FROM webhook_attempts
                 WHERE org_id = $1 AND message_id = ANY($2::text[])) latest
           WHERE n <= $3
           ORDER BY id""",
        org_id,
        [row["id"] for row in rows],
        MAX_LISTED_ATTEMPTS,
    )
    by_message: dict[str, list[AttemptRow]] = {}
    for attempt in attempts:
        values = dict(attempt)
        by_message.setdefault(values.pop("message_id"), []).append(AttemptRow(**values))
    return [(MessageRow(**dict(row)), by_message.get(row["id"], [])) for row in rows]


async def requeue_message(
    conn: Connection, org_id: UUID, endpoint_id: UUID, message_id: str
) -> bool:
    """A manual re-send (same webhook-id), due now: a delivered or failed message is pending
    again with fresh attempts; a pending one keeps its count, so resending it cannot lift
    WEBHOOK_MAX_ATTEMPTS."""
    status = await conn.execute(
        """UPDATE webhook_messages
           SET status = 'pending', next_attempt_at = now(), delivered_at = NULL,
               attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END
           WHERE org_id = $1 AND endpoint_id = $2 AND id = $3""",
        org_id,
        endpoint_id,
        message_id,
    )
    return status != "UPDATE 0"


# --- the worker ---------------------------------------------------------------------------


async def due_endpoints(conn: Connection, limit: int = 1000) -> list[tuple[UUID, UUID]]:
    """(org, endpoint) of enabled endpoints whose oldest pending message is due, the longest
    waiting first. One index probe per endpoint (its head), however many messages wait
    behind it. Reads across organisations through the sweep's own row-level security
    policy."""
    await conn.execute("SELECT set_config('penvoice.system', 'webhook-sweep', true)")
    rows = await conn.fetch(
        """SELECT w.org_id, w.id AS endpoint_id
           FROM webhook_endpoints w
           CROSS JOIN LATERAL (
               SELECT m.next_attempt_at FROM webhook_messages m
               WHERE m.endpoint_id = w.id AND m.status = 'pending'
               ORDER BY m.seq LIMIT 1) head
           WHERE w.enabled AND head.next_attempt_at <= now()
           ORDER BY head.next_attempt_at
           LIMIT $1""",
        limit,
    )
    return [(row["org_id"], row["endpoint_id"]) for row in rows]


async def head_message(conn: Connection, org_id: UUID, endpoint_id: UUID) -> MessageRow | None:
    """The endpoint's oldest pending message: deliveries keep the events' order."""
    row = await conn.fetchrow(
        f"""SELECT {_MESSAGE} FROM webhook_messages
            WHERE org_id = $1 AND endpoint_id = $2 AND status = 'pending'
            ORDER BY seq LIMIT 1 FOR UPDATE""",  # noqa: S608 - fixed list
        org_id,
        endpoint_id,
    )
    return MessageRow(**dict(row)) if row else None


async def record_attempt(
    conn: Connection,
    org_id: UUID,
    message_id: str,
    status: int | None,
    body: str | None,
    error: str | None,
    duration_ms: int,
) -> None:
    await conn.execute(
        """INSERT INTO webhook_attempts
               (org_id, message_id, response_status, response_body, error, duration_ms)
           VALUES ($1, $2, $3, left($4, 2000), left($5, 2000), $6)""",
        org_id,
        message_id,
        status,
        body,
        error,
        duration_ms,
    )


async def message_delivered(conn: Connection, org_id: UUID, message_id: str) -> None:
    await conn.execute(
        """UPDATE webhook_messages SET status = 'delivered', attempts = attempts + 1,
               delivered_at = now()
           WHERE org_id = $1 AND id = $2""",
        org_id,
        message_id,
    )


async def message_failed(
    conn: Connection, org_id: UUID, message_id: str, retry_in_seconds: float | None
) -> None:
    """Another attempt in `retry_in_seconds`, or (None) given up."""
    await conn.execute(
        """UPDATE webhook_messages
           SET attempts = attempts + 1,
               status = CASE WHEN $3::float8 IS NULL THEN 'failed' ELSE 'pending' END,
               next_attempt_at = now() + make_interval(secs => coalesce($3::float8, 0))
           WHERE org_id = $1 AND id = $2""",
        org_id,
        message_id,
        retry_in_seconds,
    )


async def try_lock_endpoint(conn: Connection, endpoint_id: UUID) -> bool:
    locked: bool = await conn.fetchval(
        "SELECT pg_try_advisory_lock(hashtextextended($1::text, 22))", str(endpoint_id)
    )
    return locked


async def unlock_endpoint(conn: Connection, endpoint_id: UUID) -> None:
    await conn.execute(
        "SELECT pg_advisory_unlock(hashtextextended($1::text, 22))", str(endpoint_id)
    )
