"""The send job (`invoices.send_email`), run by `penvoice worker`.

Never twice to one address for one send request, even across crashes: each recipient's
state is committed before each step of the SMTP exchange.

- `pending`/`sending`: the DATA phase never started for this address, so nothing can have
  arrived; a run after a crash sends it (again), with the same Message-ID.
- `committing` is committed right before DATA: from here the server may hold the message.
  A run that finds `committing` (its predecessor died during DATA) marks it `unknown` and
  never sends it again.
- the server's own answers are final: 2xx after DATA → `sent`; a 5xx to RCPT or DATA →
  `refused` (with the reply); 4xx and broken connections are retried with the job's backoff
  until the last attempt, then `failed`.
- the PDF is rendered by the worker's bounded renderer (documents/render.py, as the API's:
  `PDF_MAX_PAGES`, `PDF_RENDER_TIMEOUT_SECONDS`, in a process of its own). A document it
  refuses as too large (pages or time) is not retried: the addresses left are `failed` at
  once, with the reason.

One delivery is handled by one worker at a time: a session-level advisory lock (released by
PostgreSQL when the holder's connection dies) guards it against a second worker that took
the job again while the first was only slow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

import aiosmtplib

from penvoice.db import Connection, Database
from penvoice.deliveries import repository
from penvoice.deliveries.mailer import (
    CONNECTION_ERRORS,
    SESSION_ERRORS,
    Attachment,
    InvoiceEmail,
    MailNotConfigured,
    envelope_sender,
    smtp_session,
)
from penvoice.deliveries.repository import DeliveryRow, RecipientRow
from penvoice.deliveries.service import SEND_JOB
from penvoice.documents.render import PdfTooLarge, safe_filename
from penvoice.einvoices import service as einvoices
from penvoice.errors import ServiceUnavailable
from penvoice.events import repository as events
from penvoice.invoices import repository as invoices
from penvoice.invoices.repository import InvoiceRow
from penvoice.jobs.kinds import JobContext, JobKind
from penvoice.money import format_amount
from penvoice.tenancy import repository as tenancy

log = logging.getLogger("penvoice.deliveries")

ACTOR = "penvoice-worker"
TO_SEND = {"pending", "sending"}
FINAL_EVENT = {
    "sent": "invoice.sent",
    "partially_sent": "invoice.partially_sent",
    "failed": "invoice.send_failed",
    "unknown": "invoice.send_unknown",
}
UNKNOWN_NOTE = (
    "The worker stopped during the DATA phase: the message may have been accepted, so it "
    "is not sent again. Ask the recipient, or send the invoice again explicitly."
)


class DeliveryBusy(Exception):
    """Another worker is handling this delivery right now; retried later."""


class TransientSmtpError(Exception):
    """The server answered 4xx: try again later."""


RETRYABLE: tuple[type[Exception], ...] = (
    *CONNECTION_ERRORS,
    *SESSION_ERRORS,
    TransientSmtpError,
    MailNotConfigured,
    ServiceUnavailable,  # the render process is busy with other jobs, or died
)


async def send_invoice_email(context: JobContext, payload: dict[str, object]) -> None:
    org_id = UUID(str(payload["org_id"]))
    delivery_id = UUID(str(payload["delivery_id"]))
    database = context.database
    async with database.connection() as lock_conn:
        if not await repository.try_lock_delivery(lock_conn, delivery_id):
            raise DeliveryBusy(f"delivery {delivery_id} is being sent by another worker")
        try:
            await _run(context, org_id, delivery_id)
        finally:
            await repository.unlock_delivery(lock_conn, delivery_id)


async def _run(context: JobContext, org_id: UUID, delivery_id: UUID) -> None:
    database, settings = context.database, context.settings
    async with database.connection() as conn, conn.transaction():
        await tenancy.enter_org(conn, org_id)
        delivery = await repository.get_delivery(conn, org_id, delivery_id, lock=True)
        if delivery is None or delivery.finished_at is not None:
            return  # finished by an earlier run: nothing to do (the job is idempotent)
        for recipient in delivery.recipients:
            if recipient.state == "committing":
                log.warning("delivery %s to %s: outcome unknown", delivery_id, recipient.address)
                await repository.set_recipient_state(
                    conn,
                    org_id,
                    delivery_id,
                    recipient.position,
                    "unknown",
                    reply=(None, UNKNOWN_NOTE),
                )
        invoice = await invoices.get_invoice(conn, org_id, delivery.invoice_id)
        assert invoice is not None  # deliveries are deleted with their invoice
        lines = await invoices.get_lines(conn, org_id, invoice.id)
        cii = await einvoices.factur_x_xml(conn, org_id, invoice, lines)
    todo = [r for r in delivery.recipients if r.state in TO_SEND]
    if todo:
        last_attempt = context.attempt >= settings.job_max_attempts - 1
        try:
            # The PDF alone: the CII goes beside it as its own attachment.
            pdf = await context.renderer.document(invoice, lines)
            await _send(context, org_id, delivery, invoice, (pdf, cii), todo)
        except PdfTooLarge as exc:
            await _give_up(database, org_id, delivery_id, f"{exc.slug}: {exc.detail}")
        except RETRYABLE as exc:
            if not last_attempt:
                raise
            why = f"gave up after the last attempt: {type(exc).__name__}: {exc}"
            await _give_up(database, org_id, delivery_id, why)
    await _finish(database, org_id, delivery_id)


async def _send(
    context: JobContext,
    org_id: UUID,
    delivery: DeliveryRow,
    invoice: InvoiceRow,
    documents: tuple[bytes, bytes | None],
    todo: list[RecipientRow],
) -> None:
    settings = context.settings
    async with smtp_session(settings) as smtp:
        sender = envelope_sender(settings)
        for recipient in todo:
            email = _email(settings.smtp_from or "", recipient, delivery, invoice, documents)
            mark = _Marker(context.database, org_id, delivery.id, recipient.position)
            await mark("sending", count_attempt=True)
            try:
                await smtp.mail(sender)
                await smtp.rcpt(recipient.address)
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code < 500:
                    raise TransientSmtpError(f"{exc.code} {exc.message}") from exc
                await mark("refused", reply=(exc.code, exc.message))
                await smtp.rset()
                continue
            await mark("committing")  # the point after which it may have arrived
            try:
                reply = await smtp.data(email.as_bytes())
            except aiosmtplib.SMTPResponseException as exc:
                # The server answered the DATA phase: it did not take the message.
                if exc.code < 500:
                    await mark("sending", reply=(exc.code, exc.message))
                    raise TransientSmtpError(f"{exc.code} {exc.message}") from exc
                await mark("refused", reply=(exc.code, exc.message))
                continue
            await mark("sent", reply=(reply.code, reply.message))


@dataclass(frozen=True)
class _Marker:
    database: Database
    org_id: UUID
    delivery_id: UUID
    position: int

    async def __call__(
        self,
        state: str,
        *,
        reply: tuple[int | None, str | None] | None = None,
        count_attempt: bool = False,
    ) -> None:
        """Commit the recipient's new state before the next step of the exchange."""
        async with self.database.connection() as conn, conn.transaction():
            await tenancy.enter_org(conn, self.org_id)
            await repository.set_recipient_state(
                conn,
                self.org_id,
                self.delivery_id,
                self.position,
                state,
                reply=reply,
                count_attempt=count_attempt,
            )


