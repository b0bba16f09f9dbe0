"""SQL of customers. `get_customer` is public: invoices read the customer they bill."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from penvoice.archivable.repository import list_args, list_query, set_clause
from penvoice.db import Connection

EMAIL_INDEX = "customers_email_idx"
UPDATABLE = frozenset(
    {
        "name",
        "email",
        "billing_address",
        "tax_id",
        "currency",
        "notes",
        "postal_address",
        "vat_id",
        "buyer_reference",
    }
)


@dataclass(frozen=True)
class CustomerRow:
    id: UUID
    org_id: UUID
    name: str
    email: str | None
    billing_address: str
    tax_id: str
    currency: str | None
    notes: str
    postal_address: dict[str, Any] | None
    vat_id: str
    buyer_reference: str
    archived_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class EmailTaken(Exception):
    """Another customer of the organisation has this email (compared case-insensitively)."""


class CustomerInvoiced(Exception):
    """An invoice references the customer, so it cannot be deleted."""


_COLUMNS = """id, org_id, name, email, billing_address, tax_id, currency, notes, postal_address,
    vat_id, buyer_reference, archived_at, version, created_at, updated_at"""

_LIST_QUERY = list_query(
    "customers",
    _COLUMNS,
    "($6::text IS NULL OR lower(email) = lower($6))",
    "($7::text IS NULL OR name ILIKE '%' || $7 || '%' ESCAPE '\\')",
)


def _row(record: asyncpg.Record) -> CustomerRow:
    values = dict(record)
    if values["postal_address"] is not None:
        values["postal_address"] = json.loads(values["postal_address"])
    return CustomerRow(**values)


def _stored(changes: dict[str, Any]) -> dict[str, Any]:
    """The values as the columns take them: the postal address as jsonb text."""
    address = changes.get("postal_address")
    if address is None:
        return changes
    return {**changes, "postal_address": json.dumps(address)}


async def insert_customer(conn: Connection, org_id: UUID, values: dict[str, Any]) -> CustomerRow:
    """Raises `EmailTaken` on a duplicate email, even one committed concurrently."""
    try:
        record = await conn.fetchrow(
            f"""INSERT INTO customers
                    (org_id, name, email, billing_address, tax_id, currency, notes,
                     postal_address, vat_id, buyer_reference)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                RETURNING {_COLUMNS}""",  # noqa: S608 - fixed fragments only
            org_id,
            values["name"],
            values["email"],
            values["billing_address"],
            values["tax_id"],
            values["currency"],
            values["notes"],
            _stored(values)["postal_address"],
            values["vat_id"],
            values["buyer_reference"],
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == EMAIL_INDEX:
            raise EmailTaken from None
        raise
    assert record is not None
    return _row(record)


async def get_customer(
    conn: Connection, org_id: UUID, customer_id: UUID, *, for_update: bool = False
) -> CustomerRow | None:
    """The customer, archived or not; `for_update` locks it until the transaction ends."""
    lock = "FOR UPDATE" if for_update else ""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM customers WHERE org_id = $1 AND id = $2 {lock}",  # noqa: S608
        org_id,
        customer_id,
    )
    return _row(record) if record else None


async def list_customers(
    conn: Connection,
    org_id: UUID,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
    archived: bool,
    email: str | None,
    name_contains: str | None,
) -> list[CustomerRow]:
    """Newest first; `limit + 1` rows so the caller knows whether another page follows."""
    name_pattern = _escape_like(name_contains) if name_contains is not None else None
    records = await conn.fetch(
        _LIST_QUERY, *list_args(org_id, after, archived, limit, email, name_pattern)
    )
    return [_row(record) for record in records]


def _escape_like(text: str) -> str:
    """`%` and `_` in a search are literal characters, not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def update_customer(
    conn: Connection, org_id: UUID, customer_id: UUID, changes: dict[str, Any]
) -> CustomerRow:
    """Apply `changes` (columns of `UPDATABLE`, plus `archived: bool`) and bump the version."""
    assignments, values = set_clause(_stored(changes), UPDATABLE)
    try:
        record = await conn.fetchrow(
            f"""UPDATE customers SET {assignments}
                WHERE org_id = $1 AND id = $2
                RETURNING {_COLUMNS}""",  # noqa: S608 - set_clause checks the column names
            org_id,
            customer_id,
            *values,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == EMAIL_INDEX:
            raise EmailTaken from None
        raise
    assert record is not None
    return _row(record)


async def is_invoiced(conn: Connection, org_id: UUID, customer_id: UUID) -> bool:
    invoiced: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invoices WHERE org_id = $1 AND customer_id = $2)",
        org_id,
        customer_id,
    )
    return invoiced


async def delete_customer(conn: Connection, org_id: UUID, customer_id: UUID) -> None:
    """Raises `CustomerInvoiced` when an invoice references it (the foreign key decides)."""
    try:
        await conn.execute(
            "DELETE FROM customers WHERE org_id = $1 AND id = $2", org_id, customer_id
        )
    except asyncpg.ForeignKeyViolationError:
        raise CustomerInvoiced from None
