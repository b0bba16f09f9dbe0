"""Reports: read-only views over invoices and payments."""

from __future__ import annotations

from datetime import date

from penvoice.db import Connection
from penvoice.reports import repository
from penvoice.reports.repository import AgingRow
from penvoice.tenancy.access import OrgAccess


async def ar_aging(conn: Connection, access: OrgAccess, as_of: date) -> list[AgingRow]:
    return await repository.ar_aging(conn, access.org_id, as_of)
