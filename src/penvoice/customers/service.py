"""Customer rules: unique emails, archive instead of delete once invoiced, the event trail."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from penvoice import quotas
from penvoice.archivable.service import append_change_events, changed_fields
from penvoice.concurrency import check_version
from penvoice.customers import repository
from penvoice.customers.repository import CustomerInvoiced, EmailTaken
from penvoice.customers.repository import CustomerRow as CustomerRow  # the routes' row type
from penvoice.customers.schemas import CustomerCreate, CustomerUpdate
from penvoice.db import Connection
from penvoice.errors import CustomerEmailTaken, CustomerHasInvoices, NotFound
from penvoice.events import repository as events
from penvoice.tenancy.access import OrgAccess

NULLABLE = frozenset({"email", "currency", "postal_address"})


def _email_taken(email: str | None) -> CustomerEmailTaken:
    message = "another customer of this organisation has this email"
    return CustomerEmailTaken(
        f"Another customer already uses {email}; emails are unique per organisation.",
        extra={"errors": [{"field": "body.email", "message": message, "type": "duplicate"}]},
    )


async def create_customer(conn: Connection, access: OrgAccess, body: CustomerCreate) -> CustomerRow:
    await quotas.check_new_customer(conn, access.org_id)
    try:
        customer = await repository.insert_customer(conn, access.org_id, body.model_dump())
    except EmailTaken:
        raise _email_taken(body.email) from None
    await events.append(
        conn,
        access.org_id,
        "customer.created",
        access.actor,
        ("customer", customer.id),
        {"name": customer.name, "email": customer.email},
    )
    return customer


async def get_customer(conn: Connection, access: OrgAccess, customer_id: UUID) -> CustomerRow:
    return await _customer(conn, access.org_id, customer_id)


async def list_customers(
    conn: Connection,
    access: OrgAccess,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
    archived: bool,
    email: str | None,
    q: str | None,
) -> list[CustomerRow]:
    return await repository.list_customers(
        conn,
        access.org_id,
        limit=limit,
        after=after,
        archived=archived,
        email=email,
        name_contains=q,
    )


async def update_customer(
    conn: Connection,
    access: OrgAccess,
    customer_id: UUID,
    body: CustomerUpdate,
    expected_version: int | None,
) -> CustomerRow:
    """Only real changes bump the version and make events; sending current values is a no-op."""
    current = await _customer(conn, access.org_id, customer_id, for_update=True)
    check_version(expected_version, current.version, "customer")
    changes = changed_fields(body, current, nullable=NULLABLE)
    if not changes:
        return current
    try:
        updated = await repository.update_customer(conn, access.org_id, customer_id, changes)
    except EmailTaken:
        raise _email_taken(changes.get("email")) from None
    await append_change_events(conn, access, ("customer", customer_id), changes)
    return updated


async def delete_customer(
    conn: Connection, access: OrgAccess, customer_id: UUID, expected_version: int | None
) -> None:
    """Only customers never invoiced; the row lock keeps a concurrent invoice from slipping in."""
    current = await _customer(conn, access.org_id, customer_id, for_update=True)
    check_version(expected_version, current.version, "customer")
    invoiced = CustomerHasInvoices(
        "This customer has invoices and cannot be deleted; archive it instead "
        '(PATCH with {"archived": true}).'
    )
    if await repository.is_invoiced(conn, access.org_id, customer_id):
        raise invoiced
    try:
        await repository.delete_customer(conn, access.org_id, customer_id)
    except CustomerInvoiced:
        raise invoiced from None
    await events.append(
        conn,
        access.org_id,
        "customer.deleted",
        access.actor,
        ("customer", customer_id),
        {"name": current.name, "email": current.email},
    )


async def _customer(
    conn: Connection, org_id: UUID, customer_id: UUID, *, for_update: bool = False
) -> CustomerRow:
    customer = await repository.get_customer(conn, org_id, customer_id, for_update=for_update)
    if customer is None:
        raise NotFound("No customer with this id.")
    return customer
