"""Quotas: how much one user and one organisation may store (issue 17).

Anyone with a login can create organisations, so each stored volume has a bound, a setting
with a safe default, and its own problem type. A check runs inside the request's transaction
before anything is written, so a refused request writes nothing (and a request that would
pass the bound only at commit is rolled back whole, its Idempotency-Key unused).

- organisations a user owns: QUOTA_ORGS_PER_USER (10), 409 org-quota-exceeded;
- invoices per organisation, drafts included: QUOTA_INVOICES_PER_ORG (50,000), 409
  invoice-quota-exceeded;
- lines per invoice: QUOTA_LINES_PER_INVOICE (250), 422 line-quota-exceeded; lines per
  organisation: QUOTA_LINES_PER_ORG (500,000), 409 line-quota-exceeded;
- payments per invoice, deleted ones included (they stay stored): QUOTA_PAYMENTS_PER_INVOICE
  (100), 409 payment-quota-exceeded;
- responses kept for Idempotency-Keys per user (48 h each): QUOTA_IDEMPOTENCY_KEYS_PER_USER
  (5,000) and QUOTA_IDEMPOTENCY_BYTES_PER_USER (64 MiB), 409 idempotency-quota-exceeded;
- webhook endpoints per organisation: QUOTA_WEBHOOK_ENDPOINTS_PER_ORG (20), 409
  webhook-endpoint-quota-exceeded. Each event is written once per subscribed endpoint in
  the event's own statement, so this also bounds what one write of the tenant fans out to;
- recurring schedules per organisation: QUOTA_RECURRING_SCHEDULES_PER_ORG (100), 409
  schedule-quota-exceeded. A schedule stores an invoice template (up to 250 lines, 1.5 MB);
- credit notes per invoice: QUOTA_CREDIT_NOTES_PER_INVOICE (100), 409
  credit-note-quota-exceeded (a note may credit one cent, so the invoice's total is no bound);
- open invitations per organisation, expired ones included: QUOTA_INVITATIONS_PER_ORG (100),
  409 invitation-quota-exceeded;
- tax rates per organisation, archived ones included: QUOTA_TAX_RATES_PER_ORG (1,000), 409
  tax-rate-quota-exceeded;
- customers per organisation, archived ones included: QUOTA_CUSTOMERS_PER_ORG (10,000), 409
  customer-quota-exceeded (a customer may hold 22 KB: name, address, notes, legal data).

An organisation's invoices and lines are read from its `organisation_usage` row, and a
user's kept responses from their `idempotency_usage` row, which statement-level triggers
keep exact (migrations 000025 and 000026): a check reads one row whatever the tenant
stores. The other counts are of few rows (organisations, payments, endpoints, schedules,
credit notes, invitations, tax rates; customers, up to 10,000 index entries) and
stop at their bound (`LIMIT`). The SQL is in `quotas/repository.py`; this module holds the
rules.

Two concurrent requests of one tenant may both pass a check and overshoot it by one each:
the bound is soft by at most the tenant's concurrent requests, which the pool bounds.

The quotas in force: `install_quotas(settings)` (the server does it at start) sets the
process's; `using(quotas)` overrides them for the current context (tests, other apps).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from penvoice.config import Settings
from penvoice.db import Connection
from penvoice.errors import PenvoiceError
from penvoice.quotas import repository

MIB = 1024 * 1024


class QuotaExceeded(PenvoiceError):
    status = 409
    quota: ClassVar[str] = ""

    def __init__(self, detail: str, limit: int) -> None:
        super().__init__(detail, extra={"quota": self.quota, "limit": limit})


class OrgQuotaExceeded(QuotaExceeded):
    slug = "org-quota-exceeded"
    title = "Organisation quota reached"
    quota = "orgs_per_user"


class InvoiceQuotaExceeded(QuotaExceeded):
    slug = "invoice-quota-exceeded"
    title = "Invoice quota reached"
    quota = "invoices_per_org"


class LineQuotaExceeded(QuotaExceeded):
    slug = "line-quota-exceeded"
    title = "Invoice line quota reached"
    quota = "lines_per_org"


class LinesPerInvoiceExceeded(LineQuotaExceeded):
    status = 422
    quota = "lines_per_invoice"


class PaymentQuotaExceeded(QuotaExceeded):
    slug = "payment-quota-exceeded"
    title = "Payment quota reached"
    quota = "payments_per_invoice"


class IdempotencyQuotaExceeded(QuotaExceeded):
    slug = "idempotency-quota-exceeded"
    title = "Idempotency-Key quota reached"
    quota = "idempotency_keys_per_user"


class IdempotencyBytesExceeded(IdempotencyQuotaExceeded):
    quota = "idempotency_bytes_per_user"


class WebhookEndpointQuotaExceeded(QuotaExceeded):
    slug = "webhook-endpoint-quota-exceeded"
    title = "Webhook endpoint quota reached"
    quota = "webhook_endpoints_per_org"


class ScheduleQuotaExceeded(QuotaExceeded):
    slug = "schedule-quota-exceeded"
    title = "Recurring schedule quota reached"
    quota = "recurring_schedules_per_org"


class CreditNoteQuotaExceeded(QuotaExceeded):
    slug = "credit-note-quota-exceeded"
    title = "Credit note quota reached"
    quota = "credit_notes_per_invoice"


class InvitationQuotaExceeded(QuotaExceeded):
    slug = "invitation-quota-exceeded"
    title = "Invitation quota reached"
    quota = "invitations_per_org"


class CustomerQuotaExceeded(QuotaExceeded):
    slug = "customer-quota-exceeded"
    title = "Customer quota reached"
    quota = "customers_per_org"


class TaxRateQuotaExceeded(QuotaExceeded):
    slug = "tax-rate-quota-exceeded"
    title = "Tax rate quota reached"
    quota = "tax_rates_per_org"


@dataclass(frozen=True)
class Quotas:  # the defaults: Settings' QUOTA_* defaults are these
    orgs_per_user: int = 10
    invoices_per_org: int = 50_000
    lines_per_invoice: int = 250
    lines_per_org: int = 500_000
    payments_per_invoice: int = 100
    idempotency_keys_per_user: int = 5_000
    idempotency_bytes_per_user: int = 64 * MIB
    webhook_endpoints_per_org: int = 20
    recurring_schedules_per_org: int = 100
    credit_notes_per_invoice: int = 100
    invitations_per_org: int = 100
    tax_rates_per_org: int = 1_000
    customers_per_org: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings) -> Quotas:
        return cls(
            orgs_per_user=settings.quota_orgs_per_user,
            invoices_per_org=settings.quota_invoices_per_org,
            lines_per_invoice=settings.quota_lines_per_invoice,
            lines_per_org=settings.quota_lines_per_org,
            payments_per_invoice=settings.quota_payments_per_invoice,
            idempotency_keys_per_user=settings.quota_idempotency_keys_per_user,
            idempotency_bytes_per_user=settings.quota_idempotency_bytes_per_user,
            webhook_endpoints_per_org=settings.quota_webhook_endpoints_per_org,
            recurring_schedules_per_org=settings.quota_recurring_schedules_per_org,
            credit_notes_per_invoice=settings.quota_credit_notes_per_invoice,
            invitations_per_org=settings.quota_invitations_per_org,
            tax_rates_per_org=settings.quota_tax_rates_per_org,
            customers_per_org=settings.quota_customers_per_org,
        )


DEFAULT_QUOTAS = Quotas()
_installed = DEFAULT_QUOTAS
_current: ContextVar[Quotas | None] = ContextVar("penvoice_quotas", default=None)


def install_quotas(quotas: Quotas) -> None:
    """The process's quotas (`Quotas.from_settings(settings)`)."""
    global _installed  # noqa: PLW0603 - one process, one configuration
    _installed = quotas


