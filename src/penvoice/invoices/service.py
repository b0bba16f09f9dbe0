"""Invoice rules: drafts, the lifecycle, gapless numbering and snapshots at finalization.

Lifecycle (Stripe's): draft → open → paid | void | uncollectible; uncollectible → paid |
void. Only drafts are edited or deleted. Every forbidden transition is a 409 and changes
nothing (the request's transaction rolls back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from penvoice import quotas
from penvoice.concurrency import check_version
from penvoice.customers import repository as customers
from penvoice.db import Connection
from penvoice.errors import (
    Forbidden,
    InvoiceHasCredits,
    InvoiceHasPayments,
    InvoiceNotPriceable,
    InvoiceNumbersExhausted,
    InvoiceWithoutLines,
    NotFound,
    ValidationFailed,
)
from penvoice.events import repository as events
from penvoice.invoices import json_repository, lifecycle, repository
from penvoice.invoices.lifecycle import Move
from penvoice.invoices.pricing import RateInfo, money_error_field, price_body_lines, price_lines
from penvoice.invoices.repository import InvoiceFilters, Totals
from penvoice.invoices.repository import InvoiceRow as InvoiceRow  # the routes' row types
from penvoice.invoices.repository import LineRow as LineRow
from penvoice.invoices.schemas import FinalizeRequest, InvoiceCreate, InvoiceUpdate, LineInput
from penvoice.invoices.views import decimal_text
from penvoice.money import MoneyError
from penvoice.orgs import repository as orgs
from penvoice.taxes import repository as taxes
from penvoice.tenancy.access import OneStatementRead, OrgAccess

NULLABLE = frozenset({"supply_date", "service_period"})
LEGAL_INPUTS = ("buyer_reference", "purchase_order_reference", "supply_date", "service_period")


def _legal_columns(values: dict[str, Any]) -> dict[str, Any]:
    """The API's legal fields (`LEGAL_INPUTS`) as the invoice's columns."""
    period = values.get("service_period")
    return {
        "buyer_reference": values.get("buyer_reference", ""),
        "purchase_order_reference": values.get("purchase_order_reference", ""),
        "supply_date": values.get("supply_date"),
        "period_start": period["start"] if period else None,
        "period_end": period["end"] if period else None,
    }


def _legal_inputs(invoice: InvoiceRow) -> dict[str, Any]:
    period = None
    if invoice.period_start is not None:
        period = {"start": invoice.period_start, "end": invoice.period_end}
    return {
        "buyer_reference": invoice.buyer_reference,
        "purchase_order_reference": invoice.purchase_order_reference,
        "supply_date": invoice.supply_date,
        "service_period": period,
    }


async def create_draft(conn: Connection, access: OrgAccess, body: InvoiceCreate) -> UUID:
    """The new draft's id (the route answers the invoice as the database renders it)."""
    await quotas.check_new_invoice(conn, access.org_id, len(body.lines))
    customer = await _billable_customer(conn, access.org_id, body.customer_id)
    org = await orgs.get_org(conn, access.org_id)
    assert org is not None
    currency = body.currency or customer.currency or org.default_currency
    rates = await _usable_rates(conn, access.org_id, body.lines)
    lines, totals = price_body_lines(body.lines, rates, currency)
    return await repository.insert_draft(
        conn,
        access.org_id,
        customer_id=body.customer_id,
        currency=currency,
        memo=body.memo,
        totals=totals,
        actor=access.actor,
        lines=lines,
        legal=_legal_columns(body.model_dump(include=set(LEGAL_INPUTS))),
    )


