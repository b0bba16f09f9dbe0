"""SQL of the invoice export: the invoice list's filters, read through a server-side cursor."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from uuid import UUID

import asyncpg

from penvoice.db import Connection
from penvoice.invoices.repository import InvoiceFilters, filter_args, filter_conditions

# The invoice list's own filter conditions; the customer's name comes from the snapshot
# taken at finalization, or, for a draft, from the customer as it is now.
EXPORT_QUERY = f"""
    SELECT i.id, i.number, i.status,
           coalesce(i.customer_snapshot ->> 'name', c.name) AS customer_name,
           i.currency, i.issue_date, i.due_date, i.subtotal, i.tax_total, i.total,
           i.amount_paid, i.amount_due, i.created_at, i.amount_credited, i.amount_refunded
    FROM invoices i
    JOIN customers c ON c.org_id = i.org_id AND c.id = i.customer_id
    WHERE {filter_conditions("i")}
    ORDER BY i.created_at DESC, i.id DESC"""  # noqa: S608 - fixed text


async def export_rows(
    conn: Connection, org_id: UUID, filters: InvoiceFilters, *, chunk_rows: int
) -> AsyncGenerator[asyncpg.Record, None]:
    """Every matching invoice, newest first, fetched `chunk_rows` at a time through a
    server-side cursor (the caller holds the transaction the cursor lives in)."""
    cursor = conn.cursor(EXPORT_QUERY, *filter_args(org_id, filters), prefetch=chunk_rows)
    async for record in cursor:
        yield record
