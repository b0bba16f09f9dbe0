"""The words of each kind of document the PDF renderer writes (no fpdf2 import here: the
routes use these at start, the renderer is imported on first use)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Labels:
    """The words of one kind of document; a credit note reuses the invoice's layout."""

    name: str = "Invoice"
    title: str = "INVOICE"
    box: str = "AMOUNT DUE"
    box_note: str = "due {due_date}"
    paid: str = "Amount paid"
    due: str = "Amount due"
    due_date: str = "Due date"  # empty: no due date row


INVOICE_LABELS = Labels()


def credit_note_labels(invoice_number: str) -> Labels:
    """For a credit note shown as a document whose `amount_paid` is what it refunds and
    whose `amount_due` is what it took off the invoice's amount due."""
    return Labels(
        name="Credit note",
        title="CREDIT NOTE",
        box="CREDIT TOTAL",
        box_note=f"credits invoice {invoice_number}",
        paid="Refunded",
        due="Off the amount due",
        due_date="",
    )
