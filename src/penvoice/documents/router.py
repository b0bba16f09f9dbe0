"""Invoice documents: the PDF of one invoice and the CSV export of the invoice list."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request

from penvoice.db import database_of
from penvoice.documents.csv_export import InvoiceCsvExport
from penvoice.documents.render import InvoicePdf
from penvoice.einvoices import service as einvoices
from penvoice.invoices import service
from penvoice.invoices.filters import FilterQuery
from penvoice.openapi import PROBLEMS
from penvoice.tenancy.access import AsViewer, UserTransaction

router = APIRouter(tags=["documents"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]


def _document(media_type: str, description: str, **schema: str) -> dict[int | str, dict[str, Any]]:
    schema = {"type": "string", **schema}
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


@router.get(
    "/orgs/{org_id}/invoices/{invoice_id}/pdf",
    summary="The invoice as an A4 PDF (Factur-X PDF/A-3 with its CII when EN 16931-ready)",
    status_code=200,
    response_class=InvoicePdf,
    responses={
        **_document("application/pdf", "The invoice document", format="binary"),
        304: {"description": "Not modified: `If-None-Match` holds this version's `ETag`"},
        **PROBLEMS(401, 404, 409, 422),
    },
)
async def invoice_pdf(invoice_id: InvoiceID, access: AsViewer, conn: UserTransaction) -> InvoicePdf:
    invoice, lines = await service.documented(conn, access, invoice_id)
    return InvoicePdf(
        invoice, lines, await einvoices.factur_x_xml(conn, access.org_id, invoice, lines)
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
    filters: FilterQuery,
    raw: Annotated[
        bool,
        Query(
            description="Values verbatim. By default a text cell that a spreadsheet would "
            "run as a formula (starting with = + - @, tab, CR or LF) is prefixed with '."
        ),
    ] = False,
) -> InvoiceCsvExport:
    return InvoiceCsvExport(database_of(request), access.principal, access.org_id, filters, raw=raw)
