"""SQL of invoice deliveries: the send request, each recipient's state, the invoice's
delivery status. Every statement runs under row-level security: the API's requests have
entered the tenant; the worker enters it with `tenancy.repository.enter_org` from the
job's payload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from penvoice.db import Connection


@dataclass(frozen=True)
class RecipientRow:
    position: int
    address: str
    message_id: str
    state: str
    attempts: int
    smtp_code: int | None
    smtp_response: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class DeliveryRow:
    id: UUID
    invoice_id: UUID
    status: str
    message: str
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    recipients: list[RecipientRow]


_RECIPIENT_COLUMNS = (
    "position, address, message_id, state, attempts, smtp_code, smtp_response, sent_at"
)


async def insert_delivery(
    conn: Connection,
    org_id: UUID,
    invoice_id: UUID,
    message: str,
    actor: str,
    recipients: list[tuple[str, str]],
) -> UUID:
    delivery_id: UUID = await conn.fetchval(
        """INSERT INTO invoice_deliveries (org_id, invoice_id, message, requested_by)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        org_id,
        invoice_id,
        message,
        actor,
    )
    await conn.execute(
        """INSERT INTO invoice_delivery_recipients
               (org_id, delivery_id, position, address, message_id)
           SELECT $1, $2, r.position, r.address, r.message_id
           FROM unnest($3::text[], $4::text[]) WITH ORDINALITY
               AS r(address, message_id, position)""",
        org_id,
        delivery_id,
        [address for address, _ in recipients],
        [message_id for _, message_id in recipients],
    )
    return delivery_id


async def set_invoice_delivery_status(
    conn: Connection, org_id: UUID, invoice_id: UUID, status: str
) -> None:
    """The invoice shows its latest send's outcome; its representation changed, so does its
    version (ETag)."""
    await conn.execute(
        """UPDATE invoices SET delivery_status = $3, version = version + 1, updated_at = now()
           WHERE org_id = $1 AND id = $2""",
        org_id,
        invoice_id,
        status,
    )


def _delivery(row: Any, recipients: list[RecipientRow]) -> DeliveryRow:
    return DeliveryRow(
        id=row["id"],
        invoice_id=row["invoice_id"],
        status=row["status"],
        message=row["message"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        finished_at=row["finished_at"],
        recipients=recipients,
    )


async def list_deliveries(conn: Connection, org_id: UUID, invoice_id: UUID) -> list[DeliveryRow]:
    """Newest first, each with its recipients."""
    rows = await conn.fetch(
        """SELECT id, invoice_id, status, message, requested_by, requested_at, finished_at
           FROM invoice_deliveries WHERE org_id = $1 AND invoice_id = $2
           ORDER BY requested_at DESC, id DESC LIMIT 100""",
        org_id,
        invoice_id,
    )
    ids = [row["id"] for row in rows]
    recipients = await conn.fetch(
        f"""SELECT delivery_id, {_RECIPIENT_COLUMNS} FROM invoice_delivery_recipients
            WHERE org_id = $1 AND delivery_id = ANY($2::uuid[])
            ORDER BY delivery_id, position""",  # noqa: S608 - fixed column list
        org_id,
        ids,
    )
    by_delivery: dict[UUID, list[RecipientRow]] = {}
    for r in recipients:
        values = dict(r)
        by_delivery.setdefault(values.pop("delivery_id"), []).append(RecipientRow(**values))
    return [_delivery(row, by_delivery.get(row["id"], [])) for row in rows]


async def get_delivery(
    conn: Connection, org_id: UUID, delivery_id: UUID, *, lock: bool = False
) -> DeliveryRow | None:
    """With `lock`, the delivery and its recipients are locked for this transaction: two
    workers never move the same recipient at once."""
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        f"""SELECT id, invoice_id, status, message, requested_by, requested_at, finished_at
            FROM invoice_deliveries WHERE org_id = $1 AND id = $2{suffix}""",  # noqa: S608
        org_id,
        delivery_id,
    )
    if row is None:
        return None
    recipients = await conn.fetch(
        f"""SELECT {_RECIPIENT_COLUMNS} FROM invoice_delivery_recipients
            WHERE org_id = $1 AND delivery_id = $2 ORDER BY position{suffix}""",  # noqa: S608
        org_id,
        delivery_id,
    )
    return _delivery(row, [RecipientRow(**dict(r)) for r in recipients])


async def set_recipient_state(
    conn: Connection,
    org_id: UUID,
    delivery_id: UUID,
    position: int,
    state: str,
    *,
    reply: tuple[int | None, str | None] | None = None,
    count_attempt: bool = False,
) -> None:
    code, text = reply if reply is not None else (None, None)
    await conn.execute(
        """UPDATE invoice_delivery_recipients
           SET state = $4,
               attempts = attempts + $5::int,
               smtp_code = CASE WHEN $6 THEN $7::int ELSE smtp_code END,
               smtp_response = CASE WHEN $6 THEN left($8::text, 2000) ELSE smtp_response END,
               sent_at = CASE WHEN $4 = 'sent' THEN now() ELSE sent_at END,
               updated_at = now()
           WHERE org_id = $1 AND delivery_id = $2 AND position = $3""",
        org_id,
        delivery_id,
        position,
        state,
        1 if count_attempt else 0,
        reply is not None,
        code,
        text,
    )


async def finish_delivery(conn: Connection, org_id: UUID, delivery_id: UUID, status: str) -> None:
    await conn.execute(
        """UPDATE invoice_deliveries SET status = $3, finished_at = now()
           WHERE org_id = $1 AND id = $2""",
        org_id,
        delivery_id,
        status,
    )


async def try_lock_delivery(conn: Connection, delivery_id: UUID) -> bool:
    """A session-level advisory lock on one delivery, held by the worker sending it; the
    server releases it when that worker's connection dies."""
    locked: bool = await conn.fetchval(
        "SELECT pg_try_advisory_lock(hashtextextended($1::text, 14))", str(delivery_id)
    )
    return locked


async def unlock_delivery(conn: Connection, delivery_id: UUID) -> None:
    await conn.execute(
        "SELECT pg_advisory_unlock(hashtextextended($1::text, 14))", str(delivery_id)
    )
