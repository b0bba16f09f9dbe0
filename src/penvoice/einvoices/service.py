"""E-invoice rules: which invoice data an EN 16931 document is built from, the readiness
check, and the export (a 409 problem, never a wrong file, when the invoice cannot be one).

A draft is checked against the organisation, customer and tax rates as they are now (what
finalization would snapshot); a finalized invoice against its snapshots and the taxes its
lines were priced with, which is what its e-invoice carries.
"""

from __future__ import annotations

import dataclasses
from typing import Literal
from uuid import UUID

from penvoice.customers import repository as customers
from penvoice.db import Connection
from penvoice.einvoices.build import build
from penvoice.einvoices.model import EDocument
from penvoice.einvoices.rules import MAX_DIGITS, Violation, check
from penvoice.errors import Conflict, DocumentNotAvailable, NotFound
from penvoice.invoices import repository as invoices
from penvoice.invoices import service as invoice_rules
from penvoice.invoices.lifecycle import Status
from penvoice.invoices.repository import InvoiceRow, LineRow
from penvoice.money import minor_digits
from penvoice.orgs import repository as orgs
from penvoice.taxes import repository as taxes
from penvoice.tenancy.access import OrgAccess

Format = Literal["cii", "ubl"]
MEDIA_TYPE = "application/xml"


class CurrencyNotExpressible(Conflict):
    slug = "e-invoice-currency-not-expressible"
    title = "Currency not expressible in EN 16931"


class NotReady(Conflict):
    slug = "e-invoice-not-ready"
    title = "The invoice breaks EN 16931 rules"


async def document(conn: Connection, access: OrgAccess, invoice_id: UUID) -> EDocument:
    invoice = await invoices.get_invoice(conn, access.org_id, invoice_id)
    if invoice is None:
        raise NotFound("No invoice with this id.")
    lines = await invoices.get_lines(conn, access.org_id, invoice_id)
    return await document_of(conn, access.org_id, invoice, lines)


async def expressible(
    conn: Connection, org_id: UUID, invoice: InvoiceRow, lines: list[LineRow]
) -> EDocument | None:
    """The finalized invoice's EN 16931 model when an e-invoice can be made of it (the PDF
    then embeds it), else None."""
    if invoice.status == Status.DRAFT:
        return None
    doc = await document_of(conn, org_id, invoice, lines)
    return None if check(doc) else doc


async def factur_x_xml(
    conn: Connection, org_id: UUID, invoice: InvoiceRow, lines: list[LineRow]
) -> bytes | None:
    """The CII XML the invoice's PDF (and the email sending it) embeds as Factur-X, or None
    when no e-invoice can be made of it (a draft, or rules it breaks: the PDF is then a plain
    one, and the mail carries the PDF only). The organisation is entered already."""
    doc = await expressible(conn, org_id, invoice, lines)
    return None if doc is None else render(doc, "cii")


async def document_of(
    conn: Connection, org_id: UUID, invoice: InvoiceRow, lines: list[LineRow]
) -> EDocument:
    seller, buyer = invoice.org_snapshot, invoice.customer_snapshot
    if invoice.status == Status.DRAFT:
        org = await orgs.get_org(conn, org_id)
        customer = await customers.get_customer(conn, org_id, invoice.customer_id)
        assert org is not None
        assert customer is not None
        seller = invoice_rules.org_snapshot(org)
        buyer = invoice_rules.customer_snapshot(customer)
        wanted = sorted({tax.tax_rate_id for line in lines for tax in line.taxes})
        rates = await taxes.rates_by_ids(conn, org_id, wanted)
        lines = [
            dataclasses.replace(
                line,
                taxes=tuple(
                    dataclasses.replace(
                        tax,
                        vat_category=rates[tax.tax_rate_id].vat_category,
                        exemption_reason=rates[tax.tax_rate_id].exemption_reason,
                        exemption_code=rates[tax.tax_rate_id].exemption_code,
                    )
                    for tax in line.taxes
                ),
            )
            for line in lines
        ]
    ids = {"org_id": str(org_id)}
    return build(invoice, lines, seller, buyer, ids)


async def readiness(conn: Connection, access: OrgAccess, invoice_id: UUID) -> list[Violation]:
    return check(await document(conn, access, invoice_id))


def render(doc: EDocument, format_: Format) -> bytes:
    """The document in `format_`, or a 409 problem naming why it cannot be one."""
    digits = minor_digits(doc.currency)
    if digits > MAX_DIGITS:
        raise CurrencyNotExpressible(
            f"{doc.currency} has {digits} minor digits, but EN 16931 amounts have at most two "
            "decimals; an e-invoice cannot state this invoice's amounts exactly.",
            extra={"currency": doc.currency, "minor_digits": digits},
        )
    violations = check(doc)
    if violations:
        raise NotReady(
            f"The invoice breaks {len(violations)} EN 16931 rule(s); see `violations` "
            "(the readiness route lists the same).",
            extra={"violations": [dataclasses.asdict(v) for v in violations]},
        )
    # Imported on first use: lxml is not needed by the requests most processes serve.
    from penvoice.einvoices import cii, ubl  # noqa: PLC0415

    return cii.render(doc) if format_ == "cii" else ubl.render(doc)


async def export(
    conn: Connection, access: OrgAccess, invoice_id: UUID, format_: Format
) -> tuple[str, bytes]:
    """(the invoice's number, its e-invoice) of a finalized invoice."""
    doc = await document(conn, access, invoice_id)
    if not doc.number:
        raise DocumentNotAvailable(
            "A draft has no e-invoice yet; finalize it first.", extra={"status_now": "draft"}
        )
    return doc.number, render(doc, format_)