def current() -> Quotas:
    return _current.get() or _installed


@contextmanager
def using(quotas: Quotas) -> Iterator[None]:
    token = _current.set(quotas)
    try:
        yield
    finally:
        _current.reset(token)


async def check_new_org(conn: Connection, subject: str) -> None:
    """Before a user creates an organisation: the ones they own."""
    limit = current().orgs_per_user
    owned = await repository.owned_orgs(conn, subject, limit)
    if owned >= limit:
        raise OrgQuotaExceeded(f"You own {limit} organisations, the most one user may.", limit)


async def check_new_invoice(conn: Connection, org_id: UUID, new_lines: int) -> None:
    """Before a draft is created: invoices and lines of the organisation, lines of the draft."""
    check_lines_per_invoice(new_lines)
    quotas = current()
    invoices, lines = await repository.organisation_usage(conn, org_id)
    if invoices >= quotas.invoices_per_org:
        raise InvoiceQuotaExceeded(
            f"This organisation has {quotas.invoices_per_org} invoices, the most it may store.",
            quotas.invoices_per_org,
        )
    _check_lines_per_org(stored=lines, new_lines=new_lines, replaced=0)


def check_lines_per_invoice(new_lines: int) -> None:
    limit = current().lines_per_invoice
    if new_lines > limit:
        raise LinesPerInvoiceExceeded(f"An invoice may have at most {limit} lines.", limit)


