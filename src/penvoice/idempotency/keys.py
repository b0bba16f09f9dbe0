"""`Idempotency-Key` on every POST: a retry never creates a second resource.

The key is scoped to the caller (token subject). In the request's own transaction the
dependency takes a transaction-scoped advisory lock on the key (a concurrent duplicate gets
409 at once), then looks for a stored response: the same request fingerprint replays it
(with `Idempotent-Replayed: true`), a different one is a 422. The handler's `respond` stores
the response in the same transaction that creates the resource, so the two commit — or
roll back — together, on whichever replica served it. Keys are kept 48 hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from penvoice.auth import CurrentPrincipal
from penvoice.db import NO_CONNECTION_ERRORS, Connection, Database
from penvoice.errors import IdempotencyKeyInUse, ValidationFailed
from penvoice.idempotency import repository
from penvoice.idempotency.repository import StoredResponse
from penvoice.tenancy.access import UserTransaction

RETENTION_HOURS = 48
PURGE_INTERVAL_SECONDS = 3600
log = logging.getLogger("penvoice.idempotency")
REPLAY_HEADER = "Idempotent-Replayed"

KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Any unique string (a UUID); a retry with the same key and body replays "
        "the first response instead of creating a second resource.",
    ),
]


class IdempotentReplay(Exception):
    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replay of a stored response")
        self.stored = stored


def replay_response(stored: StoredResponse) -> Response:
    """The first response again, marked `Idempotent-Replayed: true`."""
    headers = {**stored.headers, REPLAY_HEADER: "true"}
    return Response(stored.body, stored.status_code, headers=headers, media_type="application/json")


@dataclass(frozen=True)
class Idempotency:
    conn: Connection
    subject: str
    key: str | None
    fingerprint: str

    async def respond(
        self, status: int, content: BaseModel | bytes, headers: dict[str, str] | None = None
    ) -> Response:
        """The handler's response (a model, or JSON already rendered), stored with the key
        in the handler's transaction."""
        body = content if isinstance(content, bytes) else content.model_dump_json().encode()
        headers = headers or {}
        if self.key is not None:
            stored = StoredResponse(self.fingerprint, status, body, headers)
            await repository.store(self.conn, self.subject, self.key, stored)
        return Response(body, status, headers=headers, media_type="application/json")


async def claim_dependency(
    request: Request, principal: CurrentPrincipal, conn: UserTransaction, key: KeyHeader = None
) -> Idempotency:
    """The declaration of `IdempotentRequest`; the edge calls `claim` itself."""
    print_ = fingerprint(request.method, request.url.path, await request.body())
    return await claim(conn, principal.subject, key, print_)


async def claim(conn: Connection, subject: str, key: str | None, print_: str) -> Idempotency:
    """Lock the key for this transaction; replay (`IdempotentReplay`) a stored response of
    the same request, refuse one of another request (422), else hand out the claim."""
    if key is None:
        return Idempotency(conn, subject, None, "")
    if not await repository.try_lock(conn, subject, key):
        raise IdempotencyKeyInUse(
            "A request with this Idempotency-Key is still in progress; retry shortly."
        )
    stored = await repository.find(conn, subject, key)
    if stored is None:
        return Idempotency(conn, subject, key, print_)
    if stored.fingerprint != print_:
        raise ValidationFailed.for_field(
            "header.Idempotency-Key",
            "already used with a different request",
            "idempotency_key_reused",
        )
    raise IdempotentReplay(stored)


def fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


IdempotentRequest = Annotated[Idempotency, Depends(claim_dependency)]


async def purge_expired_keys(database: Database) -> None:
    """Background task of the app: drop keys past their retention, once an hour."""
    while True:
        try:
            async with database.connection() as conn:
                purged = await repository.purge_older_than(conn, RETENTION_HOURS)
            log.info("purged %d expired idempotency keys", purged)
        except NO_CONNECTION_ERRORS as exc:
            log.warning("idempotency key purge skipped: %s", type(exc).__name__)
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
