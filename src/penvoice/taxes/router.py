"""Tax rates of an organisation: thin handlers over `taxes.service`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response

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
    page_of,
)
from penvoice.responses import created
from penvoice.taxes import service
from penvoice.taxes.schemas import TaxRate, TaxRateCreate, TaxRateUpdate
from penvoice.taxes.service import TaxRateRow
from penvoice.tenancy.access import AsAdmin, AsViewer, UserTransaction

router = APIRouter(tags=["tax rates"])

TaxRateID = Annotated[UUID, Path(description="The tax rate's id.")]
ArchivedFilter = Annotated[
    bool, Query(description="false (default): active rates only; true: archived only.")
]


def _rate(row: TaxRateRow) -> TaxRate:
    return TaxRate(**row.__dict__, archived=row.archived_at is not None)


@router.post(
    "/orgs/{org_id}/tax-rates",
    status_code=201,
    summary="Create a tax rate",
    response_model=TaxRate,
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def create_rate(
    body: TaxRateCreate, access: AsAdmin, conn: UserTransaction, key: IdempotentRequest
) -> Response:
    rate = _rate(await service.create_rate(conn, access, body))
    location = f"/v1/orgs/{access.org_id}/tax-rates/{rate.id}"
    return await created(key, rate, rate.version, location)


@router.get(
    "/orgs/{org_id}/tax-rates",
    summary="List tax rates, newest first",
    response_model=Page[TaxRate],
    responses=PROBLEMS(401, 404, 422),
)
async def list_rates(
    access: AsViewer,
    conn: UserTransaction,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    archived: ArchivedFilter = False,
) -> Page[TaxRate]:
    after = decode_cursor(cursor, created_id_key) if cursor else None
    rows = await service.list_rates(conn, access, limit=limit, after=after, archived=archived)
    return page_of([_rate(row) for row in rows], limit, key=lambda r: (r.created_at, r.id))


@router.get(
    "/orgs/{org_id}/tax-rates/{tax_rate_id}",
    summary="Get a tax rate",
    response_model=TaxRate,
    responses=PROBLEMS(401, 404, 422),
)
async def get_rate(
    tax_rate_id: TaxRateID, access: AsViewer, conn: UserTransaction, response: Response
) -> TaxRate:
    rate = _rate(await service.get_rate(conn, access, tax_rate_id))
    response.headers["ETag"] = etag(rate.version)
    return rate


@router.patch(
    "/orgs/{org_id}/tax-rates/{tax_rate_id}",
    summary="Rename, archive or restore a tax rate; change its percentage while unused",
    response_model=TaxRate,
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def update_rate(
    tax_rate_id: TaxRateID,
    body: TaxRateUpdate,
    access: AsAdmin,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
    response: Response,
) -> TaxRate:
    rate = _rate(await service.update_rate(conn, access, tax_rate_id, body, expected_version))
    response.headers["ETag"] = etag(rate.version)
    return rate


@router.delete(
    "/orgs/{org_id}/tax-rates/{tax_rate_id}",
    status_code=204,
    summary="Delete a tax rate no invoice line uses (archive it otherwise)",
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def delete_rate(
    tax_rate_id: TaxRateID,
    access: AsAdmin,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
) -> Response:
    await service.delete_rate(conn, access, tax_rate_id, expected_version)
    return Response(status_code=204)
