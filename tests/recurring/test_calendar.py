"""Time travel through the schedule calendar: month ends, leap years, DST, cron, ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from penvoice.recurring.calendar import Rule, period, validate_cron

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def dates(rule: Rule, count: int) -> list[date]:
    found = []
    previous = None
    for index in range(count):
        result = period(rule, index, previous)
        if result is None:
            break
        found.append(result[0])
        previous = result[1]
    return found


def test_monthly_on_the_31st_takes_the_last_day_of_shorter_months() -> None:
    rule = Rule("monthly", date(2027, 1, 31), "UTC")
    assert dates(rule, 6) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),  # back to the 31st, not stuck on the 28th
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
    ]


def test_leap_years() -> None:
    monthly = Rule("monthly", date(2028, 1, 30), "UTC")
    assert dates(monthly, 3) == [date(2028, 1, 30), date(2028, 2, 29), date(2028, 3, 30)]
    yearly = Rule("yearly", date(2028, 2, 29), "UTC")
    assert dates(yearly, 5) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]
    century = Rule("yearly", date(2096, 2, 29), "UTC")
    assert dates(century, 2) == [date(2096, 2, 29), date(2097, 2, 28)]
    assert period(Rule("yearly", date(2099, 2, 28), "UTC", day_of_month=29), 1) == (
        date(2100, 2, 28),  # 2100 is not a leap year
        datetime(2100, 2, 28, 9, tzinfo=UTC),
    )


def test_quarterly_across_the_year_end_and_a_start_after_the_day() -> None:
    rule = Rule("quarterly", date(2026, 11, 30), "UTC")
    assert dates(rule, 4) == [
        date(2026, 11, 30),
        date(2027, 2, 28),
        date(2027, 5, 30),
        date(2027, 8, 30),
    ]
    # Starting on the 20th with day 5: the first period is next month's 5th.
    late = Rule("monthly", date(2026, 12, 20), "UTC", day_of_month=5)
    assert dates(late, 2) == [date(2027, 1, 5), date(2027, 2, 5)]


def test_local_time_stays_put_across_dst_and_utc_moves() -> None:
    rule = Rule("monthly", date(2027, 2, 1), "Europe/Berlin", time(9, 0))
    instants = [period(rule, i) for i in range(3)]
    assert [p[1] for p in instants if p] == [
        datetime(2027, 2, 1, 8, 0, tzinfo=UTC),  # CET, UTC+1
        datetime(2027, 3, 1, 8, 0, tzinfo=UTC),
        datetime(2027, 4, 1, 7, 0, tzinfo=UTC),  # CEST, UTC+2
    ]
    for found in instants:
        assert found is not None
        assert found[1].astimezone(BERLIN).time() == time(9, 0)


def test_a_skipped_local_time_runs_after_the_gap_and_a_repeated_one_the_first_time() -> None:
    # 28 March 2027: Berlin jumps from 02:00 to 03:00; 02:30 does not exist.
    spring = period(Rule("monthly", date(2027, 3, 28), "Europe/Berlin", time(2, 30)), 0)
    assert spring is not None
    assert spring[1] == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert spring[1].astimezone(BERLIN).time() == time(3, 30)
    # 7 November 2027: New York goes from 02:00 back to 01:00; 01:30 happens twice.
    autumn = period(Rule("monthly", date(2027, 11, 7), "America/New_York", time(1, 30)), 0)
    assert autumn is not None
    assert autumn[1] == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # EDT, the first 01:30
    assert autumn[1].astimezone(NEW_YORK).utcoffset() == NEW_YORK.utcoffset(datetime(2027, 7, 1))


def test_cron_in_a_time_zone_across_dst() -> None:
    rule = Rule("cron", date(2027, 3, 26), "Europe/Berlin", cron="0 9 * * 1-5")
    found: list[datetime] = []
    previous = None
    for index in range(3):
        result = period(rule, index, previous)
        assert result is not None
        found.append(result[1])
        previous = result[1]
    assert found == [
        datetime(2027, 3, 26, 8, 0, tzinfo=UTC),  # Friday, CET
        datetime(2027, 3, 29, 7, 0, tzinfo=UTC),  # Monday, CEST
        datetime(2027, 3, 30, 7, 0, tzinfo=UTC),
    ]


def test_the_end_date_ends_it() -> None:
    rule = Rule("monthly", date(2027, 1, 15), "UTC", end_date=date(2027, 3, 15))
    assert dates(rule, 10) == [date(2027, 1, 15), date(2027, 2, 15), date(2027, 3, 15)]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 9 1 * *", None),
        ("*/5 * * * *", "must not fire more than once an hour"),
        ("0 9 1 *", "must have five fields"),
        ("0 25 1 * *", "is not a valid cron expression"),
    ],
)
def test_cron_expressions(expression: str, reason: str | None) -> None:
    found = validate_cron(expression)
    assert (found is None) if reason is None else (found is not None and reason in found)
