"""When a schedule's periods fall: pure functions of the schedule and an index, no I/O.

Period n of a monthly (quarterly, yearly) schedule is in the month `n` (3n, 12n) months
after its start's month, on its day of month — or the month's last day when the month is
shorter (31 → 30 April, 28/29 February; 29 February → 28 in common years) — at its local
time in its time zone. A period before the start date is not one (period 0 is then the next
month's). A local time that does not exist (the hour skipped when clocks go forward) falls
after the gap, as many minutes late as the gap is long; a local time that happens twice
(clocks go back) is the first of the two. Cron schedules take their times from the
expression, evaluated in the time zone, starting at the start date's midnight.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from croniter import croniter

Frequency = Literal["monthly", "quarterly", "yearly", "cron"]
STEP_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}


@dataclass(frozen=True)
class Rule:
    frequency: Frequency
    start_date: date
    time_zone: str
    time_of_day: time = time(9, 0)
    day_of_month: int | None = None  # None: the start date's day
    cron: str | None = None
    end_date: date | None = None


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time: fold=0 takes the first of a repeated time, and
    moves a skipped time forward by the gap."""
    local = datetime.combine(day, at, tzinfo=zone).replace(fold=0)
    return local.astimezone(UTC)


def _calendar_period(rule: Rule, index: int) -> tuple[date, datetime]:
    step = STEP_MONTHS[rule.frequency]
    day = rule.day_of_month or rule.start_date.day
    zone = ZoneInfo(rule.time_zone)
    first_month = rule.start_date.year * 12 + rule.start_date.month - 1
    if _clamped(rule.start_date.year, rule.start_date.month, day) < rule.start_date:
        first_month += step  # this month's day has passed at the start
    months = first_month + index * step
    local_day = _clamped(months // 12, months % 12 + 1, day)
    return local_day, _instant(local_day, rule.time_of_day, zone)


def _cron_period(rule: Rule, after: datetime | None) -> tuple[date, datetime]:
    assert rule.cron is not None
    zone = ZoneInfo(rule.time_zone)
    if after is None:  # the first: at or after the start date's local midnight
        start = datetime.combine(rule.start_date, time(0, 0), tzinfo=zone)
        candidate: datetime = croniter(rule.cron, start - timedelta(minutes=1)).get_next(datetime)
    else:
        candidate = croniter(rule.cron, after.astimezone(zone)).get_next(datetime)
    local = candidate.astimezone(zone)
    return local.date(), local.astimezone(UTC)


def period(
    rule: Rule, index: int, previous: datetime | None = None
) -> tuple[date, datetime] | None:
    """(local date, UTC instant) of period `index`, or None when it is after the end date.

    Cron periods are found from the previous one (`previous`, the instant of period
    index - 1), calendar periods from the index alone."""
    if rule.frequency == "cron":
        local_day, instant = _cron_period(rule, previous if index > 0 else None)
    else:
        local_day, instant = _calendar_period(rule, index)
    if rule.end_date is not None and local_day > rule.end_date:
        return None
    return local_day, instant


def validate_cron(expression: str) -> str | None:
    """Why a cron expression is unusable, or None (five fields, at most hourly)."""
    fields = expression.split()
    if len(fields) != 5:
        return "must have five fields: minute hour day-of-month month day-of-week"
    if not croniter.is_valid(expression):
        return "is not a valid cron expression"
    runner = croniter(expression, datetime(2026, 1, 1, tzinfo=UTC))
    first: datetime = runner.get_next(datetime)
    second: datetime = runner.get_next(datetime)
    if (second - first).total_seconds() < 3600:
        return "must not fire more than once an hour"
    return None
