"""Recurring schedules: the rules of the API (the generation runs in the worker,
`recurring.job`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from penvoice import quotas
from penvoice.concurrency import check_version
from penvoice.customers import repository as customers
from penvoice.db import Connection
from penvoice.errors import NotFound, ValidationFailed
from penvoice.events import repository as events
from penvoice.recurring import repository
from penvoice.recurring.calendar import Rule, period
from penvoice.recurring.repository import RunRow as RunRow  # the routes' row types
from penvoice.recurring.repository import ScheduleRow as ScheduleRow
from penvoice.recurring.schemas import ScheduleCreate, ScheduleUpdate
from penvoice.tenancy.access import OrgAccess

SUBJECT = "recurring_schedule"
# A schedule may start in the past (catch_up makes a draft per missed period), but not so far
# back that more periods than this are due at once: each is a transaction of the worker and
# a run row, and an hourly cron from year 2 would be 17.7 million of them.
MAX_PAST_PERIODS = 1000


def schedule_rule(row: ScheduleRow) -> Rule:
    return Rule(
        frequency=row.frequency,
        start_date=row.start_date,
        time_zone=row.time_zone,
        time_of_day=row.time_of_day,
        day_of_month=row.day_of_month,
        cron=row.cron,
        end_date=row.end_date,
    )


def _check(body: ScheduleCreate) -> None:
    if (body.frequency == "cron") != (body.cron is not None):
        raise ValidationFailed.for_field(
            "body.cron", "required with frequency cron, and only then", "missing"
        )
    if body.frequency == "cron" and body.day_of_month is not None:
        raise ValidationFailed.for_field("body.day_of_month", "not used with a cron expression")
    if body.end_date is not None and body.end_date < body.start_date:
        raise ValidationFailed.for_field("body.end_date", "must not be before start_date")
    if body.auto_send and not body.auto_finalize:
        raise ValidationFailed.for_field(
            "body.auto_send", "needs auto_finalize (a draft is not sent)"
        )


async def create(conn: Connection, access: OrgAccess, body: ScheduleCreate) -> ScheduleRow:
    _check(body)
    customer = await customers.get_customer(conn, access.org_id, body.customer_id)
    if customer is None or customer.archived_at is not None:
        raise ValidationFailed.for_field("body.customer_id", "no such (active) customer")
    await quotas.check_new_schedule(conn, access.org_id)
    rule = Rule(
        frequency=body.frequency,
        start_date=body.start_date,
        time_zone=body.time_zone,
        time_of_day=body.local_time,
        day_of_month=body.day_of_month,
        cron=body.cron,
        end_date=body.end_date,
    )
    _check_past_periods(rule, datetime.now(UTC))
    first = period(rule, 0)
    values = body.model_dump(mode="python", exclude={"template"})
    values["time_of_day"] = body.local_time
    values["template"] = body.template.model_dump(mode="json")
    values["next_run_at"] = first[1] if first else None
    schedule = await repository.insert_schedule(conn, access.org_id, values, access.actor)
    await events.append(
        conn,
        access.org_id,
        "recurring_schedule.created",
        access.actor,
        (SUBJECT, schedule.id),
        {"customer_id": str(body.customer_id), "frequency": body.frequency},
    )
    return schedule


def _check_past_periods(rule: Rule, now: datetime) -> None:
    """Refuse a start date that makes over MAX_PAST_PERIODS periods due by `now`. A calendar
    period is found from its index alone; a cron one only by stepping through those before
    it (70 ms for 1,000 on the event loop), so a cron schedule is instead held to at most
    MAX_PAST_PERIODS hours back: cron fires at most hourly, so that bounds its periods too."""
    if rule.frequency != "cron":
        beyond = period(rule, MAX_PAST_PERIODS)
        if beyond is not None and beyond[1] <= now:
            raise ValidationFailed.for_field(
                "body.start_date",
                f"over {MAX_PAST_PERIODS} periods would already be due; start later",
            )
        return
    first = period(rule, 0)
    if first is not None and first[1] <= now - timedelta(hours=MAX_PAST_PERIODS):
        raise ValidationFailed.for_field(
            "body.start_date",
            f"a cron schedule starts at most {MAX_PAST_PERIODS} hours (about "
            f"{MAX_PAST_PERIODS // 24} days) back",
        )


async def _schedule(
    conn: Connection, access: OrgAccess, schedule_id: UUID, *, for_update: bool = False
) -> ScheduleRow:
    row = await repository.get_schedule(conn, access.org_id, schedule_id, for_update=for_update)
    if row is None:
        raise NotFound("No such recurring schedule.")
    return row


async def get(conn: Connection, access: OrgAccess, schedule_id: UUID) -> ScheduleRow:
    return await _schedule(conn, access, schedule_id)


async def list_page(
    conn: Connection, access: OrgAccess, *, limit: int, after: tuple[datetime, UUID] | None
) -> tuple[list[ScheduleRow], bool]:
    return await repository.list_schedules(conn, access.org_id, limit=limit, after=after)


async def update(
    conn: Connection,
    access: OrgAccess,
    schedule_id: UUID,
    body: ScheduleUpdate,
    expected_version: int | None,
) -> ScheduleRow:
    row = await _schedule(conn, access, schedule_id, for_update=True)
    check_version(expected_version, row.version, "recurring schedule")
    changes: dict[str, Any] = {
        name: value
        for name, value in body.model_dump(exclude_unset=True, mode="python").items()
        if value is not None
    }
    if "end_date" in body.model_fields_set and body.end_date is None:
        changes["end_date"] = None
    if body.template is not None:
        changes["template"] = body.template.model_dump(mode="json")
    finalize = changes.get("auto_finalize", row.auto_finalize)
    if changes.get("auto_send", row.auto_send) and not finalize:
        raise ValidationFailed.for_field(
            "body.auto_send", "needs auto_finalize (a draft is not sent)"
        )
    if "end_date" in changes:
        end = changes["end_date"]
        if end is not None and end < row.start_date:
            raise ValidationFailed.for_field("body.end_date", "must not be before start_date")
        rule = schedule_rule(row)
        rule = dataclasses.replace(rule, end_date=end)
        previous = None if row.next_period == 0 else row.next_run_at
        upcoming = _period_at(rule, row, previous)
        changes["next_run_at"] = upcoming
    if not changes:
        return row
    updated = await repository.update_schedule(conn, access.org_id, schedule_id, changes)
    await events.append(
        conn,
        access.org_id,
        "recurring_schedule.updated",
        access.actor,
        (SUBJECT, schedule_id),
        {"changed": sorted(changes)},
    )
    return updated


def _period_at(rule: Rule, row: ScheduleRow, previous: Any) -> Any:
    """The instant of the schedule's next period under `rule` (None: past the end)."""
    if rule.frequency == "cron" and row.next_run_at is not None:
        # the stored next instant is the period's; only the end date may cut it off
        local = row.next_run_at.astimezone(ZoneInfo(rule.time_zone)).date()
        return None if rule.end_date is not None and local > rule.end_date else row.next_run_at
    found = period(rule, row.next_period, previous)
    return found[1] if found else None


async def delete(
    conn: Connection, access: OrgAccess, schedule_id: UUID, expected_version: int | None
) -> None:
    row = await _schedule(conn, access, schedule_id, for_update=True)
    check_version(expected_version, row.version, "recurring schedule")
    await repository.delete_schedule(conn, access.org_id, schedule_id)
    await events.append(
        conn, access.org_id, "recurring_schedule.deleted", access.actor, (SUBJECT, schedule_id), {}
    )


async def runs(conn: Connection, access: OrgAccess, schedule_id: UUID) -> list[RunRow]:
    await _schedule(conn, access, schedule_id)
    return await repository.list_runs(conn, access.org_id, schedule_id)
