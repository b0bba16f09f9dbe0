"""SQL of payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from penvoice.db import Connection

_COLUMNS = """id, invoice_id, amount, currency, paid_on, method, reference, created_at,
    created_by, deleted_at, deleted_by"""


@dataclass(frozen=True)
class PaymentRow:
    id: UUID
    invoice_id: UUID
    amount: int
    currency: str
    paid_on: date
    method: str
    reference: str
    created_at: datetime
    created_by: str
    deleted_at: datetime | None
    deleted_by: str | None


async def insert(
    conn: Connection,
    org_id: UUID,
    invoice_id: UUID,
    *,
    amount: int,
    currency: str,
    paid_on: date,
    method: str,
    reference: str,
    actor: str,
) -> PaymentRow:
    row = await conn.fetchrow(
        f"""INSERT INTO payments (org_id, invoice_id, amount, currency, paid_on, method,
                reference, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}""",  # noqa: S608
        org_id,
        invoice_id,
        amount,
        currency,
        paid_on,
        method,
        reference,
        actor,
    )
    assert row is not None
    return PaymentRow(**dict(row))


# An invoice stores at most QUOTA_PAYMENTS_PER_INVOICE payments (at most 1,000), so the list
# is whole; the LIMIT keeps the read bounded whatever is stored.
MAX_LISTED_PAYMENTS = 1000


async def list_for_invoice(conn: Connection, org_id: UUID, invoice_id: UUID) -> list[PaymentRow]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM payments WHERE org_id = $1 AND invoice_id = $2
            ORDER BY created_at, id LIMIT $3""",  # noqa: S608
        org_id,
        invoice_id,
        MAX_LISTED_PAYMENTS,
    )
    return [PaymentRow(**dict(row)) for row in rows]


async def get(
    conn: Connection, org_id: UUID, invoice_id: UUID, payment_id: UUID
) -> PaymentRow | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM payments
            WHERE org_id = $1 AND invoice_id = $2 AND id = $3 FOR UPDATE""",  # noqa: S608
        org_id,
        invoice_id,
        payment_id,
    )
    return PaymentRow(**dict(row)) if row else None


async def mark_deleted(conn: Connection, org_id: UUID, payment_id: UUID, actor: str) -> None:
    await conn.execute(
        "UPDATE payments SET deleted_at = now(), deleted_by = $3 WHERE org_id = $1 AND id = $2",
        org_id,
        payment_id,
        actor,
    )
