"""Payment rules: at most the amount due, in the invoice's currency, dated at most tomorrow
(UTC); status follows balance.

Reaching zero due marks the invoice paid. Deleting a payment recorded in error (soft: it
stays in the trail) reopens a paid invoice; a void invoice's payments cannot change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from penvoice import quotas
from penvoice.db import Connection
from penvoice.errors import (
    Forbidden,
    NotFound,
    PaymentRefunded,
    ValidationFailed,
)
from penvoice.events import repository as events
from penvoice.invoices import lifecycle
from penvoice.invoices import repository as invoices
from penvoice.invoices.lifecycle import Move
from penvoice.invoices.service import locked_invoice
from penvoice.payments import repository
from penvoice.payments.repository import PaymentRow as PaymentRow  # the routes' row type
from penvoice.payments.schemas import PaymentCreate
from penvoice.tenancy.access import OrgAccess

PAID_ON_LEEWAY = timedelta(days=1)
"""How far after today (UTC) a payment may be dated: every time zone's today, up to UTC+14."""


def latest_paid_on(now: datetime | None = None) -> date:
    """The latest `paid_on` accepted now: today in UTC plus `PAID_ON_LEEWAY`."""
    return (now or datetime.now(UTC)).astimezone(UTC).date() + PAID_ON_LEEWAY


async def record(
    conn: Connection,
    access: OrgAccess,
    invoice_id: UUID,
    body: PaymentCreate,
    expected_version: int | None,
) -> PaymentRow:
    latest = latest_paid_on()
    if body.paid_on > latest:
        raise ValidationFailed.for_field(
            "body.paid_on", f"must not be after {latest.isoformat()} (tomorrow, UTC)"
        )
    invoice = await locked_invoice(conn, access.org_id, invoice_id, expected_version)
    lifecycle.require(invoice.status, Move.RECORD_PAYMENT)
    if body.currency != invoice.currency:
        raise ValidationFailed.for_field(
            "body.currency", f"must be the invoice's currency, {invoice.currency}"
        )
    if body.amount > invoice.amount_due:
        raise ValidationFailed.for_field(
            "body.amount", f"must not exceed the amount due, {invoice.amount_due}"
        )
    await quotas.check_new_payment(conn, access.org_id, invoice_id)
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
    status = lifecycle.after_payment(
        invoice.status, amount_paid, invoice.total, invoice.amount_credited
    )
    await invoices.set_amount_paid(conn, access.org_id, invoice_id, amount_paid, status)
    await events.append(
        conn,
        access.org_id,
        "payment.recorded",
        access.actor,
        ("payment", payment.id),
        {"invoice_id": str(invoice_id), "amount": body.amount},
    )
    if status is lifecycle.Status.PAID:
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
    if not access.at_least("admin"):  # reversing an accounting record
        raise Forbidden("Only admins and owners may delete payments.")
    invoice = await locked_invoice(conn, access.org_id, invoice_id, expected_version)
    payment = await repository.get(conn, access.org_id, invoice_id, payment_id)
    if payment is None or payment.deleted_at is not None:
        raise NotFound("No payment with this id on this invoice.")
    lifecycle.require(invoice.status, Move.DELETE_PAYMENT)
    if invoice.amount_paid - payment.amount < invoice.amount_refunded:
        raise PaymentRefunded(
            "Credit notes refunded part of this invoice's payments; a payment that was "
            "refunded cannot be deleted.",
            extra={"amount_refunded": invoice.amount_refunded},
        )
    await repository.mark_deleted(conn, access.org_id, payment_id, access.actor)
    status = lifecycle.after_payment_deleted(invoice.status)
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
