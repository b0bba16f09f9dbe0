"""The EN 16931 model of an invoice from its stored rows and party snapshots (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from penvoice.einvoices.model import EDocument, account, doc_line, party, vat
from penvoice.invoices.repository import InvoiceRow, LineRow


def build(
    invoice: InvoiceRow,
    lines: Sequence[LineRow],
    seller: Mapping[str, Any] | None,
    buyer: Mapping[str, Any] | None,
    ids: Mapping[str, str],
) -> EDocument:
    doc_lines = tuple(
        doc_line(
            line.position,
            line.description,
            line.quantity,
            line.unit_amount,
            line.discount_amount,
            line.net,
            [
                (
                    vat(
                        tax.vat_category,
                        tax.percentage,
                        tax.exemption_reason,
                        tax.exemption_code,
                        str(tax.tax_rate_id),
                    ),
                    tax.inclusive,
                    tax.amount,
                )
                for tax in line.taxes
            ],
        )
        for line in lines
    )
    line_total = sum(line.net for line in doc_lines)
    buyer_reference = invoice.buyer_reference or str((buyer or {}).get("buyer_reference") or "")
    period = None
    if invoice.period_start is not None and invoice.period_end is not None:
        period = (invoice.period_start, invoice.period_end)
    return EDocument(
        kind="invoice",
        number=invoice.number or "",
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        currency=invoice.currency,
        note=invoice.memo,
        buyer_reference=buyer_reference,
        order_reference=invoice.purchase_order_reference,
        supply_date=invoice.supply_date,
        period=period,
        seller=party(seller, seller=True),
        buyer=party(buyer, seller=False),
        account=account(seller),
        lines=doc_lines,
        line_total=line_total,
        tax_total=invoice.total - line_total,
        grand_total=invoice.total,
        prepaid=invoice.amount_paid,
        # The invoice as issued, less what was paid (BR-CO-16): credit notes that later took
        # something off the amount due are documents of their own.
        due=invoice.total - invoice.amount_paid,
        preceding=None,
        ids={
            "org_id": ids.get("org_id", ""),
            "customer_id": str(invoice.customer_id),
            "invoice_id": str(invoice.id),
        },
    )
