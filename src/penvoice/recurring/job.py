"""Generating recurring invoices (run by `penvoice worker`).

The sweep (every WORKER_POLL_SECONDS) queues one `recurring.generate` job per enabled
schedule with a period due. The job handles the schedule's due periods one by one, each in
one transaction that locks the schedule row, inserts the period's run row (primary key:
schedule and period — a period already handled is never handled again), creates the draft
from the template (finalized and sent when asked: the send job is queued in the same
transaction) and advances the schedule to its next period. So two workers racing, a worker
killed in the middle (its transaction rolls back) or a worker down for days all end with
exactly one draft per period: after downtime every missed period gets its draft
(`catch_up`), or only the latest does and the earlier ones are recorded as skipped (`skip`).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from penvoice.auth import Principal
from penvoice.config import WorkerSettings
from penvoice.db import Connection, Database
from penvoice.deliveries import service as deliveries
from penvoice.deliveries.schemas import SendRequest
from penvoice.events import repository as events
from penvoice.invoices import service as invoices
from penvoice.invoices.schemas import FinalizeRequest, InvoiceCreate
from penvoice.jobs import repository as jobs
from penvoice.jobs.kinds import JobContext, JobKind, Periodic
from penvoice.recurring import repository
from penvoice.recurring.calendar import period
from penvoice.recurring.repository import ScheduleRow
from penvoice.recurring.service import schedule_rule
from penvoice.tenancy import repository as tenancy
from penvoice.tenancy.access import OrgAccess

log = logging.getLogger("penvoice.recurring")

GENERATE_JOB = "recurring.generate"
ACTOR = "penvoice-recurring"
MAX_PERIODS_PER_JOB = 500  # a schedule far behind continues in the next job


def _system(org_id: UUID) -> OrgAccess:
    principal = Principal(
        subject=ACTOR, email=None, email_verified=False, name="Recurring invoices", username=None
    )
    return OrgAccess(org_id=org_id, principal=principal, role="admin")


async def generate(context: JobContext, payload: dict[str, object]) -> None:
    org_id = UUID(str(payload["org_id"]))
    schedule_id = UUID(str(payload["schedule_id"]))
    for _ in range(MAX_PERIODS_PER_JOB):
        if not await generate_next(context.database, org_id, schedule_id, datetime.now(UTC)):
            return


async def generate_next(database: Database, org_id: UUID, schedule_id: UUID, now: datetime) -> bool:
    """Handle the schedule's next period if it is due at `now`; True when one was handled."""
    async with database.connection() as conn, conn.transaction():
        await tenancy.enter_org(conn, org_id)
        row = await repository.get_schedule(conn, org_id, schedule_id, for_update=True)
        if row is None or not row.enabled or row.next_run_at is None or row.next_run_at > now:
            return False
        rule = schedule_rule(row)
        index, at = row.next_period, row.next_run_at
        local_date = at.astimezone(ZoneInfo(row.time_zone)).date()
        following = period(rule, index + 1, at)
        skip = row.missed_policy == "skip" and following is not None and following[1] <= now
        outcome = "skipped" if skip else "created"
        claimed = await repository.claim_run(
            conn, org_id, schedule_id, index, local_date, at, outcome
        )
        if claimed and not skip:
            await _make_invoice(conn, org_id, row, index, local_date)
        await repository.advance(
            conn, org_id, schedule_id, index + 1, following[1] if following else None
        )
    return True


async def _make_invoice(
    conn: Connection, org_id: UUID, row: ScheduleRow, index: int, local_date: date
) -> None:
    access = _system(org_id)
    body = InvoiceCreate.model_validate({**row.template, "customer_id": str(row.customer_id)})
    invoice_id = await invoices.create_draft(conn, access, body)
    await repository.set_run_invoice(conn, org_id, row.id, index, invoice_id)
    if row.auto_finalize:
        await invoices.finalize(
            conn, access, invoice_id, FinalizeRequest(issue_date=local_date), None
        )
    if row.auto_send:
        await deliveries.request_send(conn, access, invoice_id, SendRequest(), None)
    await events.append(
        conn,
        org_id,
        "recurring_schedule.invoice_created",
        ACTOR,
        ("recurring_schedule", row.id),
        {"period": index, "period_date": local_date.isoformat(), "invoice_id": str(invoice_id)},
    )


async def sweep(database: Database, settings: WorkerSettings) -> None:
    async with database.connection() as conn, conn.transaction():
        for org_id, schedule_id in await repository.due_schedules(conn):
            await jobs.enqueue_unless_queued(
                conn,
                GENERATE_JOB,
                {"org_id": str(org_id), "schedule_id": str(schedule_id)},
                dedupe_key=f"{GENERATE_JOB}:{schedule_id}",
            )


GENERATE_RECURRING = JobKind(GENERATE_JOB, generate)
SWEEP_RECURRING = Periodic("recurring.sweep", sweep)
