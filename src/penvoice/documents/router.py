"""Invoice documents: the PDF of one invoice and the CSV export of the invoice list."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from penvoice.db import database_of
from penvoice.documents.csv_export import InvoiceCsvExport
from penvoice.errors import Conflict
from penvoice.invoices import repository, service
from penvoice.invoices.repository import InvoiceFilters, InvoiceRow, LineRow
from penvoice.invoices.schemas import Status
from penvoice.openapi import PROBLEMS
from penvoice.tenancy.access import AsViewer, UserTransaction

router = APIRouter(tags=["documents"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]


class PdfResponse(Response):
    media_type = "application/pdf"


def _render(invoice: InvoiceRow, lines: list[LineRow]) -> bytes:
    """Off the event loop: rendering is CPU-bound (0.1-1 s). The renderer is imported on
    first use, in this worker thread: fpdf2, fontTools and Pillow add ~30 MiB and a second
    or two to a process start that most requests, and every probe, never need."""
    from penvoice.documents.pdf import render_invoice_pdf  # noqa: PLC0415

    return render_invoice_pdf(invoice, lines)


def _filename(number: str | None) -> str:
    """A prefix may hold "/" (INV/2026-): keep file names to safe characters."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", number or "invoice")


def _document(media_type: str, description: str, **schema: str) -> dict[int | str, dict[str, Any]]:
    schema = {"type": "string", **schema}
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


@router.get(
    "/orgs/{org_id}/invoices/{invoice_id}/pdf",
    summary="The invoice as an A4 PDF (open, paid, void or uncollectible; not a draft)",
    status_code=200,
    response_class=PdfResponse,
    responses={
        **_document("application/pdf", "The invoice document", format="binary"),
        **PROBLEMS(401, 404, 409, 422),
    },
)
async def invoice_pdf(
    invoice_id: InvoiceID, access: AsViewer, conn: UserTransaction
) -> PdfResponse:
    invoice = await service.get(conn, access, invoice_id)
    if invoice.status == "draft":
        raise Conflict(
            "A draft has no document yet; finalize it first.",
            extra={"status_now": invoice.status},
        )
    lines = await repository.get_lines(conn, access.org_id, invoice.id)
    body = await run_in_threadpool(_render, invoice, lines)
    return PdfResponse(
        body,
        headers={
            "Content-Disposition": f'inline; filename="{_filename(invoice.number)}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/orgs/{org_id}/invoices.csv",
    summary="Export invoices as CSV, newest first, with the list's filters (streamed)",
    status_code=200,
    response_class=InvoiceCsvExport,
    responses={
        **_document(
            "text/csv",
            "Header row, then one row per invoice; amounts are decimals in major units",
        ),
        **PROBLEMS(401, 404, 422),
    },
)
async def export_invoices_csv(
    request: Request,
    access: AsViewer,
    status: Status | None = None,
    customer_id: UUID | None = None,
    overdue: Annotated[bool | None, Query(description="Open and past due.")] = None,
    issue_date_from: date | None = None,
    issue_date_to: date | None = None,
    number: Annotated[str | None, Query(max_length=40)] = None,
) -> InvoiceCsvExport:
    filters = InvoiceFilters(status, customer_id, overdue, issue_date_from, issue_date_to, number)
    return InvoiceCsvExport(database_of(request), access.principal, access.org_id, filters)
