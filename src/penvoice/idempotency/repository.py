"""SQL of stored idempotent responses."""

from __future__ import annotations

import json
from dataclasses import dataclass

from penvoice import quotas
from penvoice.db import Connection


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status_code: int
    body: bytes
    headers: dict[str, str]


async def try_lock(conn: Connection, subject: str, key: str) -> bool:
    """Held until the transaction ends: a concurrent request with the same key sees False."""
    locked: bool = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext($2))", subject, key
    )
    return locked


async def find(conn: Connection, subject: str, key: str) -> StoredResponse | None:
    row = await conn.fetchrow(
        """SELECT fingerprint, status_code, response_body, response_headers
           FROM idempotency_keys WHERE subject = $1 AND key = $2""",
        subject,
        key,
    )
    if row is None:
        return None
    return StoredResponse(
        row["fingerprint"],
        row["status_code"],
        bytes(row["response_body"]),
        json.loads(row["response_headers"]),
    )


async def store(conn: Connection, subject: str, key: str, response: StoredResponse) -> None:
    await quotas.check_new_idempotent_response(conn, subject, len(response.body))
    await conn.execute(
        """INSERT INTO idempotency_keys
               (subject, key, fingerprint, status_code, response_body, response_headers)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        subject,
        key,
        response.fingerprint,
        response.status_code,
        response.body,
        json.dumps(response.headers),
    )


async def purge_older_than(conn: Connection, hours: int) -> int:
    status: str = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)", hours
    )
    return int(status.rsplit(maxsplit=1)[-1])
