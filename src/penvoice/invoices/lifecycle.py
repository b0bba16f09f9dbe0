"""The invoice status machine: the one place that says which move is allowed from where,
where it leads, and which problem a refused move is.

```
draft ──finalize──▶ open ──paid in full──▶ paid ──a payment deleted──▶ open
  │                  │ ╲
  │                  │  ╲──mark uncollectible──▶ uncollectible ──paid in full──▶ paid
  │                  │                               │
  │                  └──void (nothing paid)──▶ void ◀┘ void
  └──finalize with nothing due──▶ paid
```

Only drafts are edited or deleted. A refused move is a 409 whose `type` names what was
refused and whose `status_now` says why; it changes nothing (the transaction rolls back).
`overdue` is not a status: it is derived (open and past due).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, StrEnum

from penvoice.errors import (
    Conflict,
    DocumentNotAvailable,
    InvalidTransition,
    InvoiceNotCreditable,
    InvoiceNotEditable,
    InvoiceNotPayable,
    InvoiceNotSendable,
    PaymentsFrozen,
)


class Status(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class Move(Enum):
    EDIT = "edit"
    FINALIZE = "finalize"
    VOID = "void"
    MARK_UNCOLLECTIBLE = "mark uncollectible"
    RECORD_PAYMENT = "record a payment on"
    DELETE_PAYMENT = "delete a payment of"
    RENDER_DOCUMENT = "render a document of"
    SEND = "send"
    CREDIT = "credit"


ALLOWED_FROM: dict[Move, frozenset[Status]] = {
    Move.EDIT: frozenset({Status.DRAFT}),
    Move.FINALIZE: frozenset({Status.DRAFT}),
    Move.VOID: frozenset({Status.OPEN, Status.UNCOLLECTIBLE}),
    Move.MARK_UNCOLLECTIBLE: frozenset({Status.OPEN}),
    Move.RECORD_PAYMENT: frozenset({Status.OPEN, Status.UNCOLLECTIBLE}),
    Move.DELETE_PAYMENT: frozenset({Status.OPEN, Status.PAID, Status.UNCOLLECTIBLE}),
    Move.RENDER_DOCUMENT: frozenset(set(Status) - {Status.DRAFT}),
    Move.SEND: frozenset({Status.OPEN, Status.PAID, Status.UNCOLLECTIBLE}),
    Move.CREDIT: frozenset({Status.OPEN, Status.PAID, Status.UNCOLLECTIBLE}),
}

# Where a move that sets the status outright leads.
TARGET: dict[Move, Status] = {Move.VOID: Status.VOID, Move.MARK_UNCOLLECTIBLE: Status.UNCOLLECTIBLE}


def _send_refusal(status: str) -> str:
    return f"An invoice that is {status} cannot be sent" + (
        ": finalize it first." if status == Status.DRAFT else "."
    )


# The problem a refused move is, and its sentence (from the status the invoice is in).
REFUSALS: dict[Move, tuple[type[Conflict], Callable[[str], str]]] = {
    Move.EDIT: (InvoiceNotEditable, "Only drafts can be changed; this invoice is {}.".format),
    Move.RECORD_PAYMENT: (
        InvoiceNotPayable,
        "Payments are recorded on open or uncollectible invoices; this one is {}.".format,
    ),
    Move.DELETE_PAYMENT: (PaymentsFrozen, lambda _: "Payments of a void invoice cannot change."),
    Move.RENDER_DOCUMENT: (
        DocumentNotAvailable,
        lambda _: "A draft has no document yet; finalize it first.",
    ),
    Move.SEND: (InvoiceNotSendable, _send_refusal),
    Move.CREDIT: (
        InvoiceNotCreditable,
        "Only finalized invoices that are open, paid or uncollectible can be credited; "
        "this one is {}.".format,
    ),
}


def _refusal(move: Move, status: str) -> Conflict:
    problem, sentence = REFUSALS.get(
        move, (InvalidTransition, lambda now: f"Cannot {move.value} an invoice that is {now}.")
    )
    refusal: Conflict = problem(sentence(status), extra={"status_now": status})
    return refusal


def require(status: str, move: Move) -> Status:
    """The status, when `move` is allowed from it; else the move's 409 problem."""
    if status not in ALLOWED_FROM[move]:
        raise _refusal(move, status)
    return Status(status)


def after_finalize(amount_due: int) -> Status:
    """A zero-total invoice is paid on finalization."""
    return Status.PAID if amount_due == 0 else Status.OPEN


def after_payment(status: str, amount_paid: int, total: int, amount_credited: int = 0) -> Status:
    """Settled — paid and credited in full — or as it was (open or uncollectible)."""
    return Status.PAID if amount_paid + amount_credited == total else Status(status)


def after_payment_deleted(status: str) -> Status:
    """A paid invoice owes money again: open. Open or uncollectible stay as they are."""
    return Status.OPEN if status == Status.PAID else Status(status)
