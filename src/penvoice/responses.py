"""The answer to a POST that creates a resource: 201, its ETag and Location, kept with the key."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel

from penvoice.concurrency import etag
from penvoice.idempotency.keys import Idempotency


async def created(
    key: Idempotency, resource: BaseModel | bytes, version: int, location: str
) -> Response:
    """201 with `resource`; a retry with the same `Idempotency-Key` replays this response."""
    return await key.respond(201, resource, {"ETag": etag(version), "Location": location})
