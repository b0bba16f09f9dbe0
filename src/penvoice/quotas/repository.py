"""SQL of the quotas: what a user or an organisation stores, as the checks need it."""

from __future__ import annotations

from uuid import UUID

from penvoice.db import Connection


async def organisation_usage(conn: Connection, org_id: UUID) -> tuple[int, int]:
    """The organisation's stored (invoices, lines): one row the database's triggers keep
    (migration 000025); an organisation that never stored an invoice has none yet."""
    row = await conn.fetchrow(
        "SELECT invoices, lines FROM organisation_usage WHERE org_id = $1", org_id
    )
    return (0, 0) if row is None else (row["invoices"], row["lines"])


async def lines_of_draft_and_org(
    conn: Connection, org_id: UUID, invoice_id: UUID
) -> tuple[int, int]:
    """(the draft's lines, the organisation's stored lines), in one statement."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM invoice_lines WHERE org_id = $1 AND invoice_id = $2)
                      AS replaced,
                  coalesce((SELECT lines FROM organisation_usage WHERE org_id = $1), 0)
                      AS stored""",
        org_id,
        invoice_id,
    )
    assert row is not None
    return row["replaced"], row["stored"]


async def idempotency_usage(conn: Connection, subject: str) -> tuple[int, int]:
    """(responses, bytes) kept for the subject's Idempotency-Keys: one row the triggers keep
    (migration 000026)."""
    row = await conn.fetchrow(
        "SELECT responses, bytes FROM idempotency_usage WHERE subject = $1", subject
    )
    return (0, 0) if row is None else (row["responses"], row["bytes"])


async def _rows_up_to(conn: Connection, rows: str, up_to: int, *params: object) -> int:
    """How many of `rows` (a fixed `table WHERE condition` on `params`) exist, counted up to
    `up_to`: a check reads no further than its bound."""
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM {rows} LIMIT ${len(params) + 1}) s",  # noqa: S608
        *params,
        up_to,
    )
    return count


async def owned_orgs(conn: Connection, subject: str, up_to: int) -> int:
    """The organisations `subject` owns (their memberships are visible to them under
    row-level security once the principal is entered)."""
    return await _rows_up_to(
        conn, "memberships WHERE subject = $1 AND role = 'owner'", up_to, subject
    )


async def payments_recorded(conn: Connection, org_id: UUID, invoice_id: UUID, up_to: int) -> int:
    """The invoice's payments, deleted ones included."""
    where = "payments WHERE org_id = $1 AND invoice_id = $2"
    return await _rows_up_to(conn, where, up_to, org_id, invoice_id)


async def credit_notes(conn: Connection, org_id: UUID, invoice_id: UUID, up_to: int) -> int:
    """The invoice's credit notes."""
    where = "credit_notes WHERE org_id = $1 AND invoice_id = $2"
    return await _rows_up_to(conn, where, up_to, org_id, invoice_id)


async def webhook_endpoints(conn: Connection, org_id: UUID, up_to: int) -> int:
    return await _rows_up_to(conn, "webhook_endpoints WHERE org_id = $1", up_to, org_id)


async def recurring_schedules(conn: Connection, org_id: UUID, up_to: int) -> int:
    return await _rows_up_to(conn, "recurring_schedules WHERE org_id = $1", up_to, org_id)


async def open_invitations(conn: Connection, org_id: UUID, up_to: int) -> int:
    """The organisation's invitations neither accepted nor revoked."""
    where = "invitations WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL"
    return await _rows_up_to(conn, where, up_to, org_id)


async def tax_rates(conn: Connection, org_id: UUID, up_to: int) -> int:
    """The organisation's tax rates, archived ones included."""
    return await _rows_up_to(conn, "tax_rates WHERE org_id = $1", up_to, org_id)


async def customers(conn: Connection, org_id: UUID, up_to: int) -> int:
    """The organisation's customers, archived ones included."""
    return await _rows_up_to(conn, "customers WHERE org_id = $1", up_to, org_id)
