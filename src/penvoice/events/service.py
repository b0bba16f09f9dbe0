"""Reading the event trail (events are appended by each feature's service)."""

from __future__ import annotations

from penvoice.db import Connection
from penvoice.events import repository
from penvoice.events.repository import EventRow
from penvoice.tenancy.access import OrgAccess


async def list_events(
    conn: Connection,
    access: OrgAccess,
    *,
    limit: int,
    before_id: int | None,
    type_: str | None,
    subject_id: str | None,
) -> list[EventRow]:
    return await repository.list_events(
        conn, access.org_id, limit=limit, before_id=before_id, type_=type_, subject_id=subject_id
    )
