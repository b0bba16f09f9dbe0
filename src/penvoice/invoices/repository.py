"""SQL of invoices, their lines and line taxes, and the invoice number counter."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from penvoice.db import Connection
from penvoice.events.repository import event_ctes


@dataclass(frozen=True)
class InvoiceRow:
    id: UUID
    customer_id: UUID
    status: str
    currency: str
    number: str | None
    issue_date: date | None
    due_date: date | None
    memo: str
    subtotal: int
    tax_total: int
    total: int
    amount_paid: int
    amount_due: int
    org_snapshot: dict[str, Any] | None
    customer_snapshot: dict[str, Any] | None
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    finalized_at: datetime | None
    finalized_by: str | None
    paid_at: datetime | None
    voided_at: datetime | None
    voided_by: str | None
    uncollectible_at: datetime | None
    uncollectible_by: str | None
    buyer_reference: str
    purchase_order_reference: str
    supply_date: date | None
    period_start: date | None
    period_end: date | None
    delivery_status: str | None
    amount_credited: int
    amount_refunded: int
    overdue: bool


def overdue(alias: str = "") -> str:
    """The SQL of `overdue`: derived (open and past due), never stored."""
    i = f"{alias}." if alias else ""
    return f"({i}status = 'open' AND {i}due_date < current_date)"


_OVERDUE = f"{overdue()} AS overdue"


def _select_list(names: Iterable[str]) -> str:
    """The SELECT list of these `InvoiceRow` fields; `overdue` is computed, not stored."""
    return ", ".join(_OVERDUE if name == "overdue" else name for name in names)


_INVOICE_COLUMNS = _select_list(field.name for field in fields(InvoiceRow))


@dataclass(frozen=True)
class LineTaxRow:
    tax_rate_id: UUID
    display_name: str
    percentage: Decimal
    inclusive: bool
    taxable_amount: int
    amount: int
    vat_category: str | None = None  # None: priced before categories were recorded
    exemption_reason: str | None = None
    exemption_code: str | None = None


@dataclass(frozen=True)
class LineRow:
    id: UUID
    position: int
    description: str
    quantity: Decimal
    unit_amount: int
    discount_percent: Decimal | None
    discount_fixed: int | None
    amount: int
    discount_amount: int
    net: int
    tax_amount: int
    total: int
    taxes: tuple[LineTaxRow, ...]


@dataclass(frozen=True)
class Totals:
    subtotal: int
    tax_total: int
    total: int
    amount_paid: int
    amount_due: int


@dataclass(frozen=True)
class InvoiceFilters:
    status: str | None = None
    customer_id: UUID | None = None
    overdue: bool | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    number: str | None = None


def _invoice(row: Any) -> InvoiceRow:
    values = dict(row)
    for snapshot in ("org_snapshot", "customer_snapshot"):
        if values[snapshot] is not None:
            values[snapshot] = json.loads(values[snapshot])
    return InvoiceRow(**values)


async def get_invoice(
    conn: Connection, org_id: UUID, invoice_id: UUID, *, for_update: bool = False
) -> InvoiceRow | None:
    lock = "FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE org_id = $1 AND id = $2 {lock}",  # noqa: S608
        org_id,
        invoice_id,
    )
    return _invoice(row) if row else None


def filter_conditions(alias: str = "") -> str:
    """The WHERE conditions of `InvoiceFilters` on `invoices` (or its `alias`), with the
    parameters of `filter_args`: $1 the organisation, $2 to $7 the filters."""
    i = f"{alias}." if alias else ""
    return f"""{i}org_id = $1
      AND ($2::text IS NULL OR {i}status = $2)
      AND ($3::uuid IS NULL OR {i}customer_id = $3)
      AND ($4::boolean IS NULL
           OR $4 = {overdue(alias)})
      AND ($5::date IS NULL OR {i}issue_date >= $5)
      AND ($6::date IS NULL OR {i}issue_date <= $6)
      AND ($7::text IS NULL OR {i}number = $7)"""


def filter_args(org_id: UUID, filters: InvoiceFilters) -> tuple[Any, ...]:
    return (
        org_id,
        filters.status,
        filters.customer_id,
        filters.overdue,
        filters.issued_from,
        filters.issued_to,
        filters.number,
    )


# The list's filters, keyset and order, shared by the full rows and the summaries.
LIST_QUERY_TAIL = f"""
    WHERE {filter_conditions()}
      AND ($8::timestamptz IS NULL OR (created_at, id) < ($8, $9))
    ORDER BY created_at DESC, id DESC
    LIMIT $10"""


def list_args(
    org_id: UUID, filters: InvoiceFilters, limit: int, after: tuple[datetime, UUID] | None
) -> tuple[Any, ...]:
    created_at, last_id = after if after else (None, None)
    return (*filter_args(org_id, filters), created_at, last_id, limit + 1)


async def list_invoices(
    conn: Connection,
    org_id: UUID,
    filters: InvoiceFilters,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
) -> list[InvoiceRow]:
    rows = await conn.fetch(
        f"SELECT {_INVOICE_COLUMNS} FROM invoices {LIST_QUERY_TAIL}",  # noqa: S608 - fixed text
        *list_args(org_id, filters, limit, after),
    )
    return [_invoice(row) for row in rows]


async def pricing_state(conn: Connection, org_id: UUID, invoice_id: UUID) -> tuple[int, bool]:
    """A draft's lines, and whether every line tax still copies its rate as the rate is now
    (name, percentage, inclusive, VAT category, exemption): then pricing it again would give
    the figures it has. The rates it uses are share-locked in id order until the transaction
    ends (`taxes.repository.rates_by_ids(lock=True)` takes them in the same order)."""
    row = await conn.fetchrow(
        """WITH line_taxes AS (
               SELECT t.* FROM invoice_lines l
               JOIN invoice_line_taxes t ON t.org_id = l.org_id AND t.line_id = l.id
               WHERE l.org_id = $1 AND l.invoice_id = $2),
           rates AS MATERIALIZED (
               SELECT r.id, r.display_name, r.percentage, r.inclusive, r.vat_category,
                      r.exemption_reason, r.exemption_code
               FROM tax_rates r
               WHERE r.org_id = $1 AND r.id IN (SELECT tax_rate_id FROM line_taxes)
               ORDER BY r.id FOR SHARE)
           SELECT (SELECT count(*) FROM invoice_lines WHERE org_id = $1 AND invoice_id = $2)
                      AS lines,
                  (SELECT count(*) FROM rates) AS rates,  -- reads, so locks, every rate
                  (SELECT count(*) FROM line_taxes t JOIN rates r ON r.id = t.tax_rate_id
                   WHERE (t.display_name, t.percentage, t.inclusive, t.vat_category,
                          t.exemption_reason, t.exemption_code)
                         IS DISTINCT FROM (r.display_name, r.percentage, r.inclusive,
                          r.vat_category, r.exemption_reason, r.exemption_code)) AS changed""",
        org_id,
        invoice_id,
    )
    assert row is not None
    return row["lines"], row["changed"] == 0


async def get_lines(conn: Connection, org_id: UUID, invoice_id: UUID) -> list[LineRow]:
    rows = await conn.fetch(
        """SELECT l.id, l.position, l.description, l.quantity, l.unit_amount,
                  l.discount_percent, l.discount_fixed, l.amount, l.discount_amount, l.net,
                  l.tax_amount, l.total,
                  coalesce(jsonb_agg(jsonb_build_object(
                      'tax_rate_id', t.tax_rate_id, 'display_name', t.display_name,
                      'percentage', t.percentage::text, 'inclusive', t.inclusive,
                      'taxable_amount', t.taxable_amount, 'amount', t.amount,
                      'vat_category', t.vat_category, 'exemption_reason', t.exemption_reason,
                      'exemption_code', t.exemption_code)
                  ORDER BY t.inclusive DESC, t.display_name) FILTER (WHERE t.line_id IS NOT NULL),
                  '[]') AS taxes
           FROM invoice_lines l
           LEFT JOIN invoice_line_taxes t ON t.line_id = l.id AND t.org_id = l.org_id
           WHERE l.org_id = $1 AND l.invoice_id = $2
           GROUP BY l.id
           ORDER BY l.position""",
        org_id,
        invoice_id,
    )
    lines = []
    for row in rows:
        values = dict(row)
        values["taxes"] = tuple(
            LineTaxRow(
                UUID(t["tax_rate_id"]),
                t["display_name"],
                Decimal(t["percentage"]),
                t["inclusive"],
                t["taxable_amount"],
                t["amount"],
                t["vat_category"],
                t["exemption_reason"],
                t["exemption_code"],
            )
            for t in json.loads(values["taxes"])
        )
        lines.append(LineRow(**values))
    return lines


# Lines and their taxes as arrays, written with one statement (`INSERT … SELECT FROM unnest`):
# $1 the organisation, $2 the invoice (when known), $3…$14 the lines' columns, $15…$24 their
# taxes' columns (`_line_arrays`); a statement's own parameters follow from $25.
_LINE_ARRAYS = """$3::uuid[], $4::int[], $5::text[], $6::numeric[], $7::bigint[], $8::numeric[],
    $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[]"""
_TAX_ARRAYS = """$15::uuid[], $16::uuid[], $17::text[], $18::numeric[], $19::boolean[],
    $20::bigint[], $21::bigint[], $22::text[], $23::text[], $24::text[]"""
_INSERT_LINES = f"""INSERT INTO invoice_lines (id, position, description, quantity,
        unit_amount, discount_percent, discount_fixed, amount, discount_amount, net,
        tax_amount, total, org_id, invoice_id)
    SELECT l.*, $1, {{invoice}} FROM unnest({_LINE_ARRAYS}) AS l"""  # noqa: S608 - fixed
_INSERT_TAXES = f"""INSERT INTO invoice_line_taxes (line_id, tax_rate_id, display_name,
        percentage, inclusive, taxable_amount, amount, vat_category, exemption_reason,
        exemption_code, org_id)
    SELECT t.*, $1 FROM unnest({_TAX_ARRAYS}) AS t"""  # noqa: S608 - fixed text


def _line_arrays(lines: list[LineRow]) -> tuple[list[Any], ...]:
    """$3…$24: the lines' columns, then their taxes' columns, one array each."""
    taxes = [(line.id, tax) for line in lines for tax in line.taxes]
    return (
        [line.id for line in lines],
        [line.position for line in lines],
        [line.description for line in lines],
        [line.quantity for line in lines],
        [line.unit_amount for line in lines],
        [line.discount_percent for line in lines],
        [line.discount_fixed for line in lines],
        [line.amount for line in lines],
        [line.discount_amount for line in lines],
        [line.net for line in lines],
        [line.tax_amount for line in lines],
        [line.total for line in lines],
        [line_id for line_id, _ in taxes],
        [tax.tax_rate_id for _, tax in taxes],
        [tax.display_name for _, tax in taxes],
        [tax.percentage for _, tax in taxes],
        [tax.inclusive for _, tax in taxes],
        [tax.taxable_amount for _, tax in taxes],
        [tax.amount for _, tax in taxes],
        [tax.vat_category for _, tax in taxes],
        [tax.exemption_reason for _, tax in taxes],
        [tax.exemption_code for _, tax in taxes],
    )


_INSERT_DRAFT = f"""WITH invoice AS (
        INSERT INTO invoices (org_id, customer_id, currency, memo, subtotal, tax_total, total,
            amount_paid, amount_due, created_by, buyer_reference, purchase_order_reference,
            supply_date, period_start, period_end)
        VALUES ($1, $2, $25, $26, $27, $28, $29, $30, $31, $32, $34, $35, $36, $37, $38)
        RETURNING id),
    line AS ({_INSERT_LINES.format(invoice="(SELECT id FROM invoice)")}),
    tax AS ({_INSERT_TAXES}),
    {event_ctes("SELECT $1, 'invoice.created', $32, 'invoice', id::text, $33::jsonb FROM invoice")}
    SELECT id FROM invoice"""  # noqa: S608 - fixed text


async def insert_draft(
    conn: Connection,
    org_id: UUID,
    *,
    customer_id: UUID,
    currency: str,
    memo: str,
    totals: Totals,
    actor: str,
    lines: list[LineRow],
    legal: dict[str, Any],
) -> UUID:
    """A new draft with its lines, their taxes and its `invoice.created` event, in one
    statement; its id. `legal`: the EN 16931 fields of `LEGAL_FIELDS` (references, supply
    date, period)."""
    invoice_id: UUID = await conn.fetchval(
        _INSERT_DRAFT,
        org_id,
        customer_id,
        *_line_arrays(lines),
        currency,
        memo,
        totals.subtotal,
        totals.tax_total,
        totals.total,
        totals.amount_paid,
        totals.amount_due,
        actor,
        json.dumps({"total": totals.total, "currency": currency}),
        *(legal[name] for name in LEGAL_FIELDS),
    )
    return invoice_id


_REPLACE_LINES = f"""WITH line AS ({_INSERT_LINES.format(invoice="$2")}),
    tax AS ({_INSERT_TAXES})
    SELECT 1"""


async def replace_lines(
    conn: Connection, org_id: UUID, invoice_id: UUID, lines: list[LineRow]
) -> None:
    """Every line of a draft replaced: the old ones deleted (their taxes cascade), the new
    ones and their taxes written in one statement."""
    await conn.execute(
        "DELETE FROM invoice_lines WHERE org_id = $1 AND invoice_id = $2", org_id, invoice_id
    )
    if lines:
        await conn.fetchval(_REPLACE_LINES, org_id, invoice_id, *_line_arrays(lines))


LEGAL_FIELDS = (
    "buyer_reference",
    "purchase_order_reference",
    "supply_date",
    "period_start",
    "period_end",
)


async def update_draft(
    conn: Connection, org_id: UUID, invoice_id: UUID, changes: dict[str, Any], totals: Totals
) -> None:
    """`changes` may hold customer_id, currency, memo and, all or none of them, the
    `LEGAL_FIELDS`."""
    if "buyer_reference" in changes:
        await conn.execute(
            """UPDATE invoices SET buyer_reference = $3, purchase_order_reference = $4,
                   supply_date = $5, period_start = $6, period_end = $7
               WHERE org_id = $1 AND id = $2""",
            org_id,
            invoice_id,
            *(changes[name] for name in LEGAL_FIELDS),
        )
    await conn.execute(
        """UPDATE invoices SET customer_id = coalesce($3, customer_id),
               currency = coalesce($4, currency), memo = coalesce($5, memo),
               subtotal = $6, tax_total = $7, total = $8, amount_paid = $9, amount_due = $10,
               version = version + 1, updated_at = now()
           WHERE org_id = $1 AND id = $2""",
        org_id,
        invoice_id,
        changes.get("customer_id"),
        changes.get("currency"),
        changes.get("memo"),
        totals.subtotal,
        totals.tax_total,
        totals.total,
        totals.amount_paid,
        totals.amount_due,
    )


async def delete_invoice(conn: Connection, org_id: UUID, invoice_id: UUID) -> None:
    await conn.execute("DELETE FROM invoices WHERE org_id = $1 AND id = $2", org_id, invoice_id)


COUNTER_MAX = 999_999_999_999
NUMBER_DIGITS = 6  # an invoice number is the prefix and at least this many digits
"""The counter column's CHECK bound. A counter at it is exhausted: the last number issued
is `COUNTER_MAX - 1`, so advancing the counter never violates the CHECK."""


_FINALIZED_EVENTS = event_ctes(
    """SELECT $1, e.type, $9, 'invoice', $2::text, e.data
       FROM finalized, LATERAL (VALUES
           (1, 'invoice.finalized',
            jsonb_build_object('number', finalized.number, 'total', finalized.total)),
           (2, 'invoice.paid', jsonb_build_object('number', finalized.number))
       ) AS e (position, type, data)
       WHERE e.position = 1 OR $8 = 'paid'
       ORDER BY e.position"""
)


async def finalize(
    conn: Connection,
    org_id: UUID,
    invoice_id: UUID,
    *,
    prefix: str,
    dates: tuple[date, date],
    snapshots: tuple[dict[str, Any], dict[str, Any]],
    actor: str,
    status: str,
) -> str | None:
    """Take the organisation's next number, finalize the draft with it and append its events
    (`invoice.finalized`, and `invoice.paid` when `status` is paid), in one statement: the
    counter row stays locked until commit (gapless numbering; a failed finalization rolls
    its number back). The number (`prefix` + at least `NUMBER_DIGITS` digits), or `None`
    when the counter is exhausted (at `COUNTER_MAX`) and nothing changed."""
    number: str | None = await conn.fetchval(
        f"""WITH taken AS (
               UPDATE invoice_number_counters SET next_number = next_number + 1
               WHERE org_id = $1 AND next_number < $10 RETURNING next_number - 1 AS sequence),
         finalized AS (
           UPDATE invoices SET status = $8,
               sequence = taken.sequence,
               number = $3 || lpad(taken.sequence::text,
                                   greatest({NUMBER_DIGITS}, length(taken.sequence::text)), '0'),
               issue_date = $4, due_date = $5,
               org_snapshot = $6, customer_snapshot = $7,
               finalized_at = now(), finalized_by = $9,
               paid_at = CASE WHEN $8 = 'paid' THEN now() END,
               version = version + 1, updated_at = now()
           FROM taken
           WHERE org_id = $1 AND id = $2
           RETURNING number, total),
         {_FINALIZED_EVENTS}
         SELECT number FROM finalized""",  # noqa: S608 - constants
        org_id,
        invoice_id,
        prefix,
        dates[0],
        dates[1],
        json.dumps(snapshots[0]),
        json.dumps(snapshots[1]),
        status,
        actor,
        COUNTER_MAX,
    )
    return number


async def apply_credit(
    conn: Connection, org_id: UUID, invoice_id: UUID, applied: int, refunded: int, status: str
) -> None:
    """A credit note: `applied` comes off the amount due, `refunded` was paid back."""
    await conn.execute(
        """UPDATE invoices SET amount_credited = amount_credited + $3,
               amount_refunded = amount_refunded + $4,
               amount_due = amount_due - $3, status = $5,
               paid_at = CASE WHEN $5 = 'paid' THEN coalesce(paid_at, now()) END,
               version = version + 1, updated_at = now()
           WHERE org_id = $1 AND id = $2""",
        org_id,
        invoice_id,
        applied,
        refunded,
        status,
    )


async def set_status(
    conn: Connection, org_id: UUID, invoice_id: UUID, status: str, actor: str
) -> None:
    """A lifecycle transition; the matching `<status>_at` / `<status>_by` are stamped."""
    stamps = {
        "void": "voided_at = now(), voided_by = $4",
        "uncollectible": "uncollectible_at = now(), uncollectible_by = $4",
    }[status]
    await conn.execute(
        f"""UPDATE invoices SET status = $3, {stamps}, version = version + 1, updated_at = now()
            WHERE org_id = $1 AND id = $2""",  # noqa: S608 - fixed fragments
        org_id,
        invoice_id,
        status,
        actor,
    )


async def set_amount_paid(
    conn: Connection, org_id: UUID, invoice_id: UUID, amount_paid: int, status: str
) -> None:
    await conn.execute(
        """UPDATE invoices SET amount_paid = $3, amount_due = total - $3 - amount_credited,
               status = $4,
               paid_at = CASE WHEN $4 = 'paid' THEN now() END,
               version = version + 1, updated_at = now()
           WHERE org_id = $1 AND id = $2""",
        org_id,
        invoice_id,
        amount_paid,
        status,
    )
