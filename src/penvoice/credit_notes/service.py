"""Credit-note rules: what may be credited, the gapless numbering, and how a credit note
changes its invoice.

A credit note credits whole lines of a finalized invoice (each line at most once) or an
amount (tax included, at the invoice's one tax rate); all credit notes of an invoice never
add up to more than its total. Its total first comes off the invoice's amount due
(`applied`); the rest, if the invoice was already paid, is a refund (`refunded`), which
never exceeds what was paid less earlier refunds. The invoice is locked for the whole
transaction, and the number is taken from a counter row locked in the same transaction.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from penvoice import money, quotas
from penvoice.credit_notes import repository
from penvoice.credit_notes.repository import CreditLineRow as CreditLineRow  # for the routes
from penvoice.credit_notes.repository import CreditNoteRow as CreditNoteRow  # the routes' rows
from penvoice.credit_notes.schemas import CreditNoteCreate
from penvoice.db import Connection
from penvoice.einvoices.build import build
from penvoice.einvoices.model import EDocument, Reference
from penvoice.errors import NotFound, NothingToCredit, RefundExceedsPaid, ValidationFailed
from penvoice.events import repository as events
from penvoice.invoices import lifecycle
from penvoice.invoices import repository as invoices
from penvoice.invoices.lifecycle import Move
from penvoice.invoices.repository import NUMBER_DIGITS, InvoiceRow, LineRow, LineTaxRow
from penvoice.invoices.service import locked_invoice
from penvoice.orgs import repository as orgs
from penvoice.tenancy.access import OrgAccess


async def create(
    conn: Connection,
    access: OrgAccess,
    invoice_id: UUID,
    body: CreditNoteCreate,
    expected_version: int | None,
) -> UUID:
    invoice = await locked_invoice(conn, access.org_id, invoice_id, expected_version)
    lifecycle.require(invoice.status, Move.CREDIT)
    await quotas.check_new_credit_note(conn, access.org_id, invoice_id)
    issue_date = body.issue_date or datetime.now(UTC).date()
    assert invoice.issue_date is not None
    if issue_date < invoice.issue_date:
        raise ValidationFailed.for_field(
            "body.issue_date", f"must not be before the invoice's issue date, {invoice.issue_date}"
        )
    invoice_lines = await invoices.get_lines(conn, access.org_id, invoice_id)
    if body.amount is not None:
        lines = [_amount_line(invoice, invoice_lines, body.amount, body.reason)]
    else:
        lines = await _credited_lines(conn, access, invoice, invoice_lines, body)
    total = sum(line.total for line in lines)
    credited_before = invoice.amount_credited + invoice.amount_refunded
    if total > invoice.total - credited_before:
        field = "body.amount" if body.amount is not None else "body.lines"
        raise ValidationFailed.for_field(
            field,
            f"would credit {total}, more than the {invoice.total - credited_before} not "
            "credited yet",
        )
    applied = min(total, invoice.amount_due)
    refunded = total - applied
    if refunded > invoice.amount_paid - invoice.amount_refunded:  # implied by the line above
        raise RefundExceedsPaid("A refund cannot exceed what was paid.")
    org = await orgs.get_org(conn, access.org_id)
    assert org is not None
    sequence = await repository.take_next_number(conn, access.org_id)
    note = CreditNoteRow(
        id=uuid.uuid4(),
        invoice_id=invoice_id,
        number=f"{org.invoice_prefix}CN-{sequence:0{NUMBER_DIGITS}d}",
        sequence=sequence,
        issue_date=issue_date,
        reason=body.reason,
        currency=invoice.currency,
        subtotal=sum(line.net for line in lines),
        tax_total=sum(line.tax_amount for line in lines),
        total=total,
        applied=applied,
        refunded=refunded,
        created_at=datetime.now(UTC),
        created_by=access.actor,
    )
    await repository.insert(conn, access.org_id, note, lines)
    status = lifecycle.after_payment(
        invoice.status, invoice.amount_paid, invoice.total, invoice.amount_credited + applied
    )
    await invoices.apply_credit(conn, access.org_id, invoice_id, applied, refunded, status)
    await events.append(
        conn,
        access.org_id,
        "credit_note.created",
        access.actor,
        ("credit_note", note.id),
        {
            "number": note.number,
            "invoice_id": str(invoice_id),
            "total": total,
            "applied": applied,
            "refunded": refunded,
        },
    )
    if status != invoice.status:
        await events.append(
            conn,
            access.org_id,
            "invoice.paid",
            access.actor,
            ("invoice", invoice_id),
            {"number": invoice.number, "by_credit_note": note.number},
        )
    return note.id


async def _credited_lines(
    conn: Connection,
    access: OrgAccess,
    invoice: InvoiceRow,
    invoice_lines: list[LineRow],
    body: CreditNoteCreate,
) -> list[CreditLineRow]:
    credited = await repository.credited_line_ids(conn, access.org_id, invoice.id)
    by_id = {line.id: line for line in invoice_lines}
    if body.lines is None:
        chosen = [line for line in invoice_lines if line.id not in credited]
        if not chosen:
            raise NothingToCredit("Every line of this invoice is credited already.")
    else:
        chosen = []
        for index, wanted in enumerate(body.lines):
            line = by_id.get(wanted.line_id)
            field = f"body.lines.{index}.line_id"
            if line is None:
                raise ValidationFailed.for_field(field, "no such line on this invoice", "not_found")
            if line.id in credited:
                raise ValidationFailed.for_field(field, "this line is credited already")
            chosen.append(line)
    return [
        CreditLineRow(
            position=position,
            invoice_line_id=line.id,
            description=line.description,
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            discount_amount=line.discount_amount,
            net=line.net,
            tax_amount=line.tax_amount,
            total=line.total,
            taxes=line.taxes,
        )
        for position, line in enumerate(chosen)
    ]


def _amount_line(
    invoice: InvoiceRow, invoice_lines: list[LineRow], amount: int, reason: str
) -> CreditLineRow:
    """An amount, tax included, at the invoice's one tax rate: its tax is carved out with
    the money module's rounding, and it is stored as an exclusive-price line."""
    rates = {tax.tax_rate_id: tax for line in invoice_lines for tax in line.taxes}
    untaxed = any(not line.taxes for line in invoice_lines)
    if len(rates) > 1 or (rates and untaxed) or any(len(line.taxes) > 1 for line in invoice_lines):
        raise ValidationFailed.for_field(
            "body.amount",
            "an amount can be credited on an invoice with one tax rate; credit lines instead",
        )
    taxes: tuple[LineTaxRow, ...] = ()
    tax = 0
    if rates:
        rate = next(iter(rates.values()))
        tax = money.round_half_up(Decimal(amount) * rate.percentage / (100 + rate.percentage))
        taxes = (
            dataclasses.replace(rate, inclusive=False, taxable_amount=amount - tax, amount=tax),
        )
    return CreditLineRow(
        position=0,
        invoice_line_id=None,
        description=reason or f"Credit on invoice {invoice.number}",
        quantity=Decimal(1),
        unit_amount=amount - tax,
        discount_amount=0,
        net=amount - tax,
        tax_amount=tax,
        total=amount,
        taxes=taxes,
    )


