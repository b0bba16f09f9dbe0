"""Update rules shared by the resources archived instead of deleted (customers, tax rates).

An update changes only what differs from the stored row, so resending current values is a
no-op; `archived` is a flag over `archived_at`. The changes leave `<type>.updated` (the
changed fields) and `<type>.archived` or `<type>.unarchived` in the event trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel

from penvoice.db import Connection
from penvoice.errors import ValidationFailed
from penvoice.events import repository as events
from penvoice.tenancy.access import OrgAccess


class Archivable(Protocol):
    @property
    def archived_at(self) -> datetime | None: ...


def changed_fields(
    body: BaseModel, current: Archivable, *, nullable: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The fields `body` sets to something other than `current` has; a field outside
    `nullable` may be left out but not sent as null."""
    sent = body.model_dump(exclude_unset=True)
    for field, value in sent.items():
        if value is None and field not in nullable:
            raise ValidationFailed.for_field(f"body.{field}", "may be left out but not null")
    return {name: value for name, value in sent.items() if value != _current(current, name)}


async def append_change_events(
    conn: Connection, access: OrgAccess, subject: tuple[str, UUID], changes: dict[str, Any]
) -> None:
    """The events of `changes`, named after the subject's type (`customer.updated`, …)."""
    subject_type = subject[0]
    fields = {name: value for name, value in changes.items() if name != "archived"}
    if fields:
        type_ = f"{subject_type}.updated"
        await events.append(conn, access.org_id, type_, access.actor, subject, fields)
    if "archived" in changes:
        type_ = f"{subject_type}.archived" if changes["archived"] else f"{subject_type}.unarchived"
        await events.append(conn, access.org_id, type_, access.actor, subject, {})


def _current(row: Archivable, field: str) -> object:
    if field == "archived":
        return row.archived_at is not None
    return getattr(row, field)
