"""Credit notes: issue, list, get, PDF and e-invoice. Thin handlers over
`credit_notes.service`."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from penvoice.concurrency import ExpectedVersion
from penvoice.credit_notes import service
from penvoice.credit_notes.schemas import CreditNote, CreditNoteCreate, CreditNoteLine
from penvoice.credit_notes.service import CreditLineRow
from penvoice.documents.labels import credit_note_labels
from penvoice.documents.render import InvoicePdf, safe_filename
from penvoice.einvoices import service as einvoices
from penvoice.idempotency.keys import IdempotentRequest
from penvoice.invoices.views import decimal_text
from penvoice.openapi import PROBLEMS
from penvoice.responses import created
from penvoice.tenancy.access import AsMember, AsViewer, UserTransaction

router = APIRouter(tags=["credit notes"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]
CreditNoteID = Annotated[UUID, Path(description="The credit note's id.")]
FormatQuery = Annotated[
    einvoices.Format,
    Query(alias="format", description="cii (default): CII type 381; ubl: UBL CreditNote."),
]
ITEM = "/orgs/{org_id}/credit-notes/{credit_note_id}"


def _document(media_type: str, description: str, format_: str = "") -> dict[int | str, Any]:
    schema = {"type": "string", **({"format": format_} if format_ else {})}
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


def _view(note: service.CreditNoteRow, lines: list[CreditLineRow]) -> CreditNote:
    return CreditNote(
        **{k: v for k, v in note.__dict__.items() if k != "sequence"},
        lines=[
            CreditNoteLine(
                position=line.position,
                invoice_line_id=line.invoice_line_id,
                description=line.description,
                quantity=decimal_text(line.quantity),
                unit_amount=line.unit_amount,
                discount_amount=line.discount_amount,
                net=line.net,
                tax_amount=line.tax_amount,
                total=line.total,
                taxes=[
                    {
                        "tax_rate_id": tax.tax_rate_id,
                        "display_name": tax.display_name,
                        "percentage": decimal_text(tax.percentage),
                        "inclusive": tax.inclusive,
                        "taxable_amount": tax.taxable_amount,
                        "amount": tax.amount,
                        "vat_category": tax.vat_category,
                    }
                    for tax in line.taxes
                ],
            )
            for line in lines
        ],
    )


@router.post(
    "/orgs/{org_id}/invoices/{invoice_id}/credit-notes",
    status_code=201,
    summary="Credit a finalized invoice: some or all lines, or an amount",
    response_model=CreditNote,
    responses=PROBLEMS(401, 403, 404, 409, 412, 422),
)
async def create_credit_note(
    invoice_id: InvoiceID,
    body: CreditNoteCreate,
    access: AsMember,
    conn: UserTransaction,
    key: IdempotentRequest,
    expected_version: ExpectedVersion,
) -> Response:
    note_id = await service.create(conn, access, invoice_id, body, expected_version)
    note = _view(*await service.get(conn, access, note_id))
    location = f"/v1/orgs/{access.org_id}/credit-notes/{note_id}"
    return await created(key, note, 1, location)


@router.get(
    "/orgs/{org_id}/invoices/{invoice_id}/credit-notes",
    summary="The credit notes of an invoice, oldest first",
    response_model=list[CreditNote],
    responses=PROBLEMS(401, 404, 422),
)
async def list_credit_notes(
    invoice_id: InvoiceID, access: AsViewer, conn: UserTransaction
) -> list[CreditNote]:
    return [_view(*found) for found in await service.list_for_invoice(conn, access, invoice_id)]


@router.get(
    ITEM,
    summary="Get a credit note with its lines",
    response_model=CreditNote,
    responses=PROBLEMS(401, 404, 422),
)
async def get_credit_note(
    credit_note_id: CreditNoteID, access: AsViewer, conn: UserTransaction
) -> CreditNote:
    return _view(*await service.get(conn, access, credit_note_id))


@router.get(
    ITEM + "/pdf",
    summary="The credit note as an A4 PDF",
    status_code=200,
    response_class=InvoicePdf,
    responses={
        **_document("application/pdf", "The credit note", "binary"),
        **PROBLEMS(401, 404, 422),
    },
)
async def credit_note_pdf(
    credit_note_id: CreditNoteID, access: AsViewer, conn: UserTransaction
) -> InvoicePdf:
    shaped, lines, invoice_number = await service.as_document(conn, access, credit_note_id)
    return InvoicePdf(shaped, lines, None, credit_note_labels(invoice_number))


@router.get(
    ITEM + "/e-invoice",
    summary="The credit note as an EN 16931 e-invoice (CII 381 or UBL CreditNote)",
    status_code=200,
    response_class=Response,
    responses={**_document(einvoices.MEDIA_TYPE, "The e-invoice"), **PROBLEMS(401, 404, 409, 422)},
)
async def credit_note_e_invoice(
    credit_note_id: CreditNoteID,
    access: AsViewer,
    conn: UserTransaction,
    format_: FormatQuery = "cii",
) -> Response:
    doc = await service.e_document(conn, access, credit_note_id)
    body = einvoices.render(doc, format_)
    name = safe_filename(doc.number)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}-{format_}.xml"',
        "Cache-Control": "private, no-store",
    }
    return Response(body, media_type=einvoices.MEDIA_TYPE, headers=headers)
