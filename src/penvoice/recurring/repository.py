"""SQL of recurring schedules and their runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from penvoice.db import Connection
from penvoice.recurring.calendar import Frequency


@dataclass(frozen=True)
class ScheduleRow:
    id: UUID
    customer_id: UUID
    frequency: Frequency  # the table's CHECK holds it to these
    cron: str | None
    day_of_month: int | None
    time_of_day: time
    time_zone: str
    start_date: date
    end_date: date | None
    template: dict[str, Any]
    auto_finalize: bool
    auto_send: bool
    missed_policy: str
    enabled: bool
    next_period: int
    next_run_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RunRow:
    period: int
    period_date: date
    period_at: datetime
    outcome: str
    invoice_id: UUID | None
    created_at: datetime


_SCHEDULE = (
    "id, customer_id, frequency, cron, day_of_month, time_of_day, time_zone, start_date, "
    "end_date, template, auto_finalize, auto_send, missed_policy, enabled, next_period, "
    "next_run_at, version, created_at, updated_at"
)
_SCHEDULE_FIELDS = tuple(_SCHEDULE.split(", "))
_UPDATABLE = {
    "enabled",
    "end_date",
    "template",
    "auto_finalize",
    "auto_send",
    "missed_policy",
    "next_period",
    "next_run_at",
}


def _schedule(row: Any) -> ScheduleRow:
    values = {name: row[name] for name in _SCHEDULE_FIELDS}
    values["template"] = json.loads(values["template"])
    return ScheduleRow(**values)


async def insert_schedule(
    conn: Connection, org_id: UUID, values: dict[str, Any], actor: str
) -> ScheduleRow:
    names = sorted(values)
    placeholders = ", ".join(
        f"${i + 3}::jsonb" if name == "template" else f"${i + 3}" for i, name in enumerate(names)
    )
    row = await conn.fetchrow(
        f"""INSERT INTO recurring_schedules (org_id, created_by, {", ".join(names)})
            VALUES ($1, $2, {placeholders}) RETURNING {_SCHEDULE}""",  # noqa: S608 - our names
        org_id,
        actor,
        *(json.dumps(values[n]) if n == "template" else values[n] for n in names),
    )
    return _schedule(row)


async def get_schedule(
    conn: Connection, org_id: UUID, schedule_id: UUID, *, for_update: bool = False
) -> ScheduleRow | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_SCHEDULE} FROM recurring_schedules WHERE org_id = $1 AND id = $2{lock}",  # noqa: S608
        org_id,
        schedule_id,
    )
    return _schedule(row) if row else None


# A page of the schedule list ends once its templates reach this many bytes (as JSON text,
# `template_bytes`, migration 000027); it always holds at least one schedule. A template may
# be 1.5 MB, so a page answers at most about 2.5 MB whatever `limit` asks for.
SCHEDULE_PAGE_BYTES = 1024 * 1024


async def list_schedules(
    conn: Connection, org_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None
) -> tuple[list[ScheduleRow], bool]:
    """Oldest first, after the (created_at, id) `after`: up to `limit` schedules, fewer once
    their templates reach SCHEDULE_PAGE_BYTES; and whether more follow."""
    after_created, after_id = after or (None, None)
    rows = await conn.fetch(
        f"""SELECT {_SCHEDULE}, remaining FROM (
                SELECT {_SCHEDULE},
                       sum(template_bytes) OVER page - template_bytes AS bytes_before,
                       row_number() OVER page AS n,
                       count(*) OVER () AS remaining
                FROM recurring_schedules
                WHERE org_id = $1
                  AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
                WINDOW page AS (ORDER BY created_at, id)) s
            WHERE n <= $4 AND bytes_before < $5
            ORDER BY created_at, id""",  # noqa: S608 - fixed list
        org_id,
        after_created,
        after_id,
        limit,
        SCHEDULE_PAGE_BYTES,
    )
    more = bool(rows) and rows[0]["remaining"] > len(rows)
    return [_schedule(row) for row in rows], more


async def update_schedule(
    conn: Connection, org_id: UUID, schedule_id: UUID, changes: dict[str, Any]
) -> ScheduleRow:
    assert set(changes) <= _UPDATABLE, changes
    names = sorted(changes)
    assignments = ", ".join(
        f"{name} = ${i + 3}::jsonb" if name == "template" else f"{name} = ${i + 3}"
        for i, name in enumerate(names)
    )
    row = await conn.fetchrow(
        f"""UPDATE recurring_schedules SET {assignments}, version = version + 1,
                updated_at = now()
            WHERE org_id = $1 AND id = $2 RETURNING {_SCHEDULE}""",  # noqa: S608 - our names
        org_id,
        schedule_id,
        *(json.dumps(changes[n]) if n == "template" else changes[n] for n in names),
    )
    return _schedule(row)


async def delete_schedule(conn: Connection, org_id: UUID, schedule_id: UUID) -> None:
    await conn.execute(
        "DELETE FROM recurring_schedules WHERE org_id = $1 AND id = $2", org_id, schedule_id
    )


async def list_runs(conn: Connection, org_id: UUID, schedule_id: UUID) -> list[RunRow]:
    rows = await conn.fetch(
        """SELECT period, period_date, period_at, outcome, invoice_id, created_at
           FROM recurring_runs WHERE org_id = $1 AND schedule_id = $2
           ORDER BY period DESC LIMIT 100""",
        org_id,
        schedule_id,
    )
    return [RunRow(**dict(row)) for row in rows]


# --- the worker ---------------------------------------------------------------------------


async def due_schedules(conn: Connection, limit: int = 1000) -> list[tuple[UUID, UUID]]:
    """(org, schedule) of enabled schedules with a period due, across organisations, through
    the sweep's own row-level security policy."""
    await conn.execute("SELECT set_config('penvoice.system', 'recurring-sweep', true)")
    rows = await conn.fetch(
        """SELECT org_id, id FROM recurring_schedules
           WHERE enabled AND next_run_at IS NOT NULL AND next_run_at <= now()
           ORDER BY next_run_at LIMIT $1""",
        limit,
    )
    return [(row["org_id"], row["id"]) for row in rows]


async def claim_run(
    conn: Connection,
    org_id: UUID,
    schedule_id: UUID,
    period: int,
    period_date: date,
    period_at: datetime,
    outcome: str,
) -> bool:
    """The period's run row; False when the period was already handled (never twice)."""
    inserted = await conn.fetchval(
        """INSERT INTO recurring_runs
               (org_id, schedule_id, period, period_date, period_at, outcome)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (schedule_id, period) DO NOTHING RETURNING true""",
        org_id,
        schedule_id,
        period,
        period_date,
        period_at,
        outcome,
    )
    return bool(inserted)


async def set_run_invoice(
    conn: Connection, org_id: UUID, schedule_id: UUID, period: int, invoice_id: UUID
) -> None:
    await conn.execute(
        """UPDATE recurring_runs SET invoice_id = $4
           WHERE org_id = $1 AND schedule_id = $2 AND period = $3""",
        org_id,
        schedule_id,
        period,
        invoice_id,
    )


async def advance(
    conn: Connection,
    org_id: UUID,
    schedule_id: UUID,
    next_period: int,
    next_run_at: datetime | None,
) -> None:
    """Move to the next period (no version bump: the worker's progress, not a change)."""
    await conn.execute(
        """UPDATE recurring_schedules SET next_period = $3, next_run_at = $4
           WHERE org_id = $1 AND id = $2""",
        org_id,
        schedule_id,
        next_period,
        next_run_at,
    )
