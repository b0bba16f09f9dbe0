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
    """Amounts due on open and uncollectible invoices issued by `as_of`, by days past due."""
    rows = await conn.fetch(
        """SELECT currency,
                  coalesce(sum(amount_due) FILTER (WHERE due_date >= $2), 0) AS current,
                  coalesce(sum(amount_due) FILTER (WHERE $2 - due_date BETWEEN 1 AND 30), 0)
                      AS days_1_30,
                  coalesce(sum(amount_due) FILTER (WHERE $2 - due_date BETWEEN 31 AND 60), 0)
                      AS days_31_60,
                  coalesce(sum(amount_due) FILTER (WHERE $2 - due_date BETWEEN 61 AND 90), 0)
                      AS days_61_90,
                  coalesce(sum(amount_due) FILTER (WHERE $2 - due_date > 90), 0) AS days_over_90,
                  sum(amount_due) AS total,
                  count(*) AS invoice_count
           FROM invoices
           WHERE org_id = $1 AND status IN ('open', 'uncollectible')
             AND issue_date <= $2 AND amount_due > 0
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
