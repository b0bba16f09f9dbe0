"""`GET /v1/orgs/{org_id}/events`: the audit trail, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from penvoice.events import service
from penvoice.events.schemas import Event
from penvoice.openapi import PROBLEMS
from penvoice.pagination import (
    DEFAULT_LIMIT,
    CursorParam,
    Limit,
    Page,
    decode_cursor,
    id_key,
    page_of,
)
from penvoice.tenancy.access import AsViewer, UserTransaction

router = APIRouter(tags=["events"])


@router.get(
    "/orgs/{org_id}/events",
    summary="List the organisation's events, newest first",
    response_model=Page[Event],
    responses=PROBLEMS(401, 404, 422),
)
async def list_events(
    access: AsViewer,
    conn: UserTransaction,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    type: Annotated[str | None, Query(max_length=64, description="e.g. invoice.finalized")] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[Event]:
    before = decode_cursor(cursor, id_key) if cursor else None
    rows = await service.list_events(
        conn, access, limit=limit, before_id=before, type_=type, subject_id=subject_id
    )
    events = [Event(**row.__dict__) for row in rows]
    return page_of(events, limit, key=lambda event: (event.id,))
