"""Sending an invoice: the rules of the request. The mail itself goes out from the worker
(`deliveries.job`), enqueued here in the request's transaction."""

from __future__ import annotations

import uuid
from uuid import UUID

from penvoice.customers import repository as customers
from penvoice.db import Connection
from penvoice.deliveries import repository
from penvoice.deliveries.repository import DeliveryRow as DeliveryRow  # the routes' row type
from penvoice.deliveries.schemas import SendRequest
from penvoice.errors import NotFound, ValidationFailed
from penvoice.events import repository as events
from penvoice.invoices import lifecycle
from penvoice.invoices import repository as invoices
from penvoice.invoices.lifecycle import Move
from penvoice.invoices.service import locked_invoice
from penvoice.jobs import repository as jobs
from penvoice.tenancy.access import OrgAccess

SEND_JOB = "invoices.send_email"
MESSAGE_ID_DOMAIN = "mail.penvoice.app"


def new_message_id() -> str:
    return f"<{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>"


async def request_send(
    conn: Connection,
    access: OrgAccess,
    invoice_id: UUID,
    body: SendRequest,
    expected_version: int | None,
) -> DeliveryRow:
    """Record the send (a delivery, a Message-ID per address), mark the invoice `queued`,
    append `invoice.send_requested`, and enqueue the send job: all in the request's
    transaction, so either all of it happens or none."""
    invoice = await locked_invoice(conn, access.org_id, invoice_id, expected_version)
    lifecycle.require(invoice.status, Move.SEND)
    addresses = body.to
    if addresses is None:
        customer = await customers.get_customer(conn, access.org_id, invoice.customer_id)
        if customer is None or not customer.email:
            raise ValidationFailed.for_field(
                "body.to", "required: the customer has no email address", "missing"
            )
        addresses = [customer.email]
    unique = list(dict.fromkeys(address.lower() for address in addresses))
    recipients = [(address, new_message_id()) for address in unique]
    delivery_id = await repository.insert_delivery(
        conn, access.org_id, invoice_id, body.message, access.actor, recipients
    )
    await repository.set_invoice_delivery_status(conn, access.org_id, invoice_id, "queued")
    await events.append(
        conn,
        access.org_id,
        "invoice.send_requested",
        access.actor,
        ("invoice", invoice_id),
        {"delivery_id": str(delivery_id), "number": invoice.number, "to": unique},
    )
    await jobs.enqueue(
        conn,
        SEND_JOB,
        {"org_id": str(access.org_id), "delivery_id": str(delivery_id)},
        dedupe_key=f"{SEND_JOB}:{delivery_id}",
    )
    delivery = await repository.get_delivery(conn, access.org_id, delivery_id)
    assert delivery is not None
    return delivery


async def list_deliveries(
    conn: Connection, access: OrgAccess, invoice_id: UUID
) -> list[DeliveryRow]:
    if await invoices.get_invoice(conn, access.org_id, invoice_id) is None:
        raise NotFound("No such invoice.")
    return await repository.list_deliveries(conn, access.org_id, invoice_id)
