"""Reports: accounts-receivable aging per currency."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from penvoice.openapi import PROBLEMS
from penvoice.reports import service
from penvoice.tenancy.access import AsViewer, UserTransaction

router = APIRouter(tags=["reports"])


class AgingBuckets(BaseModel):
    currency: str
    current: int
    days_1_30: int
    days_31_60: int
    days_61_90: int
    days_over_90: int
    total: int
    invoice_count: int


class AgingReport(BaseModel):
    as_of: date
    currencies: list[AgingBuckets]


@router.get(
    "/orgs/{org_id}/reports/ar-aging",
    summary="Accounts-receivable aging per currency as at a date: current, 1-30, 31-60, 61-90, 90+",
    response_model=AgingReport,
    responses=PROBLEMS(401, 404, 422),
)
async def ar_aging(
    access: AsViewer,
    conn: UserTransaction,
    as_of: Annotated[date | None, Query(description="Defaults to today (UTC).")] = None,
) -> AgingReport:
    day = as_of or datetime.now(UTC).date()
    rows = await service.ar_aging(conn, access, day)
    return AgingReport(as_of=day, currencies=[AgingBuckets(**row.__dict__) for row in rows])