async def update_draft(
    conn: Connection,
    access: OrgAccess,
    invoice_id: UUID,
    body: InvoiceUpdate,
    expected_version: int | None,
) -> UUID:
    invoice = await _editable(conn, access.org_id, invoice_id, expected_version)
    sent = body.model_dump(exclude_unset=True)
    for field, value in sent.items():
        if value is None and field not in NULLABLE:
            raise ValidationFailed.for_field(f"body.{field}", "may be left out but not null")
    if not sent:
        return invoice.id  # nothing to change: no new version, no event
    changes = {
        name: value for name, value in sent.items() if name != "lines" and name not in LEGAL_INPUTS
    }
    if any(name in sent for name in LEGAL_INPUTS):
        legal = {**_legal_inputs(invoice), **{k: sent[k] for k in LEGAL_INPUTS if k in sent}}
        changes.update(_legal_columns(legal))
    if body.customer_id is not None:
        await _billable_customer(conn, access.org_id, body.customer_id)
    totals = _totals_of(invoice)
    if body.lines is not None:  # amounts are minor units: only new lines change the figures
        await quotas.check_new_lines(conn, access.org_id, invoice_id, len(body.lines))
        rates = await _usable_rates(conn, access.org_id, body.lines)
        lines, totals = price_body_lines(body.lines, rates, body.currency or invoice.currency)
        await repository.replace_lines(conn, access.org_id, invoice_id, lines)
    await repository.update_draft(conn, access.org_id, invoice_id, changes, totals)
    await events.append(
        conn,
        access.org_id,
        "invoice.updated",
        access.actor,
        ("invoice", invoice_id),
        {"total": totals.total},
    )
    return invoice_id


async def delete_draft(
    conn: Connection, access: OrgAccess, invoice_id: UUID, expected_version: int | None
) -> None:
    await _editable(conn, access.org_id, invoice_id, expected_version)
    await repository.delete_invoice(conn, access.org_id, invoice_id)
    await events.append(
        conn, access.org_id, "invoice.deleted", access.actor, ("invoice", invoice_id)
    )


async def finalize(
    conn: Connection,
    access: OrgAccess,
    invoice_id: UUID,
    body: FinalizeRequest,
    expected_version: int | None,
) -> UUID:
    invoice = await locked_invoice(conn, access.org_id, invoice_id, expected_version)
    lifecycle.require(invoice.status, Move.FINALIZE)
    invoice = await _reprice_with_current_rates(conn, access.org_id, invoice)
    org = await orgs.get_org(conn, access.org_id)
    customer = await customers.get_customer(conn, access.org_id, invoice.customer_id)
    assert org is not None
    assert customer is not None
    issue_date = body.issue_date or datetime.now(UTC).date()
    due_date = body.due_date or issue_date + timedelta(days=org.payment_terms_days)
    if due_date < issue_date:
        raise ValidationFailed.for_field("body.due_date", "must not be before the issue date")
    number = await repository.finalize(
        conn,
        access.org_id,
        invoice_id,
        prefix=org.invoice_prefix,
        dates=(issue_date, due_date),
        snapshots=(org_snapshot(org), customer_snapshot(customer)),
        actor=access.actor,
        status=lifecycle.after_finalize(invoice.amount_due),
    )
    if number is None:
        raise InvoiceNumbersExhausted(
            f"Every invoice number up to {repository.COUNTER_MAX - 1} has been issued; "
            "this organisation cannot finalize more invoices."
        )
    return invoice_id


async def void(
    conn: Connection, access: OrgAccess, invoice_id: UUID, expected_version: int | None
) -> UUID:
    _require_admin(access, "void invoices")
    invoice = await locked_invoice(conn, access.org_id, invoice_id, expected_version)
    lifecycle.require(invoice.status, Move.VOID)
    if invoice.amount_paid > 0:
        raise InvoiceHasPayments(
            "An invoice with payments cannot be voided; delete the payments first."
        )
    if invoice.amount_credited > 0:
        raise InvoiceHasCredits(
            "An invoice with credit notes cannot be voided; credit the rest instead."
        )
    return await _move_to(conn, access, invoice, Move.VOID, "invoice.voided")


async def mark_uncollectible(
    conn: Connection, access: OrgAccess, invoice_id: UUID, expected_version: int | None
) -> UUID:
    _require_admin(access, "mark invoices uncollectible")
    invoice = await locked_invoice(conn, access.org_id, invoice_id, expected_version)
    lifecycle.require(invoice.status, Move.MARK_UNCOLLECTIBLE)
    return await _move_to(
        conn, access, invoice, Move.MARK_UNCOLLECTIBLE, "invoice.marked_uncollectible"
    )


