"""Tax-rate rules: frozen once a finalized invoice uses them, deletable only while unused."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from penvoice import quotas
from penvoice.archivable.service import append_change_events, changed_fields
from penvoice.concurrency import check_version
from penvoice.db import Connection
from penvoice.errors import NotFound, TaxRateFrozen, TaxRateUsed, ValidationFailed
from penvoice.events import repository as events
from penvoice.legal import EXEMPT_CATEGORIES
from penvoice.taxes import repository
from penvoice.taxes.repository import TaxRateInUse
from penvoice.taxes.repository import TaxRateRow as TaxRateRow  # the routes' row type
from penvoice.taxes.schemas import TaxRateCreate, TaxRateUpdate
from penvoice.tenancy.access import OrgAccess

FROZEN_WHEN_USED = ("percentage", "inclusive")


def check_category(rate: dict[str, Any]) -> None:
    """A VAT category and what EN 16931 requires of it (BR-S-05, BR-Z-05, BR-E-05, …, and
    BR-S-10, BR-E-10, …): S above 0 %, every other category at 0 %; an exemption reason only
    where VAT is not charged at the standard or zero rate, and for E a reason or a code."""
    category, percentage = rate["vat_category"], Decimal(rate["percentage"])
    exempted = bool(rate["exemption_reason"] or rate["exemption_code"])
    if category is None:
        if exempted:
            field = "exemption_reason" if rate["exemption_reason"] else "exemption_code"
            raise ValidationFailed.for_field(f"body.{field}", "needs a vat_category")
        return
    if category == "S" and percentage <= 0:
        raise ValidationFailed.for_field(
            "body.percentage", "category S (standard rate) needs a percentage above 0"
        )
    if category != "S" and percentage != 0:
        raise ValidationFailed.for_field(
            "body.percentage", f"category {category} is charged at 0 %; use S for other rates"
        )
    if category not in EXEMPT_CATEGORIES and exempted:
        field = "exemption_reason" if rate["exemption_reason"] else "exemption_code"
        raise ValidationFailed.for_field(
            f"body.{field}", f"category {category} has no exemption reason"
        )
    if category == "E" and not exempted:
        raise ValidationFailed.for_field(
            "body.exemption_reason",
            "an exempt rate (category E) needs an exemption_reason or an exemption_code",
        )


async def create_rate(conn: Connection, access: OrgAccess, body: TaxRateCreate) -> TaxRateRow:
    check_category(body.model_dump())
    await quotas.check_new_tax_rate(conn, access.org_id)
    rate = await repository.insert_rate(conn, access.org_id, body.model_dump())
    await events.append(
        conn,
        access.org_id,
        "tax_rate.created",
        access.actor,
        ("tax_rate", rate.id),
        {
            "display_name": rate.display_name,
            "percentage": f"{rate.percentage:f}",
            "inclusive": rate.inclusive,
            "vat_category": rate.vat_category,
        },
    )
    return rate


async def get_rate(conn: Connection, access: OrgAccess, rate_id: UUID) -> TaxRateRow:
    return await _rate(conn, access.org_id, rate_id)


async def list_rates(
    conn: Connection,
    access: OrgAccess,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
    archived: bool,
) -> list[TaxRateRow]:
    return await repository.list_rates(
        conn, access.org_id, limit=limit, after=after, archived=archived
    )


async def update_rate(
    conn: Connection,
    access: OrgAccess,
    rate_id: UUID,
    body: TaxRateUpdate,
    expected_version: int | None,
) -> TaxRateRow:
    """Only real changes count: resending the current percentage of a used rate is fine."""
    current = await _rate(conn, access.org_id, rate_id, for_update=True)
    check_version(expected_version, current.version, "tax rate")
    changes = changed_fields(body, current, nullable=frozenset({"vat_category"}))
    if not changes:
        return current
    check_category({**current.__dict__, **changes})
    frozen = [name for name in FROZEN_WHEN_USED if name in changes]
    if frozen and await repository.used_by_finalized_invoice(conn, access.org_id, rate_id):
        raise TaxRateFrozen(
            f"A finalized invoice uses this tax rate, so its {' and '.join(frozen)} cannot "
            "change; archive it and create a new one."
        )
    updated = await repository.update_rate(conn, access.org_id, rate_id, changes)
    await append_change_events(conn, access, ("tax_rate", rate_id), changes)
    return updated


async def delete_rate(
    conn: Connection, access: OrgAccess, rate_id: UUID, expected_version: int | None
) -> None:
    current = await _rate(conn, access.org_id, rate_id, for_update=True)
    check_version(expected_version, current.version, "tax rate")
    in_use = TaxRateUsed(
        "An invoice line uses this tax rate, so it cannot be deleted; archive it instead "
        '(PATCH with {"archived": true}).'
    )
    if await repository.used_by_any_line(conn, access.org_id, rate_id):
        raise in_use
    try:
        await repository.delete_rate(conn, access.org_id, rate_id)
    except TaxRateInUse:
        raise in_use from None
    await events.append(
        conn,
        access.org_id,
        "tax_rate.deleted",
        access.actor,
        ("tax_rate", rate_id),
        {"display_name": current.display_name},
    )


async def _rate(
    conn: Connection, org_id: UUID, rate_id: UUID, *, for_update: bool = False
) -> TaxRateRow:
    rate = await repository.get_rate(conn, org_id, rate_id, for_update=for_update)
    if rate is None:
        raise NotFound("No tax rate with this id.")
    return rate
