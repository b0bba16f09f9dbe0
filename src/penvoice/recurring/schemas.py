"""Recurring schedules and their runs, as the API takes and shows them."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, StringConstraints, field_validator

from penvoice.currencies import CurrencyCode
from penvoice.fields import Strict
from penvoice.invoices.schemas import Lines
from penvoice.recurring.calendar import Frequency, validate_cron

MissedPolicy = Literal["catch_up", "skip"]
# A local wall time (the zone is `time_zone`): "HH:MM", 24 h. Not JSON Schema's `time`
# format, which requires an offset.
LocalTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Template(Strict):
    """What each period's draft is made of (as `POST …/invoices`, without the customer)."""

    currency: CurrencyCode | None = None
    memo: Annotated[str, Field(max_length=5000)] = ""
    lines: Lines = Field(min_length=1)


class ScheduleCreate(Strict):
    customer_id: UUID
    frequency: Frequency
    cron: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="Five-field cron expression; only with frequency `cron`."
    )
    day_of_month: Annotated[int, Field(ge=1, le=31)] | None = Field(
        default=None,
        description="Default: the start date's day. In shorter months: the last day.",
    )
    time_of_day: LocalTime = Field(default="09:00", description="Local time, HH:MM (24 h).")
    time_zone: Annotated[str, Field(max_length=64)] = Field(
        default="UTC", description="IANA zone, e.g. Europe/Berlin"
    )
    start_date: date
    end_date: date | None = None
    template: Template
    auto_finalize: bool = False
    auto_send: bool = Field(default=False, description="Needs auto_finalize.")
    missed_policy: MissedPolicy = Field(
        default="catch_up",
        description="After downtime: one draft per missed period, or only the latest (skip).",
    )

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone (e.g. Europe/Berlin)") from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and (reason := validate_cron(value)):
            raise ValueError(reason)
        return value

    @property
    def local_time(self) -> time:
        return time.fromisoformat(self.time_of_day)


class ScheduleUpdate(Strict):
    enabled: bool | None = None
    end_date: date | None = None
    template: Template | None = None
    auto_finalize: bool | None = None
    auto_send: bool | None = None
    missed_policy: MissedPolicy | None = None


class Schedule(BaseModel):
    id: UUID
    customer_id: UUID
    frequency: Frequency
    cron: str | None
    day_of_month: int | None
    time_of_day: str = Field(description="Local time, HH:MM.")
    time_zone: str
    start_date: date
    end_date: date | None
    template: Template
    auto_finalize: bool
    auto_send: bool
    missed_policy: MissedPolicy
    enabled: bool
    next_period: int
    next_run_at: datetime | None = Field(description="The next period; null once past the end.")
    version: int
    created_at: datetime
    updated_at: datetime


class Run(BaseModel):
    period: int
    period_date: date
    period_at: datetime
    outcome: Literal["created", "skipped"]
    invoice_id: UUID | None
    created_at: datetime


class RunList(BaseModel):
    items: list[Run]
