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
    `paid_on` after its invoice became paid is not seen before that day: a known edge.)

    Computed from the stored `amount_due` plus the payments dated after `as_of` (few, and
    indexed), so only the invoices still owed on that day are read, not the whole history.
    Credit notes issued after `as_of` are added back the same way: what they took off the
    amount due was still owed that day.
    """
    rows = await conn.fetch(
        """WITH later AS (
               SELECT invoice_id, sum(amount) AS amount FROM payments
               WHERE org_id = $1 AND deleted_at IS NULL AND paid_on > $2
               GROUP BY invoice_id
           ),
           credited_later AS (
               SELECT invoice_id, sum(applied) AS amount FROM credit_notes
               WHERE org_id = $1 AND issue_date > $2
               GROUP BY invoice_id
           ),
           owed AS (
               SELECT i.currency, $2 - i.due_date AS late,
                      CASE WHEN i.status = 'void' THEN i.total
                           ELSE i.amount_due + coalesce(later.amount, 0)
                                + coalesce(credited_later.amount, 0) END AS due
               FROM invoices i LEFT JOIN later ON later.invoice_id = i.id
               LEFT JOIN credited_later ON credited_later.invoice_id = i.id
               WHERE i.org_id = $1 AND i.issue_date <= $2
                 AND (i.status IN ('open', 'uncollectible')
                      OR (i.status = 'paid' AND i.paid_at >= ($2::date + 1)::timestamptz)
                      OR (i.status = 'void' AND i.voided_at >= ($2::date + 1)::timestamptz))
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
