"""Customers of an organisation: thin handlers over `customers.service`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response

from penvoice.concurrency import ExpectedVersion, etag
from penvoice.customers import service
from penvoice.customers.schemas import Customer, CustomerCreate, CustomerUpdate
from penvoice.customers.service import CustomerRow
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
from penvoice.tenancy.access import AsMember, AsViewer, UserTransaction

router = APIRouter(tags=["customers"])

CustomerID = Annotated[UUID, Path(description="The customer's id.")]
ArchivedFilter = Annotated[
    bool, Query(description="false (default): active customers only; true: archived only.")
]
EmailFilter = Annotated[
    str | None, Query(max_length=320, description="Exact email, compared case-insensitively.")
]
NameSearch = Annotated[
    str | None,
    Query(min_length=1, max_length=200, description="Name contains this text (any case)."),
]


def _customer(row: CustomerRow) -> Customer:
    return Customer(**row.__dict__, archived=row.archived_at is not None)


@router.post(
    "/orgs/{org_id}/customers",
    status_code=201,
    summary="Create a customer",
    response_model=Customer,
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def create_customer(
    body: CustomerCreate, access: AsMember, conn: UserTransaction, key: IdempotentRequest
) -> Response:
    customer = _customer(await service.create_customer(conn, access, body))
    location = f"/v1/orgs/{access.org_id}/customers/{customer.id}"
    return await created(key, customer, customer.version, location)


@router.get(
    "/orgs/{org_id}/customers",
    summary="List customers, newest first",
    response_model=Page[Customer],
    responses=PROBLEMS(401, 404, 422),
)
async def list_customers(
    access: AsViewer,
    conn: UserTransaction,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
    archived: ArchivedFilter = False,
    email: EmailFilter = None,
    q: NameSearch = None,
) -> Page[Customer]:
    after = decode_cursor(cursor, created_id_key) if cursor else None
    rows = await service.list_customers(
        conn, access, limit=limit, after=after, archived=archived, email=email, q=q
    )
    return page_of([_customer(row) for row in rows], limit, key=lambda c: (c.created_at, c.id))


@router.get(
    "/orgs/{org_id}/customers/{customer_id}",
    summary="Get a customer",
    response_model=Customer,
    responses=PROBLEMS(401, 404, 422),
)
async def get_customer(
    customer_id: CustomerID, access: AsViewer, conn: UserTransaction, response: Response
) -> Customer:
    customer = _customer(await service.get_customer(conn, access, customer_id))
    response.headers["ETag"] = etag(customer.version)
    return customer


@router.patch(
    "/orgs/{org_id}/customers/{customer_id}",
    summary="Update a customer; archive or restore it with `archived`",
    response_model=Customer,
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def update_customer(
    customer_id: CustomerID,
    body: CustomerUpdate,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
    response: Response,
) -> Customer:
    row = await service.update_customer(conn, access, customer_id, body, expected_version)
    customer = _customer(row)
    response.headers["ETag"] = etag(customer.version)
    return customer


@router.delete(
    "/orgs/{org_id}/customers/{customer_id}",
    status_code=204,
    summary="Delete a customer that has no invoices (archive it otherwise)",
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def delete_customer(
    customer_id: CustomerID,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
) -> Response:
    await service.delete_customer(conn, access, customer_id, expected_version)
    return Response(status_code=204)