async def get(
    conn: Connection, access: OrgAccess, credit_note_id: UUID
) -> tuple[CreditNoteRow, list[CreditLineRow]]:
    note = await repository.get(conn, access.org_id, credit_note_id)
    if note is None:
        raise NotFound("No credit note with this id.")
    return note, await repository.lines_of(conn, access.org_id, credit_note_id)


async def list_for_invoice(
    conn: Connection, access: OrgAccess, invoice_id: UUID
) -> list[tuple[CreditNoteRow, list[CreditLineRow]]]:
    if await invoices.get_invoice(conn, access.org_id, invoice_id) is None:
        raise NotFound("No invoice with this id.")
    notes = await repository.list_for_invoice(conn, access.org_id, invoice_id)
    return [(note, await repository.lines_of(conn, access.org_id, note.id)) for note in notes]


async def as_document(
    conn: Connection, access: OrgAccess, credit_note_id: UUID
) -> tuple[InvoiceRow, list[LineRow], str]:
    """The credit note in the invoice's document shape (for the PDF renderer): the invoice's
    parties, the credit note's number, date, lines and figures; `amount_paid` is what it
    refunds and `amount_due` what it took off the amount due. And the invoice's number."""
    note, lines = await get(conn, access, credit_note_id)
    invoice = await invoices.get_invoice(conn, access.org_id, note.invoice_id)
    assert invoice is not None
    memo = note.reason or f"Credits invoice {invoice.number} of {invoice.issue_date}."
    shaped = dataclasses.replace(
        invoice,
        id=note.id,
        status=lifecycle.Status.OPEN,
        number=note.number,
        issue_date=note.issue_date,
        due_date=note.issue_date,
        memo=memo,
        subtotal=note.subtotal,
        tax_total=note.tax_total,
        total=note.total,
        amount_paid=note.refunded,
        amount_due=note.applied,
        amount_credited=0,
        amount_refunded=0,
        paid_at=None,
        finalized_at=note.created_at,
        supply_date=None,
        period_start=None,
        period_end=None,
    )
    line_rows = [
        LineRow(
            id=uuid.UUID(int=line.position),
            position=line.position,
            description=line.description,
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            discount_percent=None,
            discount_fixed=line.discount_amount or None,
            amount=line.net + line.discount_amount,
            discount_amount=line.discount_amount,
            net=line.net,
            tax_amount=line.tax_amount,
            total=line.total,
            taxes=line.taxes,
        )
        for line in lines
    ]
    return shaped, line_rows, invoice.number or ""


async def e_document(conn: Connection, access: OrgAccess, credit_note_id: UUID) -> EDocument:
    """The credit note as EN 16931 sees it: a credit note (CII 381, UBL CreditNote) with the
    invoice as preceding document, its parties from the invoice's snapshots."""
    shaped, lines, _ = await as_document(conn, access, credit_note_id)
    note = await repository.get(conn, access.org_id, credit_note_id)
    assert note is not None
    invoice = await invoices.get_invoice(conn, access.org_id, note.invoice_id)
    assert invoice is not None
    doc = build(
        dataclasses.replace(shaped, amount_paid=0, amount_due=note.total, due_date=None),
        lines,
        invoice.org_snapshot,
        invoice.customer_snapshot,
        {"org_id": str(access.org_id)},
    )
    return dataclasses.replace(
        doc,
        kind="credit_note",
        preceding=Reference(invoice.number or "", invoice.issue_date),
        ids={**doc.ids, "invoice_id": str(invoice.id)},
    )
