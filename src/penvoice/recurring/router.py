"""Recurring invoice schedules (members write, viewers read). Thin handlers over
`recurring.service`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response

from penvoice.concurrency import ExpectedVersion, etag
from penvoice.idempotency.keys import IdempotentRequest
from penvoice.openapi import PROBLEMS
from penvoice.pagination import (
    DEFAULT_LIMIT,
    CursorParam,
    Limit,
    Page,
    created_id_key,
    decode_cursor,
    page_ending,
)
from penvoice.recurring import service
from penvoice.recurring.schemas import (
    Run,
    RunList,
    Schedule,
    ScheduleCreate,
    ScheduleUpdate,
)
from penvoice.recurring.service import RunRow, ScheduleRow
from penvoice.tenancy.access import AsMember, AsViewer, UserTransaction

router = APIRouter(tags=["recurring invoices"])

ScheduleID = Annotated[UUID, Path(description="The recurring schedule's id.")]
LIST = "/orgs/{org_id}/recurring-schedules"
ITEM = LIST + "/{schedule_id}"


def _view(row: ScheduleRow) -> Schedule:
    return Schedule.model_validate(
        {**row.__dict__, "time_of_day": row.time_of_day.strftime("%H:%M")}
    )


def _json(row: ScheduleRow, status: int = 200) -> Response:
    body = _view(row).model_dump_json().encode()
    return Response(
        body, status, media_type="application/json", headers={"ETag": etag(row.version)}
    )


def _run(row: RunRow) -> Run:
    return Run.model_validate(row.__dict__)


@router.post(
    LIST,
    status_code=201,
    summary="Create a recurring schedule: a draft (optionally finalized and sent) per period",
    response_model=Schedule,
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def create_schedule(
    body: ScheduleCreate, access: AsMember, conn: UserTransaction, key: IdempotentRequest
) -> Response:
    row = await service.create(conn, access, body)
    location = f"/v1/orgs/{access.org_id}/recurring-schedules/{row.id}"
    headers = {"ETag": etag(row.version), "Location": location}
    return await key.respond(201, _view(row), headers)


@router.get(
    LIST,
    summary="List recurring schedules, oldest first (a page ends early at about 1 MiB)",
    response_model=Page[Schedule],
    responses=PROBLEMS(401, 404, 422),
)
async def list_schedules(
    access: AsViewer,
    conn: UserTransaction,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> Page[Schedule]:
    after = decode_cursor(cursor, created_id_key) if cursor else None
    rows, more = await service.list_page(conn, access, limit=limit, after=after)
    return page_ending([_view(row) for row in rows], more, key=lambda s: (s.created_at, s.id))


@router.get(
    ITEM,
    summary="Get a recurring schedule with its next period",
    response_model=Schedule,
    responses=PROBLEMS(401, 404, 422),
)
async def get_schedule(
    schedule_id: ScheduleID, access: AsViewer, conn: UserTransaction
) -> Response:
    return _json(await service.get(conn, access, schedule_id))


@router.patch(
    ITEM,
    summary="Pause or resume, change the end date, the template or what happens to drafts",
    response_model=Schedule,
    responses=PROBLEMS(401, 403, 404, 412, 422),
)
async def update_schedule(
    schedule_id: ScheduleID,
    body: ScheduleUpdate,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
) -> Response:
    return _json(await service.update(conn, access, schedule_id, body, expected_version))


@router.delete(
    ITEM,
    status_code=204,
    summary="Delete a schedule (the invoices it made stay)",
    responses=PROBLEMS(401, 403, 404, 412, 422),
)
async def delete_schedule(
    schedule_id: ScheduleID,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
) -> Response:
    await service.delete(conn, access, schedule_id, expected_version)
    return Response(status_code=204)


@router.get(
    ITEM + "/runs",
    summary="The periods handled so far, newest first: the draft made, or skipped",
    response_model=RunList,
    responses=PROBLEMS(401, 404, 422),
)
async def list_runs(schedule_id: ScheduleID, access: AsViewer, conn: UserTransaction) -> RunList:
    return RunList(items=[_run(row) for row in await service.runs(conn, access, schedule_id)])
