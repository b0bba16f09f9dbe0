"""Payment rules: at most the amount due, in the invoice's currency; status follows balance.

Reaching zero due marks the invoice paid. Deleting a payment recorded in error (soft: it
stays in the trail) reopens a paid invoice; a void invoice's payments cannot change.
"""

from __future__ import annotations

from uuid import UUID

from penvoice.concurrency import check_version
from penvoice.db import Connection
from penvoice.errors import Conflict, NotFound, ValidationFailed
from penvoice.events import repository as events
from penvoice.invoices import repository as invoices
from penvoice.invoices.repository import InvoiceRow
from penvoice.payments import repository
from penvoice.payments.repository import PaymentRow as PaymentRow  # the routes' row type
from penvoice.payments.schemas import PaymentCreate
from penvoice.tenancy.access import OrgAccess


async def record(
    conn: Connection,
    access: OrgAccess,
    invoice_id: UUID,
    body: PaymentCreate,
    expected_version: int | None,
) -> PaymentRow:
    invoice = await _locked_invoice(conn, access, invoice_id, expected_version)
    if invoice.status not in {"open", "uncollectible"}:
        raise Conflict(
            f"Payments are recorded on open or uncollectible invoices; this one is "
            f"{invoice.status}.",
            extra={"status_now": invoice.status},
        )
    if body.currency != invoice.currency:
        raise ValidationFailed.for_field(
            "body.currency", f"must be the invoice's currency, {invoice.currency}"
        )
    if body.amount > invoice.amount_due:
        raise ValidationFailed.for_field(
            "body.amount", f"must not exceed the amount due, {invoice.amount_due}"
        )
    payment = await repository.insert(
        conn,
        access.org_id,
        invoice_id,
        amount=body.amount,
        currency=body.currency,
        paid_on=body.paid_on,
        method=body.method,
        reference=body.reference,
        actor=access.actor,
    )
    amount_paid = invoice.amount_paid + body.amount
    settled = amount_paid + invoice.amount_credited == invoice.total
    status = "paid" if settled else invoice.status
    await invoices.set_amount_paid(conn, access.org_id, invoice_id, amount_paid, status)
    await events.append(
        conn,
        access.org_id,
        "payment.recorded",
        access.actor,
        ("payment", payment.id),
        {"invoice_id": str(invoice_id), "amount": body.amount},
    )
    if status == "paid":
        await events.append(
            conn,
            access.org_id,
            "invoice.paid",
            access.actor,
            ("invoice", invoice_id),
            {"number": invoice.number},
        )
    return payment


async def list_payments(conn: Connection, access: OrgAccess, invoice_id: UUID) -> list[PaymentRow]:
    if await invoices.get_invoice(conn, access.org_id, invoice_id) is None:
        raise NotFound("No invoice with this id.")
    return await repository.list_for_invoice(conn, access.org_id, invoice_id)


async def delete(
    conn: Connection,
    access: OrgAccess,
    invoice_id: UUID,
    payment_id: UUID,
    expected_version: int | None,
) -> None:
    invoice = await _locked_invoice(conn, access, invoice_id, expected_version)
    payment = await repository.get(conn, access.org_id, invoice_id, payment_id)
    if payment is None or payment.deleted_at is not None:
        raise NotFound("No payment with this id on this invoice.")
    if invoice.status == "void":
        raise Conflict(
            "Payments of a void invoice cannot change.", extra={"status_now": invoice.status}
        )
    if invoice.amount_paid - payment.amount < invoice.amount_refunded:
        raise Conflict(
            "Credit notes refunded part of this invoice's payments; a payment that was "
            "refunded cannot be deleted.",
            extra={"amount_refunded": invoice.amount_refunded},
        )
    await repository.mark_deleted(conn, access.org_id, payment_id, access.actor)
    status = "open" if invoice.status == "paid" else invoice.status
    amount_paid = invoice.amount_paid - payment.amount
    await invoices.set_amount_paid(conn, access.org_id, invoice_id, amount_paid, status)
    await events.append(
        conn,
        access.org_id,
        "payment.deleted",
        access.actor,
        ("payment", payment_id),
        {"invoice_id": str(invoice_id), "amount": payment.amount},
    )
    if status != invoice.status:
        await events.append(
            conn,
            access.org_id,
            "invoice.reopened",
            access.actor,
            ("invoice", invoice_id),
            {"number": invoice.number},
        )


async def _locked_invoice(
    conn: Connection, access: OrgAccess, invoice_id: UUID, expected_version: int | None
) -> InvoiceRow:
    invoice = await invoices.get_invoice(conn, access.org_id, invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("No invoice with this id.")
    check_version(expected_version, invoice.version, "invoice")
    return invoice
