"""SQL of reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from penvoice.db import Connection


@dataclass(frozen=True)
class AgingRow:
    currency: str
    current: int
    days_1_30: int
    days_31_60: int
    days_61_90: int
    days_over_90: int
    total: int
    invoice_count: int


async def ar_aging(conn: Connection, org_id: UUID, as_of: date) -> list[AgingRow]:
    """What was owed at the end of `as_of`, by days past due: every invoice issued by then,
    less the payments dated by then (deleted ones never count). Invoices paid or voided
    later still owed money on `as_of`; drafts never did. (A payment recorded with a
    `paid_on` after its invoice became paid is not seen before that day: a known edge.)"""
    rows = await conn.fetch(
        """WITH candidates AS (
               SELECT id, currency, due_date, total FROM invoices
               WHERE org_id = $1 AND issue_date <= $2
                 AND (status IN ('open', 'uncollectible')
                      OR (status = 'paid' AND paid_at >= $2::date + 1)
                      OR (status = 'void' AND voided_at >= $2::date + 1))
           ),
           paid AS (
               SELECT p.invoice_id, sum(p.amount) AS amount
               FROM payments p JOIN candidates c ON c.id = p.invoice_id
               WHERE p.org_id = $1 AND p.deleted_at IS NULL AND p.paid_on <= $2
               GROUP BY p.invoice_id
           ),
           owed AS (
               SELECT c.currency, $2 - c.due_date AS late, c.total - coalesce(paid.amount, 0) AS due
               FROM candidates c LEFT JOIN paid ON paid.invoice_id = c.id
           )
           SELECT currency,
                  coalesce(sum(due) FILTER (WHERE late <= 0), 0) AS current,
                  coalesce(sum(due) FILTER (WHERE late BETWEEN 1 AND 30), 0) AS days_1_30,
                  coalesce(sum(due) FILTER (WHERE late BETWEEN 31 AND 60), 0) AS days_31_60,
                  coalesce(sum(due) FILTER (WHERE late BETWEEN 61 AND 90), 0) AS days_61_90,
                  coalesce(sum(due) FILTER (WHERE late > 90), 0) AS days_over_90,
                  sum(due) AS total,
                  count(*) AS invoice_count
           FROM owed WHERE due > 0
           GROUP BY currency
           ORDER BY currency""",
        org_id,
        as_of,
    )
    return [
        AgingRow(
            row["currency"],
            int(row["current"]),
            int(row["days_1_30"]),
            int(row["days_31_60"]),
            int(row["days_61_90"]),
            int(row["days_over_90"]),
            int(row["total"]),
            row["invoice_count"],
        )
        for row in rows
    ]
