"""The job queue's SQL: enqueueing through pgqueuer on the caller's connection, and the
queue's state for the worker's metrics."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from pgqueuer import AsyncpgDriver
from pgqueuer.queries import Queries

from penvoice.db import Connection

if TYPE_CHECKING:
    import asyncpg


async def enqueue(
    conn: Connection,
    kind: str,
    payload: Mapping[str, object],
    *,
    delay: timedelta | None = None,
    dedupe_key: str | None = None,
) -> int:
    """Insert one job on `conn`, in whatever transaction `conn` has open (the request's):
    the job exists exactly when that transaction commits. Returns the job's id."""
    (job_id,) = await _queries(conn).enqueue(
        kind, _body(payload), execute_after=delay, dedupe_key=dedupe_key
    )
    return int(job_id)


async def enqueue_unless_queued(
    conn: Connection, kind: str, payload: Mapping[str, object], *, dedupe_key: str
) -> int | None:
    """`enqueue`, or nothing (None) while a job with this `dedupe_key` is queued or running."""
    (job_id,) = await _queries(conn).enqueue(
        kind, _body(payload), dedupe_key=dedupe_key, on_conflict="skip"
    )
    return None if job_id is None else int(job_id)


def _queries(conn: Connection) -> Queries:
    return Queries(AsyncpgDriver(cast("asyncpg.Connection", conn)))


def _body(payload: Mapping[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True)
class QueueRow:
    kind: str
    status: str
    jobs: int
    oldest_seconds: float


async def queue_state(conn: Connection) -> list[QueueRow]:
    """Jobs by kind and status (queued and due, queued for later, picked, failed), with the
    age of the oldest: the queue depth a canary of the worker is judged by."""
    rows = await conn.fetch(
        """
        SELECT entrypoint AS kind,
               CASE WHEN status = 'queued' AND execute_after > now() THEN 'scheduled'
                    ELSE status::text END AS state,
               count(*) AS jobs,
               coalesce(extract(epoch FROM now() - min(
                   CASE WHEN status = 'queued' THEN execute_after ELSE updated END)), 0)
                   AS oldest
        FROM pgqueuer
        WHERE status IN ('queued', 'picked', 'failed')
        GROUP BY 1, 2
        """
    )
    return [
        QueueRow(r["kind"], r["state"], int(r["jobs"]), max(0.0, float(r["oldest"]))) for r in rows
    ]
