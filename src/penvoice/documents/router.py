"""Invoice documents: the PDF of one invoice and the CSV export of the invoice list."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from penvoice.db import RETRY_AFTER_SECONDS, database_of
from penvoice.documents.csv_export import InvoiceCsvExport
from penvoice.documents.labels import INVOICE_LABELS, Labels
from penvoice.einvoices import service as einvoices
from penvoice.einvoices.model import EDocument
from penvoice.errors import Conflict, ServiceUnavailable
from penvoice.invoices import service
from penvoice.invoices.filters import FilterQuery
from penvoice.invoices.service import InvoiceRow, LineRow
from penvoice.openapi import PROBLEMS
from penvoice.tenancy.access import AsViewer, UserTransaction

router = APIRouter(tags=["documents"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]

RENDER_SLOTS = 1
RENDER_WAIT_SECONDS = 5.0


class PdfResponse(Response):
    media_type = "application/pdf"


def _render(
    invoice: InvoiceRow,
    lines: list[LineRow],
    e_invoice: EDocument | None,
    labels: Labels = INVOICE_LABELS,
) -> bytes:
    """Off the event loop: rendering is CPU-bound (0.1-1 s). The renderer is imported on
    first use, in this worker thread: fpdf2, fontTools and Pillow add ~30 MiB and a second
    or two to a process start that most requests, and every probe, never need.

    With `e_invoice` (the invoice passes the EN 16931 readiness check) the PDF is written as
    PDF/A-3 and carries the CII XML: a Factur-X invoice."""
    from penvoice.documents.pdf import render_invoice_pdf  # noqa: PLC0415

    if e_invoice is None:
        return render_invoice_pdf(invoice, lines, labels=labels)
    from penvoice.documents.hybrid import embed  # noqa: PLC0415

    pdf = render_invoice_pdf(invoice, lines, pdfa=True)
    return embed(pdf, einvoices.render(e_invoice, "cii"), invoice)


class RenderSlots:
    """How many PDFs one process renders at once, and how long a request waits for a turn.

    Rendering is pure Python, so the GIL runs one at a time whatever the number of threads;
    more at once only adds their memory (each holds its parsed fonts, ~30 MiB). A request
    that finds no turn in time is a 503 with `Retry-After`, like an exhausted pool."""

    def __init__(self, slots: int = RENDER_SLOTS, wait_seconds: float = RENDER_WAIT_SECONDS):
        self._turns = asyncio.Semaphore(slots)
        self._wait_seconds = wait_seconds

    async def render(
        self,
        invoice: InvoiceRow,
        lines: list[LineRow],
        e_invoice: EDocument | None = None,
        labels: Labels = INVOICE_LABELS,
    ) -> bytes:
        try:
            await asyncio.wait_for(self._turns.acquire(), self._wait_seconds)
        except TimeoutError:
            raise ServiceUnavailable(
                "Too many documents are being rendered right now; retry shortly.",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            ) from None
        try:
            return await run_in_threadpool(_render, invoice, lines, e_invoice, labels)
        finally:
            self._turns.release()


def render_slots_of(app: Any) -> RenderSlots:
    slots: RenderSlots = app.state.render_slots
    return slots


class InvoicePdf(Response):
    """Rendered when the response is sent, that is after the handler returned and the
    request's transaction committed: the pooled connection is back in the pool while the CPU
    works (at 10 PDFs/s, holding it exhausted the pool). A 503 from the render slots is
    raised before anything is sent, so it is still a problem+json response."""

    def __init__(
        self,
        invoice: InvoiceRow,
        lines: list[LineRow],
        e_invoice: EDocument | None = None,
        labels: Labels = INVOICE_LABELS,
    ) -> None:
        super().__init__(media_type=PdfResponse.media_type)
        self._invoice, self._lines, self._e_invoice = invoice, lines, e_invoice
        self._labels = labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slots = render_slots_of(scope["app"])
        body = await slots.render(self._invoice, self._lines, self._e_invoice, self._labels)
        name = _filename(self._invoice.number)
        headers = {
            "Content-Disposition": f'inline; filename="{name}.pdf"',
            "Cache-Control": "private, no-store",
        }
        await PdfResponse(body, headers=headers)(scope, receive, send)


def _filename(number: str | None) -> str:
    """A prefix may hold "/" (INV/2026-): keep file names to safe characters."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", number or "invoice")


def _document(media_type: str, description: str, **schema: str) -> dict[int | str, dict[str, Any]]:
    schema = {"type": "string", **schema}
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


@router.get(
    "/orgs/{org_id}/invoices/{invoice_id}/pdf",
    summary="The invoice as an A4 PDF (Factur-X PDF/A-3 with its CII when EN 16931-ready)",
    status_code=200,
    response_class=PdfResponse,
    responses={
        **_document("application/pdf", "The invoice document", format="binary"),
        **PROBLEMS(401, 404, 409, 422),
    },
)
async def invoice_pdf(invoice_id: InvoiceID, access: AsViewer, conn: UserTransaction) -> InvoicePdf:
    invoice = await service.get(conn, access, invoice_id)
    if invoice.status == "draft":
        raise Conflict(
            "A draft has no document yet; finalize it first.",
            extra={"status_now": invoice.status},
        )
    lines = await service.lines_of(conn, access, invoice)
    return InvoicePdf(invoice, lines, await einvoices.expressible(conn, access, invoice, lines))


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
) -> InvoiceCsvExport:
    return InvoiceCsvExport(database_of(request), access.principal, access.org_id, filters)
