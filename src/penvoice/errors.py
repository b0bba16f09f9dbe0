"""Errors that carry their HTTP meaning, rendered as RFC 9457 problem+json.

Every error the app produces goes through `problem_response`, so clients see one shape:
`type` (a stable URI), `title`, `status`, `detail`, and, for validation errors, `errors`
with the field at fault. Stack traces never leave the process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://penvoice.app/problems/"


class PenvoiceError(Exception):
    """Base of every expected error; subclasses fix status, type slug and title."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self) -> Response:
        return problem_response(
            self.status, self.slug, self.title, self.detail, headers=self.headers, extra=self.extra
        )


class Unauthorized(PenvoiceError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Forbidden(PenvoiceError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(PenvoiceError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(PenvoiceError):
    """A 409. Each distinct conflict is a subclass with its own `type` (docs/problems.md);
    the title stays "Conflict" for those that predate their types."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class InvalidTransition(Conflict):
    """The invoice's status does not allow this lifecycle move; `status_now` says why."""

    slug = "invalid-transition"


class InvoiceNotEditable(Conflict):
    """Only drafts are edited or deleted."""

    slug = "invoice-not-editable"


class InvoiceWithoutLines(Conflict):
    slug = "invoice-without-lines"


class InvoiceHasPayments(Conflict):
    """Void needs nothing paid."""

    slug = "invoice-has-payments"


class InvoiceNotPriceable(Conflict):
    """A draft's line cannot be priced with its tax rates as they are now."""

    slug = "invoice-not-priceable"
    title = "Invoice cannot be priced"


class InvoiceNumbersExhausted(Conflict):
    slug = "invoice-numbers-exhausted"
    title = "Invoice numbers exhausted"


class InvoiceNotPayable(Conflict):
    """Payments are recorded on open or uncollectible invoices only."""

    slug = "invoice-not-payable"


class PaymentsFrozen(Conflict):
    """A void invoice's payments cannot change."""

    slug = "payments-frozen"


class DocumentNotAvailable(Conflict):
    """A draft has no PDF yet."""

    slug = "document-not-available"


class TaxRateFrozen(Conflict):
    """A finalized invoice uses the rate: its percentage and inclusive flag are fixed."""

    slug = "tax-rate-frozen"


class TaxRateUsed(Conflict):
    """An invoice line uses the rate: archive it instead of deleting it."""

    slug = "tax-rate-in-use"


class CustomerEmailTaken(Conflict):
    slug = "customer-email-taken"


class CustomerHasInvoices(Conflict):
    """A customer with invoices is archived, never deleted."""

    slug = "customer-invoiced"


class LastOwner(Conflict):
    """An organisation keeps at least one owner."""

    slug = "last-owner"


class InvitationPending(Conflict):
    slug = "invitation-pending"
    title = "Invitation already pending"


class InvitationAccepted(Conflict):
    slug = "invitation-accepted"


class AlreadyMember(Conflict):
    slug = "already-member"


class InvoiceHasCredits(Conflict):
    """Voiding an invoice that credit notes already reduced (credit the rest instead)."""

    slug = "invoice-has-credits"


class PaymentRefunded(Conflict):
    """Deleting a payment that a credit note has refunded."""

    slug = "payment-refunded"
    title = "Payment refunded"


class InvoiceNotCreditable(Conflict):
    """Crediting a draft or a void invoice."""

    slug = "invoice-not-creditable"
    title = "This invoice cannot be credited"


class NothingToCredit(Conflict):
    """Every line of the invoice is credited already."""

    slug = "nothing-to-credit"
    title = "Nothing left to credit"


class RefundExceedsPaid(Conflict):
    """A credit note whose refund would exceed what was paid (less earlier refunds)."""

    slug = "refund-exceeds-paid"
    title = "Refund exceeds what was paid"


class InvoiceNotSendable(Conflict):
    """Sending an invoice that has no document to send (a draft) or is void."""

    slug = "invoice-not-sendable"
    title = "This invoice cannot be sent"


class IdempotencyKeyInUse(Conflict):
    """A request with the same Idempotency-Key is still in flight."""

    slug = "idempotency-key-in-use"


class PreconditionFailed(PenvoiceError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class ValidationFailed(PenvoiceError):
    status = 422
    slug = "validation-error"
    title = "Validation failed"

    @classmethod
    def for_field(cls, field: str, message: str, kind: str = "value_error") -> ValidationFailed:
        """One field at fault, in the same `errors` shape as request validation."""
        return cls(
            f"{field}: {message}.",
            extra={"errors": [{"field": field, "message": message, "type": kind}]},
        )


class ServiceUnavailable(PenvoiceError):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra or {})
    return Response(
        content=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )
