"""SQL that answers an invoice as the API's JSON, built by PostgreSQL in one statement.

A get (and the answer to every write that returns an invoice) is the invoice and its lines
with their taxes. Built here, the response costs one round trip and no Python objects per
line; the shape is `invoices.schemas.Invoice`, field for field, with timestamps and decimals
written as the API writes them (`penvoice_json_time`, `penvoice_json_decimal`, migration
000005). A test compares this with the pydantic rendering of the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from penvoice.db import Connection
from penvoice.invoices.repository import LIST_QUERY_TAIL, InvoiceFilters, list_args, overdue
from penvoice.tenancy.repository import ENTERED, entered_args, shifted

_TAXES = """coalesce((
    SELECT json_agg(json_build_object(
        'tax_rate_id', t.tax_rate_id,
        'display_name', t.display_name,
        'percentage', penvoice_json_decimal(t.percentage),
        'inclusive', t.inclusive,
        'taxable_amount', t.taxable_amount,
        'amount', t.amount,
        'vat_category', t.vat_category) ORDER BY t.inclusive DESC, t.display_name)
    FROM invoice_line_taxes t
    WHERE t.org_id = l.org_id AND t.line_id = l.id), '[]'::json)"""

_LINES = f"""coalesce((
    SELECT json_agg(json_build_object(
        'id', l.id,
        'position', l.position,
        'description', l.description,
        'quantity', penvoice_json_decimal(l.quantity),
        'unit_amount', l.unit_amount,
        'discount', CASE
            WHEN l.discount_percent IS NOT NULL THEN json_build_object(
                'percent', penvoice_json_decimal(l.discount_percent), 'amount', NULL)
            WHEN l.discount_fixed IS NOT NULL THEN json_build_object(
                'percent', NULL, 'amount', l.discount_fixed)
            END,
        'amount', l.amount,
        'discount_amount', l.discount_amount,
        'net', l.net,
        'tax_amount', l.tax_amount,
        'total', l.total,
        'taxes', {_TAXES}) ORDER BY l.position)
    FROM invoice_lines l
    WHERE l.org_id = i.org_id AND l.invoice_id = i.id), '[]'::json)"""  # noqa: S608 - fixed text

_INVOICE = f"""SELECT i.version, json_build_object(
    'id', i.id,
    'customer_id', i.customer_id,
    'status', i.status,
    'overdue', {overdue("i")},
    'currency', i.currency,
    'number', i.number,
    'issue_date', i.issue_date,
    'due_date', i.due_date,
    'memo', i.memo,
    'buyer_reference', i.buyer_reference,
    'purchase_order_reference', i.purchase_order_reference,
    'supply_date', i.supply_date,
    'service_period', CASE WHEN i.period_start IS NOT NULL THEN json_build_object(
        'start', i.period_start, 'end', i.period_end) END,
    'subtotal', i.subtotal,
    'tax_total', i.tax_total,
    'total', i.total,
    'amount_paid', i.amount_paid,
    'amount_due', i.amount_due,
    'amount_credited', i.amount_credited,
    'amount_refunded', i.amount_refunded,
    'lines', {_LINES},
    'org_snapshot', i.org_snapshot,
    'customer_snapshot', i.customer_snapshot,
    'version', i.version,
    'created_at', penvoice_json_time(i.created_at),
    'created_by', i.created_by,
    'updated_at', penvoice_json_time(i.updated_at),
    'finalized_at', penvoice_json_time(i.finalized_at),
    'finalized_by', i.finalized_by,
    'paid_at', penvoice_json_time(i.paid_at),
    'voided_at', penvoice_json_time(i.voided_at),
    'voided_by', i.voided_by,
    'uncollectible_at', penvoice_json_time(i.uncollectible_at),
    'uncollectible_by', i.uncollectible_by,
    'delivery_status', i.delivery_status)::text AS body
FROM invoices i
WHERE i.org_id = $1 AND i.id = $2"""  # noqa: S608 - fixed text


async def invoice_json(
    conn: Connection, org_id: UUID, invoice_id: UUID
) -> tuple[int, bytes] | None:
    """(version, the invoice with its lines as JSON), or None when there is no such invoice."""
    row = await conn.fetchrow(_INVOICE, org_id, invoice_id)
    if row is None:
        return None
    return row[0], row[1].encode()


# `invoices.schemas.InvoiceSummary`, field for field.
_SUMMARY = f"""SELECT json_build_object(
    'id', id,
    'customer_id', customer_id,
    'status', status,
    'overdue', {overdue()},
    'currency', currency,
    'number', number,
    'issue_date', issue_date,
    'due_date', due_date,
    'total', total,
    'amount_paid', amount_paid,
    'amount_due', amount_due,
    'version', version,
    'created_at', penvoice_json_time(created_at),
    'updated_at', penvoice_json_time(updated_at))::text AS body, created_at, id
FROM invoices {LIST_QUERY_TAIL}"""  # noqa: S608 - fixed text


# The same, each in one statement that also enters the tenant (`tenancy.repository.ENTERED`):
# the caller's role comes back with the rows, and no row is read for a non-member.
_INVOICE_READ = f"""SELECT ctx.role, doc.version, doc.body FROM {ENTERED}
LEFT JOIN LATERAL ({shifted(_INVOICE)} AND ctx.role IS NOT NULL) AS doc ON true"""  # noqa: S608
_SUMMARY_LIST_CLAUSE = "ORDER BY created_at DESC, id DESC"


def _members_only(page_query: str) -> str:
    """The page's rows only for a member: the role check goes before its ORDER BY (which
    must be there, or the query would read rows for anyone)."""
    if page_query.count(_SUMMARY_LIST_CLAUSE) != 1:
        raise RuntimeError("the list query's ORDER BY changed: place the role check anew")
    return page_query.replace(
        _SUMMARY_LIST_CLAUSE, "AND ctx.role IS NOT NULL " + _SUMMARY_LIST_CLAUSE
    )


_SUMMARY_READ = f"""SELECT ctx.role, page.body, page.created_at, page.id FROM {ENTERED}
LEFT JOIN LATERAL ({_members_only(shifted(_SUMMARY))}) AS page ON true
ORDER BY page.created_at DESC, page.id DESC"""  # noqa: S608 - fixed text


async def read_invoice_json(
    conn: Connection, subject: str, email: str | None, org_id: UUID, invoice_id: UUID
) -> tuple[str | None, tuple[int, bytes] | None]:
    """(the caller's role in the organisation, `invoice_json`'s answer), one round trip."""
    row = await conn.fetchrow(
        _INVOICE_READ, *entered_args(subject, email, org_id), org_id, invoice_id
    )
    assert row is not None  # `ctx` always yields its one row
    document = None if row["body"] is None else (row["version"], row["body"].encode())
    return row["role"], document


async def read_summaries_json(
    conn: Connection,
    subject: str,
    email: str | None,
    org_id: UUID,
    filters: InvoiceFilters,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
) -> tuple[str | None, list[tuple[bytes, tuple[Any, ...]]]]:
    """(the caller's role, up to `limit + 1` list items as JSON each with its keyset key),
    in one round trip."""
    rows = await conn.fetch(
        _SUMMARY_READ,
        *entered_args(subject, email, org_id),
        *list_args(org_id, filters, limit, after),
    )
    items = [
        (row["body"].encode(), (row["created_at"].isoformat(), row["id"]))
        for row in rows
        if row["body"] is not None
    ]
    return rows[0]["role"], items
