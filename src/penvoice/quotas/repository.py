"""SQL of the quotas: what a user or an organisation stores, as the checks need it."""

from __future__ import annotations

from uuid import UUID

from penvoice.db import Connection


async def owned_orgs(conn: Connection, subject: str, up_to: int) -> int:
    """The organisations `subject` owns, counted up to `up_to` (their memberships are visible
    to them under row-level security once the principal is entered)."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM (SELECT 1 FROM memberships
                                 WHERE subject = $1 AND role = 'owner' LIMIT $2) s""",
        subject,
        up_to,
    )
    return count


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


async def payments_recorded(conn: Connection, org_id: UUID, invoice_id: UUID, up_to: int) -> int:
    """The invoice's payments, deleted ones included, counted up to `up_to`."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM (SELECT 1 FROM payments
                                 WHERE org_id = $1 AND invoice_id = $2 LIMIT $3) s""",
        org_id,
        invoice_id,
        up_to,
    )
    return count


async def idempotency_usage(conn: Connection, subject: str) -> tuple[int, int]:
    """(responses, bytes) kept for the subject's Idempotency-Keys: one row the triggers keep
    (migration 000026)."""
    row = await conn.fetchrow(
        "SELECT responses, bytes FROM idempotency_usage WHERE subject = $1", subject
    )
    return (0, 0) if row is None else (row["responses"], row["bytes"])


async def webhook_endpoints(conn: Connection, org_id: UUID, up_to: int) -> int:
    """The organisation's webhook endpoints, counted up to `up_to`."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM (SELECT 1 FROM webhook_endpoints
                                 WHERE org_id = $1 LIMIT $2) s""",
        org_id,
        up_to,
    )
    return count


async def recurring_schedules(conn: Connection, org_id: UUID, up_to: int) -> int:
    """The organisation's recurring schedules, counted up to `up_to`."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM (SELECT 1 FROM recurring_schedules
                                 WHERE org_id = $1 LIMIT $2) s""",
        org_id,
        up_to,
    )
    return count


async def credit_notes(conn: Connection, org_id: UUID, invoice_id: UUID, up_to: int) -> int:
    """The invoice's credit notes, counted up to `up_to`."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM (SELECT 1 FROM credit_notes
                                 WHERE org_id = $1 AND invoice_id = $2 LIMIT $3) s""",
        org_id,
        invoice_id,
        up_to,
    )
    return count


async def open_invitations(conn: Connection, org_id: UUID, up_to: int) -> int:
    """The organisation's invitations neither accepted nor revoked, counted up to `up_to`."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM (SELECT 1 FROM invitations
                                 WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL
                                 LIMIT $2) s""",
        org_id,
        up_to,
    )
    return count


async def tax_rates(conn: Connection, org_id: UUID, up_to: int) -> int:
    """The organisation's tax rates, archived ones included, counted up to `up_to`."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM tax_rates WHERE org_id = $1 LIMIT $2) s",
        org_id,
        up_to,
    )
    return count


async def customers(conn: Connection, org_id: UUID, up_to: int) -> int:
    """The organisation's customers, archived ones included, counted up to `up_to`."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM customers WHERE org_id = $1 LIMIT $2) s",
        org_id,
        up_to,
    )
    return count
