"""E-invoices: the EN 16931 readiness check and the CII / UBL export. Thin handlers over
`einvoices.service`."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from penvoice.documents.render import safe_filename
from penvoice.einvoices import service
from penvoice.einvoices.schemas import Readiness, RuleViolation
from penvoice.openapi import PROBLEMS
from penvoice.tenancy.access import AsViewer, UserTransaction

router = APIRouter(tags=["e-invoices"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]
FormatQuery = Annotated[
    service.Format,
    Query(
        alias="format",
        description="cii (default): UN/CEFACT CII, Factur-X / ZUGFeRD EN 16931 profile; "
        "ubl: UBL 2.1, Peppol BIS Billing 3.0.",
    ),
]
ITEM = "/orgs/{org_id}/invoices/{invoice_id}"


class XmlResponse(Response):
    media_type = service.MEDIA_TYPE


@router.get(
    ITEM + "/e-invoice/readiness",
    summary="The EN 16931 rules the invoice would break (empty: ready to send)",
    response_model=Readiness,
    responses=PROBLEMS(401, 404, 422),
)
async def readiness(invoice_id: InvoiceID, access: AsViewer, conn: UserTransaction) -> Readiness:
    violations = await service.readiness(conn, access, invoice_id)
    return Readiness(
        ready=not violations,
        violations=[RuleViolation(**dataclasses.asdict(v)) for v in violations],
    )


def _xml_document() -> dict[int | str, dict[str, Any]]:
    schema = {"type": "string"}
    return {
        200: {"description": "The e-invoice", "content": {service.MEDIA_TYPE: {"schema": schema}}}
    }


@router.get(
    ITEM + "/e-invoice",
    summary="The finalized invoice as an EN 16931 e-invoice (CII or UBL)",
    status_code=200,
    response_class=XmlResponse,
    responses={**_xml_document(), **PROBLEMS(401, 404, 409, 422)},
)
async def e_invoice(
    invoice_id: InvoiceID, access: AsViewer, conn: UserTransaction, format_: FormatQuery = "cii"
) -> XmlResponse:
    number, body = await service.export(conn, access, invoice_id, format_)
    name = safe_filename(number)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}-{format_}.xml"',
        "Cache-Control": "private, no-store",
    }
    return XmlResponse(body, headers=headers)
