"""SQL of the invoice export: the invoice list's filters, read through a server-side cursor."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from uuid import UUID

import asyncpg

from penvoice.db import Connection
from penvoice.invoices.repository import InvoiceFilters

# The WHERE clause mirrors invoices.repository.list_invoices (tests compare the two); the
# customer's name comes from the snapshot taken at finalization, or, for a draft, from the
# customer as it is now.
EXPORT_QUERY = """
    SELECT i.id, i.number, i.status,
           coalesce(i.customer_snapshot ->> 'name', c.name) AS customer_name,
           i.currency, i.issue_date, i.due_date, i.subtotal, i.tax_total, i.total,
           i.amount_paid, i.amount_due, i.created_at
    FROM invoices i
    JOIN customers c ON c.org_id = i.org_id AND c.id = i.customer_id
    WHERE i.org_id = $1
      AND ($2::text IS NULL OR i.status = $2)
      AND ($3::uuid IS NULL OR i.customer_id = $3)
      AND ($4::boolean IS NULL OR $4 = (i.status = 'open' AND i.due_date < current_date))
      AND ($5::date IS NULL OR i.issue_date >= $5)
      AND ($6::date IS NULL OR i.issue_date <= $6)
      AND ($7::text IS NULL OR i.number = $7)
    ORDER BY i.created_at DESC, i.id DESC"""


async def export_rows(
    conn: Connection, org_id: UUID, filters: InvoiceFilters, *, chunk_rows: int
) -> AsyncGenerator[asyncpg.Record, None]:
    """Every matching invoice, newest first, fetched `chunk_rows` at a time through a
    server-side cursor (the caller holds the transaction the cursor lives in)."""
    cursor = conn.cursor(
        EXPORT_QUERY,
        org_id,
        filters.status,
        filters.customer_id,
        filters.overdue,
        filters.issued_from,
        filters.issued_to,
        filters.number,
        prefetch=chunk_rows,
    )
    async for record in cursor:
        yield record
