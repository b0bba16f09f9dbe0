"""Invoices: drafts, lifecycle transitions, lists. Thin handlers over `invoices.service`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, Response

from penvoice.concurrency import ExpectedVersion, etag
from penvoice.db import Connection
from penvoice.idempotency.keys import Idempotency, IdempotentRequest
from penvoice.invoices import service
from penvoice.invoices.filters import FilterQuery
from penvoice.invoices.schemas import (
    FinalizeRequest,
    Invoice,
    InvoiceCreate,
    InvoiceSummary,
    InvoiceUpdate,
)
from penvoice.openapi import PROBLEMS
from penvoice.pagination import (
    DEFAULT_LIMIT,
    CursorParam,
    Limit,
    Page,
    created_id_key,
    decode_cursor,
    page_json,
)
from penvoice.responses import created
from penvoice.tenancy.access import AsMember, OrgAccess, ReadAsViewer, UserTransaction

router = APIRouter(tags=["invoices"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]
ITEM = "/orgs/{org_id}/invoices/{invoice_id}"


def _json(version: int, body: bytes) -> Response:
    return Response(body, media_type="application/json", headers={"ETag": etag(version)})


async def _after_transition(
    key: Idempotency, conn: Connection, access: OrgAccess, invoice_id: UUID
) -> Response:
    """The answer to finalize, void and mark-uncollectible: 200, the invoice and its ETag."""
    version, body = await service.get_json(conn, access, invoice_id)
    return await key.respond(200, body, {"ETag": etag(version)})


@router.post(
    "/orgs/{org_id}/invoices",
    status_code=201,
    summary="Create a draft invoice; the server computes every figure",
    response_model=Invoice,
    responses=PROBLEMS(401, 403, 404, 409, 422),
)
async def create_invoice(
    body: InvoiceCreate, access: AsMember, conn: UserTransaction, key: IdempotentRequest
) -> Response:
    invoice_id = await service.create_draft(conn, access, body)
    version, document = await service.get_json(conn, access, invoice_id)
    location = f"/v1/orgs/{access.org_id}/invoices/{invoice_id}"
    return await created(key, document, version, location)


@router.get(
    "/orgs/{org_id}/invoices",
    summary="List invoices, newest first, with filters",
    response_model=Page[InvoiceSummary],
    responses=PROBLEMS(401, 404, 422),
)
async def list_invoices(
    read: ReadAsViewer,
    filters: FilterQuery,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> Response:
    after = decode_cursor(cursor, created_id_key) if cursor else None
    items = await service.read_list_json(read, filters, limit=limit, after=after)
    return Response(page_json(items, limit), media_type="application/json")


@router.get(
    ITEM,
    summary="Get an invoice with its lines",
    response_model=Invoice,
    responses=PROBLEMS(401, 404),
)
async def get_invoice(invoice_id: InvoiceID, read: ReadAsViewer) -> Response:
    return _json(*await service.read_json(read, invoice_id))


@router.patch(
    ITEM,
    summary="Edit a draft (lines, when given, replace all lines)",
    response_model=Invoice,
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def update_invoice(
    invoice_id: InvoiceID,
    body: InvoiceUpdate,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
) -> Response:
    await service.update_draft(conn, access, invoice_id, body, expected_version)
    return _json(*await service.get_json(conn, access, invoice_id))


@router.delete(
    ITEM,
    status_code=204,
    summary="Delete a draft",
    responses=PROBLEMS(401, 403, 404, 409, 412),
)
async def delete_invoice(
    invoice_id: InvoiceID,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
) -> Response:
    await service.delete_draft(conn, access, invoice_id, expected_version)
    return Response(status_code=204)


@router.post(
    ITEM + "/finalize",
    summary="Finalize a draft: assign the next number, set dates, snapshot parties",
    response_model=Invoice,
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def finalize_invoice(
    invoice_id: InvoiceID,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
    key: IdempotentRequest,
    body: Annotated[FinalizeRequest | None, Body()] = None,
) -> Response:
    changed = await service.finalize(
        conn, access, invoice_id, body or FinalizeRequest(), expected_version
    )
    return await _after_transition(key, conn, access, changed)


@router.post(
    ITEM + "/void",
    summary="Void an open or uncollectible invoice with nothing paid",
    response_model=Invoice,
    responses=PROBLEMS(401, 403, 404, 409, 412),
)
async def void_invoice(
    invoice_id: InvoiceID,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
    key: IdempotentRequest,
) -> Response:
    changed = await service.void(conn, access, invoice_id, expected_version)
    return await _after_transition(key, conn, access, changed)


@router.post(
    ITEM + "/mark-uncollectible",
    summary="Mark an open invoice uncollectible",
    response_model=Invoice,
    responses=PROBLEMS(401, 403, 404, 409, 412),
)
async def mark_uncollectible(
    invoice_id: InvoiceID,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
    key: IdempotentRequest,
) -> Response:
    changed = await service.mark_uncollectible(conn, access, invoice_id, expected_version)
    return await _after_transition(key, conn, access, changed)
