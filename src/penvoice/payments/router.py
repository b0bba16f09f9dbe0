"""Payments of an invoice: record, list, delete one recorded in error."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response

from penvoice.concurrency import ExpectedVersion
from penvoice.idempotency.keys import IdempotentRequest
from penvoice.openapi import PROBLEMS
from penvoice.payments import service
from penvoice.payments.schemas import Payment, PaymentCreate
from penvoice.payments.service import PaymentRow
from penvoice.tenancy.access import AsMember, AsViewer, UserTransaction

router = APIRouter(tags=["payments"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]
PaymentID = Annotated[UUID, Path(description="The payment's id.")]
PAYMENTS = "/orgs/{org_id}/invoices/{invoice_id}/payments"


def _payment(row: PaymentRow) -> Payment:
    return Payment(**row.__dict__)


@router.post(
    PAYMENTS,
    status_code=201,
    summary="Record a payment (at most the amount due, in the invoice's currency)",
    response_model=Payment,
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def record_payment(
    invoice_id: InvoiceID,
    body: PaymentCreate,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
    key: IdempotentRequest,
) -> Response:
    payment = _payment(await service.record(conn, access, invoice_id, body, expected_version))
    return await key.respond(201, payment)


@router.get(
    PAYMENTS,
    summary="List an invoice's payments, including deleted ones",
    response_model=list[Payment],
    responses=PROBLEMS(401, 404),
)
async def list_payments(
    invoice_id: InvoiceID, access: AsViewer, conn: UserTransaction
) -> list[Payment]:
    return [_payment(row) for row in await service.list_payments(conn, access, invoice_id)]


@router.delete(
    PAYMENTS + "/{payment_id}",
    status_code=204,
    summary="Delete a payment recorded in error; the invoice's status follows",
    responses=PROBLEMS(401, 403, 404, 409, 412),
)
async def delete_payment(
    invoice_id: InvoiceID,
    payment_id: PaymentID,
    access: AsMember,
    conn: UserTransaction,
    expected_version: ExpectedVersion,
) -> Response:
    await service.delete(conn, access, invoice_id, payment_id, expected_version)
    return Response(status_code=204)
