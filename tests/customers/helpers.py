"""SQL behind the API's back (as superuser, past row-level security), for customers and taxes."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import asyncpg


async def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def add_member(url: str, org_id: object, subject: str, role: str) -> None:
    await query(
        url,
        "INSERT INTO memberships (org_id, subject, role) VALUES ($1, $2, $3)",
        UUID(str(org_id)),
        subject,
        role,
    )


async def insert_invoice(
    url: str,
    org_id: object,
    customer_id: object,
    *,
    status: str = "draft",
    tax_rate_id: object | None = None,
) -> UUID:
    """An invoice of `customer_id`; with `tax_rate_id`, one line taxed at that rate."""
    invoice_id, line_id = uuid4(), uuid4()
    org, finalized = UUID(str(org_id)), status != "draft"
    sequence = await query(url, "SELECT count(*) + 1 AS n FROM invoices WHERE org_id = $1", org)
    number = sequence[0]["n"]
    await query(
        url,
        """INSERT INTO invoices (id, org_id, customer_id, status, currency, created_by,
                                 number, sequence, issue_date, due_date)
           VALUES ($1, $2, $3, $4, 'EUR', 'seed', $5, $6, $7, $7)""",
        invoice_id,
        org,
        UUID(str(customer_id)),
        status,
        f"INV-{number:06d}" if finalized else None,
        number if finalized else None,
        date.today() if finalized else None,
    )
    if tax_rate_id is not None:
        await query(
            url,
            """INSERT INTO invoice_lines (id, org_id, invoice_id, position, description, quantity,
                   unit_amount, amount, discount_amount, net, tax_amount, total)
               VALUES ($1, $2, $3, 0, 'Work', 1, 10000, 10000, 0, 10000, 1900, 11900)""",
            line_id,
            org,
            invoice_id,
        )
        await query(
            url,
            """INSERT INTO invoice_line_taxes (org_id, line_id, tax_rate_id, display_name,
                   percentage, inclusive, taxable_amount, amount)
               VALUES ($1, $2, $3, 'VAT', 19, false, 10000, 1900)""",
            org,
            line_id,
            UUID(str(tax_rate_id)),
        )
    return invoice_id


async def event_types(url: str, subject_id: object) -> list[str]:
    rows = await query(
        url, "SELECT type FROM events WHERE subject_id = $1 ORDER BY id", str(subject_id)
    )
    return [row["type"] for row in rows]
