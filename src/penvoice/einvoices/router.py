"""E-invoices: the EN 16931 readiness check. Thin handlers over `einvoices.service`."""

from __future__ import annotations

import dataclasses
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path

from penvoice.einvoices import service
from penvoice.einvoices.schemas import Readiness, RuleViolation
from penvoice.openapi import PROBLEMS
from penvoice.tenancy.access import AsViewer, UserTransaction

router = APIRouter(tags=["e-invoices"])

InvoiceID = Annotated[UUID, Path(description="The invoice's id.")]
ITEM = "/orgs/{org_id}/invoices/{invoice_id}"


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