def _email(
    sender: str,
    recipient: RecipientRow,
    delivery: DeliveryRow,
    invoice: InvoiceRow,
    documents: tuple[bytes, bytes | None],
) -> InvoiceEmail:
    """The message: the PDF, and the EN 16931 e-invoice (CII XML) when one can be made."""
    pdf, cii = documents
    seller = str((invoice.org_snapshot or {}).get("name") or "")
    number = invoice.number or ""
    due = format_amount(invoice.amount_due, invoice.currency)
    text = "\n".join(
        [
            *([delivery.message, ""] if delivery.message else []),
            f"Invoice {number}" + (f" from {seller}" if seller else ""),
            f"Amount due: {due} {invoice.currency}",
            f"Due date: {invoice.due_date.isoformat() if invoice.due_date else '-'}",
            "",
            "The invoice is attached as a PDF"
            + (" and as an EN 16931 e-invoice (CII XML)." if cii is not None else "."),
        ]
    )
    subject = f"Invoice {number}" + (f" from {seller}" if seller else "")
    safe_number = safe_filename(number)
    return InvoiceEmail(
        sender=sender,
        recipient=recipient.address,
        message_id=recipient.message_id,
        subject=subject,
        text=text,
        attachments=(
            Attachment(f"{safe_number}.pdf", "application/pdf", pdf),
            *((Attachment(f"{safe_number}-cii.xml", "application/xml", cii),) if cii else ()),
        ),
    )


async def _give_up(database: Database, org_id: UUID, delivery_id: UUID, reason: str) -> None:
    """The addresses not yet sent to are `failed`, with the reason."""
    async with database.connection() as conn, conn.transaction():
        await tenancy.enter_org(conn, org_id)
        delivery = await repository.get_delivery(conn, org_id, delivery_id, lock=True)
        assert delivery is not None
        for recipient in delivery.recipients:
            if recipient.state in TO_SEND:
                await repository.set_recipient_state(
                    conn,
                    org_id,
                    delivery_id,
                    recipient.position,
                    "failed",
                    reply=(None, reason),
                )


def outcome(states: list[str]) -> str:
    """The delivery's status from its recipients' final states."""
    if "unknown" in states:
        return "unknown"
    sent = states.count("sent")
    if sent == len(states):
        return "sent"
    return "partially_sent" if sent else "failed"


async def _finish(database: Database, org_id: UUID, delivery_id: UUID) -> None:
    async with database.connection() as conn, conn.transaction():
        await tenancy.enter_org(conn, org_id)
        delivery = await repository.get_delivery(conn, org_id, delivery_id, lock=True)
        assert delivery is not None
        if delivery.finished_at is not None:
            return
        states = [r.state for r in delivery.recipients]
        open_states = {"pending", "sending", "committing"} & set(states)
        assert not open_states, f"delivery {delivery_id} still has {open_states}"
        status = outcome(states)
        await repository.finish_delivery(conn, org_id, delivery_id, status)
        await repository.set_invoice_delivery_status(conn, org_id, delivery.invoice_id, status)
        await _event(conn, org_id, delivery, status)


async def _event(conn: Connection, org_id: UUID, delivery: DeliveryRow, status: str) -> None:
    current = await repository.get_delivery(conn, org_id, delivery.id)
    assert current is not None
    await events.append(
        conn,
        org_id,
        FINAL_EVENT[status],
        ACTOR,
        ("invoice", delivery.invoice_id),
        {
            "delivery_id": str(delivery.id),
            "recipients": [
                {
                    "address": r.address,
                    "state": r.state,
                    "message_id": r.message_id,
                    "smtp_code": r.smtp_code,
                    "smtp_response": r.smtp_response,
                }
                for r in current.recipients
            ],
        },
    )


SEND_INVOICE_EMAIL = JobKind(SEND_JOB, send_invoice_email)
