"""SQL of the invoice export: the invoice list's filters, read in keyset pages."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from penvoice.db import Connection
from penvoice.invoices.repository import InvoiceFilters, filter_args, filter_conditions

# The invoice list's own filter conditions; the customer's name comes from the snapshot
# taken at finalization, or, for a draft, from the customer as it is now.
_EXPORT_ROWS = f"""
    SELECT i.id, i.number, i.status,
           coalesce(i.customer_snapshot ->> 'name', c.name) AS customer_name,
           i.currency, i.issue_date, i.due_date, i.subtotal, i.tax_total, i.total,
           i.amount_paid, i.amount_due, i.created_at, i.amount_credited, i.amount_refunded
    FROM invoices i
    JOIN customers c ON c.org_id = i.org_id AND c.id = i.customer_id
    WHERE {filter_conditions("i")}"""  # noqa: S608 - fixed text

# Every row at once: the benchmark's in-memory control (bench/csv_export.py).
EXPORT_QUERY = f"{_EXPORT_ROWS}\n    ORDER BY i.created_at DESC, i.id DESC"

# What the API reads: one page after a keyset position, each in its own short transaction.
EXPORT_PAGE_QUERY = f"""{_EXPORT_ROWS}
      AND ($8::timestamptz IS NULL OR (i.created_at, i.id) < ($8, $9))
    ORDER BY i.created_at DESC, i.id DESC
    LIMIT $10"""


async def export_page(
    conn: Connection,
    org_id: UUID,
    filters: InvoiceFilters,
    *,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Up to `limit` matching invoices after the keyset position `after`, newest first."""
    created_at, last_id = after if after else (None, None)
    return await conn.fetch(
        EXPORT_PAGE_QUERY, *filter_args(org_id, filters), created_at, last_id, limit
    )
