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
    amount_credited: int
    amount_refunded: int
    overdue: bool


_OVERDUE = "(status = 'open' AND due_date < current_date) AS overdue"


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
           OR $4 = ({i}status = 'open' AND {i}due_date < current_date))
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


async def insert_invoice(
    conn: Connection,
    org_id: UUID,
    *,
    customer_id: UUID,
    currency: str,
    memo: str,
    totals: Totals,
    actor: str,
    legal: dict[str, Any],
) -> UUID:
    """`legal`: the EN 16931 fields of `LEGAL_FIELDS` (references, supply date, period)."""
    invoice_id: UUID = await conn.fetchval(
        """INSERT INTO invoices (org_id, customer_id, currency, memo, subtotal, tax_total, total,
               amount_paid, amount_due, created_by, buyer_reference, purchase_order_reference,
               supply_date, period_start, period_end)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           RETURNING id""",
        org_id,
        customer_id,
        currency,
        memo,
        totals.subtotal,
        totals.tax_total,
        totals.total,
        totals.amount_paid,
        totals.amount_due,
        actor,
        *(legal[name] for name in LEGAL_FIELDS),
    )
    return invoice_id


async def replace_lines(
    conn: Connection, org_id: UUID, invoice_id: UUID, lines: list[LineRow]
) -> None:
    await conn.execute(
        "DELETE FROM invoice_lines WHERE org_id = $1 AND invoice_id = $2", org_id, invoice_id
    )
    if not lines:
        return
    await conn.executemany(
        """INSERT INTO invoice_lines (id, org_id, invoice_id, position, description, quantity,
               unit_amount, discount_percent, discount_fixed, amount, discount_amount, net,
               tax_amount, total)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
        [
            (
                line.id,
                org_id,
                invoice_id,
                line.position,
                line.description,
                line.quantity,
                line.unit_amount,
                line.discount_percent,
                line.discount_fixed,
                line.amount,
                line.discount_amount,
                line.net,
                line.tax_amount,
                line.total,
            )
            for line in lines
        ],
    )
    taxes = [(org_id, line.id, tax) for line in lines for tax in line.taxes]
    if taxes:
        await conn.executemany(
            """INSERT INTO invoice_line_taxes (org_id, line_id, tax_rate_id, display_name,
                   percentage, inclusive, taxable_amount, amount, vat_category,
                   exemption_reason, exemption_code)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
            [
                (
                    org,
                    line_id,
                    t.tax_rate_id,
                    t.display_name,
                    t.percentage,
                    t.inclusive,
                    t.taxable_amount,
                    t.amount,
                    t.vat_category,
                    t.exemption_reason,
                    t.exemption_code,
                )
                for org, line_id, t in taxes
            ],
        )


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


async def take_next_number(conn: Connection, org_id: UUID) -> int:
    """Lock the organisation's counter row until commit and advance it: gapless numbering."""
    number: int = await conn.fetchval(
        """UPDATE invoice_number_counters SET next_number = next_number + 1
           WHERE org_id = $1 RETURNING next_number - 1""",
        org_id,
    )
    return number


async def finalize(
    conn: Connection,
    org_id: UUID,
    invoice_id: UUID,
    *,
    sequence: int,
    number: str,
    dates: tuple[date, date],
    snapshots: tuple[dict[str, Any], dict[str, Any]],
    actor: str,
    paid: bool,
) -> None:
    await conn.execute(
        """UPDATE invoices SET status = CASE WHEN $9 THEN 'paid' ELSE 'open' END,
               sequence = $3, number = $4, issue_date = $5, due_date = $6,
               org_snapshot = $7, customer_snapshot = $8,
               finalized_at = now(), finalized_by = $10,
               paid_at = CASE WHEN $9 THEN now() END,
               version = version + 1, updated_at = now()
           WHERE org_id = $1 AND id = $2""",
        org_id,
        invoice_id,
        sequence,
        number,
        dates[0],
        dates[1],
        json.dumps(snapshots[0]),
        json.dumps(snapshots[1]),
        paid,
        actor,
    )


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
