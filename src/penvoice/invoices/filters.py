"""The invoice filters as query parameters: one set for the list and the CSV export."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query

from penvoice.invoices.repository import InvoiceFilters
from penvoice.invoices.schemas import Status


def _invoice_filters(
    status: Status | None = None,
    customer_id: UUID | None = None,
    overdue: Annotated[bool | None, Query(description="Open and past due.")] = None,
    issue_date_from: date | None = None,
    issue_date_to: date | None = None,
    number: Annotated[str | None, Query(max_length=40)] = None,
) -> InvoiceFilters:
    return InvoiceFilters(status, customer_id, overdue, issue_date_from, issue_date_to, number)


FilterQuery = Annotated[InvoiceFilters, Depends(_invoice_filters)]