async def _move_to(
    conn: Connection, access: OrgAccess, invoice: InvoiceRow, move: Move, event: str
) -> UUID:
    """Set a locked invoice's status to where `move` leads and record the event."""
    target = lifecycle.TARGET[move]
    await repository.set_status(conn, access.org_id, invoice.id, target, access.actor)
    subject = ("invoice", invoice.id)
    await events.append(
        conn, access.org_id, event, access.actor, subject, {"number": invoice.number}
    )
    return invoice.id


def _require_admin(access: OrgAccess, action: str) -> None:
    """Reversing or writing off an accounting record is for admins and owners."""
    if not access.at_least("admin"):
        raise Forbidden(f"Only admins and owners may {action}.")


async def _invoice(conn: Connection, org_id: UUID, invoice_id: UUID) -> InvoiceRow:
    invoice = await repository.get_invoice(conn, org_id, invoice_id)
    if invoice is None:
        raise NotFound("No invoice with this id.")
    return invoice


async def locked_invoice(
    conn: Connection, org_id: UUID, invoice_id: UUID, expected_version: int | None
) -> InvoiceRow:
    """The invoice, locked for this transaction, at the version the client expects (If-Match);
    every write to an invoice (here, payments, credit notes, sending) starts with it."""
    invoice = await repository.get_invoice(conn, org_id, invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("No invoice with this id.")
    check_version(expected_version, invoice.version, "invoice")
    return invoice


async def _editable(
    conn: Connection, org_id: UUID, invoice_id: UUID, expected_version: int | None
) -> InvoiceRow:
    invoice = await locked_invoice(conn, org_id, invoice_id, expected_version)
    lifecycle.require(invoice.status, Move.EDIT)
    return invoice


async def _billable_customer(
    conn: Connection, org_id: UUID, customer_id: UUID
) -> customers.CustomerRow:
    customer = await customers.get_customer(conn, org_id, customer_id)
    if customer is None:
        raise ValidationFailed.for_field("body.customer_id", "no such customer", "not_found")
    if customer.archived_at is not None:
        raise ValidationFailed.for_field("body.customer_id", "this customer is archived")
    return customer


async def _usable_rates(
    conn: Connection, org_id: UUID, lines: Sequence[LineInput]
) -> dict[UUID, RateInfo]:
    wanted = sorted({rate_id for line in lines for rate_id in line.tax_rate_ids})
    found = await taxes.rates_by_ids(conn, org_id, wanted)
    for index, line in enumerate(lines):
        for rate_id in line.tax_rate_ids:
            rate = found.get(rate_id)
            if rate is None:
                raise ValidationFailed.for_field(
                    f"body.lines.{index}.tax_rate_ids", f"no tax rate {rate_id}", "not_found"
                )
            if rate.archived_at is not None:
                raise ValidationFailed.for_field(
                    f"body.lines.{index}.tax_rate_ids", f"tax rate {rate_id} is archived"
                )
    return dict(found)


async def _reprice_with_current_rates(
    conn: Connection, org_id: UUID, invoice: InvoiceRow
) -> InvoiceRow:
    """A draft's line taxes were copied when it was edited; finalization prices it again
    with the rates as they are now, share-locked so no PATCH changes one mid-finalize.
    Where every copy still matches its rate, that pricing would give the stored figures: one
    statement tells, and the usual finalize prices nothing."""
    line_count, rates_unchanged = await repository.pricing_state(conn, org_id, invoice.id)
    if not line_count:
        raise InvoiceWithoutLines("An invoice needs at least one line to be finalized.")
    if rates_unchanged:
        return invoice
    stored = await repository.get_lines(conn, org_id, invoice.id)
    inputs = [_as_input(line) for line in stored]
    wanted = sorted({tax.tax_rate_id for line in stored for tax in line.taxes})
    rates = await taxes.rates_by_ids(conn, org_id, wanted, lock=True)
    try:
        lines, totals = price_lines(inputs, dict(rates), invoice.currency)
    except MoneyError as exc:
        raise _not_priceable(exc, stored, rates) from None
    await repository.replace_lines(conn, org_id, invoice.id, lines)
    await repository.update_draft(conn, org_id, invoice.id, {}, totals)
    return await _invoice(conn, org_id, invoice.id)


def _not_priceable(
    exc: MoneyError, stored: Sequence[LineRow], rates: Mapping[UUID, taxes.TaxRateRow]
) -> InvoiceNotPriceable:
    """The draft's lines were valid when saved, but the tax rates as they are now (edited
    since) break a money rule: a 409 naming the line and the rates it uses now."""
    field = money_error_field(exc, "lines")
    extra: dict[str, Any] = {"errors": [{"field": field, "message": str(exc), "type": "money"}]}
    detail = f"The draft cannot be priced with the tax rates as they are now: {exc}."
    if exc.line is not None:
        used = [rates[tax.tax_rate_id] for tax in stored[exc.line].taxes]
        extra["line"] = exc.line
        extra["tax_rates"] = [
            {"id": str(rate.id), "percentage": f"{rate.percentage:f}", "inclusive": rate.inclusive}
            for rate in used
        ]
        detail = (
            f"Line {exc.line} cannot be priced with its tax rates as they are now ({exc}); "
            "edit the line or the rates, then finalize again."
        )
    return InvoiceNotPriceable(detail, extra=extra)


def _totals_of(invoice: InvoiceRow) -> Totals:
    return Totals(
        invoice.subtotal, invoice.tax_total, invoice.total, invoice.amount_paid, invoice.amount_due
    )


def _as_input(line: LineRow) -> LineInput:
    discount: dict[str, object] | None = None
    if line.discount_percent is not None:
        discount = {"percent": decimal_text(line.discount_percent)}
    elif line.discount_fixed is not None:
        discount = {"amount": line.discount_fixed}
    return LineInput.model_validate(
        {
            "description": line.description,
            "quantity": decimal_text(line.quantity),
            "unit_amount": line.unit_amount,
            "discount": discount,
            "tax_rate_ids": [tax.tax_rate_id for tax in line.taxes],
        }
    )


def org_snapshot(org: orgs.OrgRow) -> dict[str, Any]:
    """The seller as the invoice was issued: what the PDF and the e-invoice show."""
    return {
        "name": org.name,
        "address": org.address,
        "tax_id": org.tax_id,
        "legal_name": org.legal_name,
        "postal_address": org.postal_address,
        "vat_id": org.vat_id,
        "legal_registration_id": org.legal_registration_id,
        "contact": org.contact,
        "payment_account": org.payment_account,
    }


def customer_snapshot(customer: customers.CustomerRow) -> dict[str, Any]:
    return {
        "name": customer.name,
        "email": customer.email,
        "billing_address": customer.billing_address,
        "tax_id": customer.tax_id,
        "postal_address": customer.postal_address,
        "vat_id": customer.vat_id,
        "buyer_reference": customer.buyer_reference,
    }


# --- what the routes answer -----------------------------------------------------------------


async def get_json(conn: Connection, access: OrgAccess, invoice_id: UUID) -> tuple[int, bytes]:
    """(version, the invoice as the API's JSON), built by the database in one statement."""
    found = await json_repository.invoice_json(conn, access.org_id, invoice_id)
    if found is None:
        raise NotFound("No invoice with this id.")
    return found


async def read_json(read: OneStatementRead, invoice_id: UUID) -> tuple[int, bytes]:
    """`get_json` in one statement that also checks the caller's access."""
    assert read.org_id is not None
    role, found = await json_repository.read_invoice_json(
        read.conn, read.subject, read.email, read.org_id, invoice_id
    )
    read.check(role)
    if found is None:
        raise NotFound("No invoice with this id.")
    return found


async def read_list_json(
    read: OneStatementRead,
    filters: InvoiceFilters,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
) -> list[tuple[bytes, tuple[Any, ...]]]:
    """`list_json` in one statement that also checks the caller's access."""
    assert read.org_id is not None
    role, items = await json_repository.read_summaries_json(
        read.conn, read.subject, read.email, read.org_id, filters, limit=limit, after=after
    )
    read.check(role)
    return items


async def documented(
    conn: Connection, access: OrgAccess, invoice_id: UUID
) -> tuple[InvoiceRow, list[LineRow]]:
    """An invoice and its lines for its document; a draft has none yet (409)."""
    invoice = await _invoice(conn, access.org_id, invoice_id)
    lifecycle.require(invoice.status, Move.RENDER_DOCUMENT)
    return invoice, await repository.get_lines(conn, access.org_id, invoice.id)
