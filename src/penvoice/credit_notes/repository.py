"""SQL of credit notes, their lines and the per-organisation credit-note counter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from penvoice.db import Connection
from penvoice.invoices.repository import LineTaxRow


@dataclass(frozen=True)
class CreditLineRow:
    position: int
    invoice_line_id: UUID | None
    description: str
    quantity: Decimal
    unit_amount: int
    discount_amount: int
    net: int
    tax_amount: int
    total: int
    taxes: tuple[LineTaxRow, ...]


@dataclass(frozen=True)
class CreditNoteRow:
    id: UUID
    invoice_id: UUID
    number: str
    sequence: int
    issue_date: date
    reason: str
    currency: str
    subtotal: int
    tax_total: int
    total: int
    applied: int
    refunded: int
    created_at: datetime
    created_by: str


_COLUMNS = """id, invoice_id, number, sequence, issue_date, reason, currency, subtotal,
    tax_total, total, applied, refunded, created_at, created_by"""


async def take_next_number(conn: Connection, org_id: UUID) -> int:
    """The organisation's next credit-note number; the counter row stays locked until the
    transaction ends, so numbers are gapless (a rollback returns the number)."""
    number: int = await conn.fetchval(
        """INSERT INTO credit_note_counters AS c (org_id, next_number) VALUES ($1, 2)
           ON CONFLICT (org_id) DO UPDATE SET next_number = c.next_number + 1
           RETURNING c.next_number - 1""",
        org_id,
    )
    return number


async def credited_line_ids(conn: Connection, org_id: UUID, invoice_id: UUID) -> set[UUID]:
    rows = await conn.fetch(
        """SELECT l.invoice_line_id FROM credit_note_lines l
           JOIN credit_notes n ON n.org_id = l.org_id AND n.id = l.credit_note_id
           WHERE n.org_id = $1 AND n.invoice_id = $2 AND l.invoice_line_id IS NOT NULL""",
        org_id,
        invoice_id,
    )
    return {row[0] for row in rows}


async def insert(
    conn: Connection, org_id: UUID, note: CreditNoteRow, lines: list[CreditLineRow]
) -> None:
    await conn.execute(
        """INSERT INTO credit_notes (id, org_id, invoice_id, number, sequence, issue_date,
               reason, currency, subtotal, tax_total, total, applied, refunded, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
        note.id,
        org_id,
        note.invoice_id,
        note.number,
        note.sequence,
        note.issue_date,
        note.reason,
        note.currency,
        note.subtotal,
        note.tax_total,
        note.total,
        note.applied,
        note.refunded,
        note.created_by,
    )
    await conn.executemany(
        """INSERT INTO credit_note_lines (org_id, credit_note_id, position, invoice_line_id,
               description, quantity, unit_amount, discount_amount, net, tax_amount, total,
               taxes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        [
            (
                org_id,
                note.id,
                line.position,
                line.invoice_line_id,
                line.description,
                line.quantity,
                line.unit_amount,
                line.discount_amount,
                line.net,
                line.tax_amount,
                line.total,
                json.dumps([_tax_json(tax) for tax in line.taxes]),
            )
            for line in lines
        ],
    )


def _tax_json(tax: LineTaxRow) -> dict[str, Any]:
    return {
        "tax_rate_id": str(tax.tax_rate_id),
        "display_name": tax.display_name,
        "percentage": str(tax.percentage),
        "inclusive": tax.inclusive,
        "taxable_amount": tax.taxable_amount,
        "amount": tax.amount,
        "vat_category": tax.vat_category,
        "exemption_reason": tax.exemption_reason,
        "exemption_code": tax.exemption_code,
    }


def _tax(value: dict[str, Any]) -> LineTaxRow:
    return LineTaxRow(
        UUID(value["tax_rate_id"]),
        value["display_name"],
        Decimal(value["percentage"]),
        value["inclusive"],
        value["taxable_amount"],
        value["amount"],
        value["vat_category"],
        value["exemption_reason"],
        value["exemption_code"],
    )


async def get(conn: Connection, org_id: UUID, credit_note_id: UUID) -> CreditNoteRow | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM credit_notes WHERE org_id = $1 AND id = $2",  # noqa: S608
        org_id,
        credit_note_id,
    )
    return CreditNoteRow(**dict(row)) if row else None


# An invoice has at most QUOTA_CREDIT_NOTES_PER_INVOICE credit notes (at most 1,000), so the
# list is whole; the LIMIT keeps the read bounded whatever is stored.
MAX_LISTED_CREDIT_NOTES = 1000


async def list_for_invoice(conn: Connection, org_id: UUID, invoice_id: UUID) -> list[CreditNoteRow]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM credit_notes WHERE org_id = $1 AND invoice_id = $2
            ORDER BY sequence LIMIT $3""",  # noqa: S608 - fixed text
        org_id,
        invoice_id,
        MAX_LISTED_CREDIT_NOTES,
    )
    return [CreditNoteRow(**dict(row)) for row in rows]


async def lines_of(conn: Connection, org_id: UUID, credit_note_id: UUID) -> list[CreditLineRow]:
    rows = await conn.fetch(
        """SELECT position, invoice_line_id, description, quantity, unit_amount,
                  discount_amount, net, tax_amount, total, taxes
           FROM credit_note_lines WHERE org_id = $1 AND credit_note_id = $2
           ORDER BY position""",
        org_id,
        credit_note_id,
    )
    lines = []
    for row in rows:
        values = dict(row)
        values["taxes"] = tuple(_tax(tax) for tax in json.loads(values["taxes"]))
        lines.append(CreditLineRow(**values))
    return lines
