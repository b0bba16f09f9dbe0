"""An invoice's field lists agree: the stored row, the API model and the list item."""

from __future__ import annotations

from dataclasses import fields

from penvoice.invoices.repository import InvoiceRow
from penvoice.invoices.schemas import Invoice, InvoiceSummary


def test_the_api_invoice_is_the_stored_row_plus_its_lines() -> None:
    stored = {field.name for field in fields(InvoiceRow)}
    period = {"period_start", "period_end"}  # shown as one object, `service_period`
    assert set(Invoice.model_fields) == stored - period | {"lines", "service_period"}


def test_a_list_item_shows_invoice_fields_with_the_same_types_in_the_same_order() -> None:
    summary = InvoiceSummary.model_fields
    full = Invoice.model_fields
    assert [name for name in full if name in summary] == list(summary)
    for name, field in summary.items():
        assert field.annotation == full[name].annotation, name
