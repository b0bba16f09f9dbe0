"""Invoices: drafts, lifecycle transitions, lists. Thin handlers over `invoices.service`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, Response

from penvoice.concurrency import ExpectedVersion, etag
from penvoice.db import Connection
from penvoice.idempotency.keys import Idempotency, IdempotentRequest
from penvoice.invoices import repository, service
from penvoice.invoices.filters import FilterQuery
from penvoice.invoices.repository import InvoiceRow
from penvoice.invoices.schemas import (
    FinalizeRequest,
    Invoice,
    InvoiceCreate,
    InvoiceSummary,
    InvoiceUpdate,
)
from penvoice.invoices.views import invoice_view
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

router = APIRouter(tags=["invoices"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]
ITEM = "/orgs/{org_id}/invoices/{invoice_id}"


async def _present(conn: Connection, access_org: UUID, invoice: InvoiceRow) -> Invoice:
    return invoice_view(invoice, await repository.get_lines(conn, access_org, invoice.id))


def _headers(invoice: Invoice) -> dict[str, str]:
    return {"ETag": etag(invoice.version)}


async def _after_transition(
    key: Idempotency, conn: Connection, org_id: UUID, row: InvoiceRow
) -> Response:
    """The answer to finalize, void and mark-uncollectible: 200, the invoice and its ETag."""
    invoice = await _present(conn, org_id, row)
    return await key.respond(200, invoice, _headers(invoice))


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
    invoice = await _present(conn, access.org_id, await service.create_draft(conn, access, body))
    location = f"/v1/orgs/{access.org_id}/invoices/{invoice.id}"
    return await created(key, invoice, invoice.version, location)


@router.get(
    "/orgs/{org_id}/invoices",
    summary="List invoices, newest first, with filters",
    response_model=Page[InvoiceSummary],
    responses=PROBLEMS(401, 404, 422),
)
async def list_invoices(
    access: AsViewer,
    conn: UserTransaction,
    filters: FilterQuery,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> Page[InvoiceSummary]:
    after = decode_cursor(cursor, created_id_key) if cursor else None
    items = await repository.list_summaries(conn, access.org_id, filters, limit=limit, after=after)
    return page_of(items, limit, key=lambda item: (item.created_at.isoformat(), item.id))


@router.get(
    ITEM,
    summary="Get an invoice with its lines",
    response_model=Invoice,
    responses=PROBLEMS(401, 404),
)
async def get_invoice(
    invoice_id: InvoiceID, access: AsViewer, conn: UserTransaction, response: Response
) -> Invoice:
    invoice = await _present(conn, access.org_id, await service.get(conn, access, invoice_id))
    response.headers.update(_headers(invoice))
    return invoice


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
    response: Response,
) -> Invoice:
    row = await service.update_draft(conn, access, invoice_id, body, expected_version)
    invoice = await _present(conn, access.org_id, row)
    response.headers.update(_headers(invoice))
    return invoice


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
    row = await service.finalize(
        conn, access, invoice_id, body or FinalizeRequest(), expected_version
    )
    return await _after_transition(key, conn, access.org_id, row)


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
    row = await service.void(conn, access, invoice_id, expected_version)
    return await _after_transition(key, conn, access.org_id, row)


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
    row = await service.mark_uncollectible(conn, access, invoice_id, expected_version)
    return await _after_transition(key, conn, access.org_id, row)