async def check_new_lines(conn: Connection, org_id: UUID, invoice_id: UUID, new_lines: int) -> None:
    """Before a draft's lines are replaced by `new_lines` lines."""
    check_lines_per_invoice(new_lines)
    replaced, stored = await repository.lines_of_draft_and_org(conn, org_id, invoice_id)
    _check_lines_per_org(stored=stored, new_lines=new_lines, replaced=replaced)


def _check_lines_per_org(stored: int, new_lines: int, replaced: int) -> None:
    """`new_lines` are about to replace `replaced` of the organisation's `stored` lines."""
    limit = current().lines_per_org
    if new_lines > replaced and stored - replaced + new_lines > limit:
        raise LineQuotaExceeded(
            f"This organisation would store over {limit} invoice lines, the most it may.", limit
        )


async def check_new_payment(conn: Connection, org_id: UUID, invoice_id: UUID) -> None:
    """Before a payment is recorded: every payment of the invoice, deleted ones included."""
    limit = current().payments_per_invoice
    recorded = await repository.payments_recorded(conn, org_id, invoice_id, limit)
    if recorded >= limit:
        raise PaymentQuotaExceeded(
            f"This invoice has {limit} payments recorded (deleted ones included), the most "
            "one invoice may.",
            limit,
        )


async def check_new_idempotent_response(conn: Connection, subject: str, size: int) -> None:
    """Before a response is kept for its Idempotency-Key: the user's stored responses."""
    quotas = current()
    responses, stored = await repository.idempotency_usage(conn, subject)
    if responses >= quotas.idempotency_keys_per_user:
        raise IdempotencyQuotaExceeded(
            f"You have {quotas.idempotency_keys_per_user} responses kept for Idempotency-Keys "
            "(48 hours each), the most one user may; retry later or without the header.",
            quotas.idempotency_keys_per_user,
        )
    if stored + size > quotas.idempotency_bytes_per_user:
        raise IdempotencyBytesExceeded(
            f"Your responses kept for Idempotency-Keys would exceed "
            f"{quotas.idempotency_bytes_per_user} bytes; retry later or without the header.",
            quotas.idempotency_bytes_per_user,
        )


async def check_new_webhook_endpoint(conn: Connection, org_id: UUID) -> None:
    """Before an endpoint is registered: the organisation's endpoints, disabled ones too."""
    limit = current().webhook_endpoints_per_org
    if await repository.webhook_endpoints(conn, org_id, limit) >= limit:
        raise WebhookEndpointQuotaExceeded(
            f"This organisation has {limit} webhook endpoints, the most it may.", limit
        )


async def check_new_schedule(conn: Connection, org_id: UUID) -> None:
    """Before a recurring schedule is created: the organisation's schedules, ended ones too."""
    limit = current().recurring_schedules_per_org
    if await repository.recurring_schedules(conn, org_id, limit) >= limit:
        raise ScheduleQuotaExceeded(
            f"This organisation has {limit} recurring schedules, the most it may.", limit
        )


async def check_new_credit_note(conn: Connection, org_id: UUID, invoice_id: UUID) -> None:
    """Before a credit note is issued: the invoice's credit notes."""
    limit = current().credit_notes_per_invoice
    if await repository.credit_notes(conn, org_id, invoice_id, limit) >= limit:
        raise CreditNoteQuotaExceeded(
            f"This invoice has {limit} credit notes, the most one invoice may.", limit
        )


async def check_new_invitation(conn: Connection, org_id: UUID) -> None:
    """Before an invitation is created: the organisation's open ones, expired ones included
    (an expired one being replaced is revoked first, so it no longer counts)."""
    limit = current().invitations_per_org
    if await repository.open_invitations(conn, org_id, limit) >= limit:
        raise InvitationQuotaExceeded(
            f"This organisation has {limit} open invitations, the most it may; revoke some.",
            limit,
        )


async def check_new_tax_rate(conn: Connection, org_id: UUID) -> None:
    """Before a tax rate is created: the organisation's rates, archived ones included."""
    limit = current().tax_rates_per_org
    if await repository.tax_rates(conn, org_id, limit) >= limit:
        raise TaxRateQuotaExceeded(
            f"This organisation has {limit} tax rates (archived ones included), the most it may.",
            limit,
        )


async def check_new_customer(conn: Connection, org_id: UUID) -> None:
    """Before a customer is created: the organisation's customers, archived ones included."""
    limit = current().customers_per_org
    if await repository.customers(conn, org_id, limit) >= limit:
        raise CustomerQuotaExceeded(
            f"This organisation has {limit} customers (archived ones included), the most it may.",
            limit,
        )
