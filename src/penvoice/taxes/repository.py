"""SQL of tax rates. `rates_by_ids` is public: invoices look up the rates of their lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from penvoice.archivable.repository import list_args, list_query, set_clause
from penvoice.db import Connection

UPDATABLE = frozenset(
    {
        "display_name",
        "percentage",
        "inclusive",
        "vat_category",
        "exemption_reason",
        "exemption_code",
    }
)


@dataclass(frozen=True)
class TaxRateRow:
    id: UUID
    org_id: UUID
    display_name: str
    percentage: Decimal
    inclusive: bool
    vat_category: str | None
    exemption_reason: str
    exemption_code: str
    archived_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class TaxRateInUse(Exception):
    """An invoice line uses the rate, so it cannot be deleted."""


_COLUMNS = """id, org_id, display_name, percentage, inclusive, vat_category, exemption_reason,
    exemption_code, archived_at, version, created_at, updated_at"""

_LIST_QUERY = list_query("tax_rates", _COLUMNS)


def _row(record: asyncpg.Record) -> TaxRateRow:
    return TaxRateRow(**dict(record))


async def rates_by_ids(
    conn: Connection, org_id: UUID, ids: Sequence[UUID], *, lock: bool = False
) -> dict[UUID, TaxRateRow]:
    """The organisation's rates among `ids` (archived ones included; missing ids are absent).

    `lock=True` takes a share lock until the transaction ends: finalizing an invoice with it
    keeps a concurrent PATCH from changing a rate's percentage under the invoice.
    """
    lock_clause = "ORDER BY id FOR SHARE" if lock else ""
    records = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM tax_rates
            WHERE org_id = $1 AND id = ANY($2::uuid[]) {lock_clause}""",  # noqa: S608
        org_id,
        list(ids),
    )
    return {record["id"]: _row(record) for record in records}


async def insert_rate(conn: Connection, org_id: UUID, values: dict[str, Any]) -> TaxRateRow:
    record = await conn.fetchrow(
        f"""INSERT INTO tax_rates (org_id, display_name, percentage, inclusive, vat_category,
                exemption_reason, exemption_code)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}""",  # noqa: S608
        org_id,
        values["display_name"],
        values["percentage"],
        values["inclusive"],
        values["vat_category"],
        values["exemption_reason"],
        values["exemption_code"],
    )
    assert record is not None
    return _row(record)


async def get_rate(
    conn: Connection, org_id: UUID, rate_id: UUID, *, for_update: bool = False
) -> TaxRateRow | None:
    lock = "FOR UPDATE" if for_update else ""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM tax_rates WHERE org_id = $1 AND id = $2 {lock}",  # noqa: S608
        org_id,
        rate_id,
    )
    return _row(record) if record else None


async def list_rates(
    conn: Connection,
    org_id: UUID,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
    archived: bool,
) -> list[TaxRateRow]:
    """Newest first; `limit + 1` rows so the caller knows whether another page follows."""
    records = await conn.fetch(_LIST_QUERY, *list_args(org_id, after, archived, limit))
    return [_row(record) for record in records]


async def update_rate(
    conn: Connection, org_id: UUID, rate_id: UUID, changes: dict[str, Any]
) -> TaxRateRow:
    """Apply `changes` (columns of `UPDATABLE`, plus `archived: bool`) and bump the version."""
    assignments, values = set_clause(changes, UPDATABLE)
    record = await conn.fetchrow(
        f"""UPDATE tax_rates SET {assignments}
            WHERE org_id = $1 AND id = $2
            RETURNING {_COLUMNS}""",  # noqa: S608 - set_clause checks the column names
        org_id,
        rate_id,
        *values,
    )
    assert record is not None
    return _row(record)


async def used_by_finalized_invoice(conn: Connection, org_id: UUID, rate_id: UUID) -> bool:
    """Whether a line of a non-draft invoice carries this rate."""
    used: bool = await conn.fetchval(
        """SELECT EXISTS (
               SELECT 1 FROM invoice_line_taxes t
               JOIN invoice_lines l ON l.org_id = t.org_id AND l.id = t.line_id
               JOIN invoices i ON i.org_id = l.org_id AND i.id = l.invoice_id
               WHERE t.org_id = $1 AND t.tax_rate_id = $2 AND i.status <> 'draft')""",
        org_id,
        rate_id,
    )
    return used


async def used_by_any_line(conn: Connection, org_id: UUID, rate_id: UUID) -> bool:
    used: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invoice_line_taxes WHERE org_id = $1 AND tax_rate_id = $2)",
        org_id,
        rate_id,
    )
    return used


async def delete_rate(conn: Connection, org_id: UUID, rate_id: UUID) -> None:
    """Raises `TaxRateInUse` when an invoice line references it (the foreign key decides)."""
    try:
        await conn.execute("DELETE FROM tax_rates WHERE org_id = $1 AND id = $2", org_id, rate_id)
    except asyncpg.ForeignKeyViolationError:
        raise TaxRateInUse from None
