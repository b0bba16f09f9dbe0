"""Sending invoices by email: `POST …/send` and the delivery log. Thin handlers over
`deliveries.service`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, Response

from penvoice.concurrency import ExpectedVersion
from penvoice.deliveries import service
from penvoice.deliveries.schemas import Delivery, DeliveryList, Recipient, SendRequest
from penvoice.deliveries.service import DeliveryRow
from penvoice.idempotency.keys import IdempotentRequest
from penvoice.openapi import PROBLEMS
from penvoice.tenancy.access import AsMember, AsViewer, UserTransaction

router = APIRouter(tags=["invoices"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]
ITEM = "/orgs/{org_id}/invoices/{invoice_id}"


def _view(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        invoice_id=row.invoice_id,
        status=row.status,
        message=row.message,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        finished_at=row.finished_at,
        recipients=[
            Recipient(
                address=r.address,
                message_id=r.message_id,
                state=r.state,
                attempts=r.attempts,
                smtp_code=r.smtp_code,
                smtp_response=r.smtp_response,
                sent_at=r.sent_at,
            )
            for r in row.recipients
        ],
    )


@router.post(
    ITEM + "/send",
    status_code=202,
    summary="Email the invoice with its PDF (queued; one message per address)",
    response_model=Delivery,
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def send_invoice(
    invoice_id: InvoiceID,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
    key: IdempotentRequest,
    body: Annotated[SendRequest | None, Body()] = None,
) -> Response:
    delivery = await service.request_send(
        conn, access, invoice_id, body or SendRequest(), expected_version
    )
    location = f"/v1/orgs/{access.org_id}/invoices/{invoice_id}/deliveries"
    return await key.respond(202, _view(delivery), {"Location": location})


@router.get(
    ITEM + "/deliveries",
    summary="The invoice's email sends, newest first, with each address's outcome",
    response_model=DeliveryList,
    responses=PROBLEMS(401, 404, 422),
)
async def list_deliveries(
    invoice_id: InvoiceID, access: AsViewer, conn: UserTransaction
) -> DeliveryList:
    rows = await service.list_deliveries(conn, access, invoice_id)
    return DeliveryList(items=[_view(row) for row in rows])
