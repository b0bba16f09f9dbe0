"""The status machine (`invoices.lifecycle`) as a table: every move from every status."""

from __future__ import annotations

from typing import get_args

import pytest

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
from penvoice.invoices import lifecycle
from penvoice.invoices.lifecycle import Move, Status
from penvoice.invoices.schemas import Status as ApiStatus

D, OP, P, V, U = Status.DRAFT, Status.OPEN, Status.PAID, Status.VOID, Status.UNCOLLECTIBLE
EXPECTED: dict[Move, tuple[set[Status], type[Conflict]]] = {
    Move.EDIT: ({D}, InvoiceNotEditable),
    Move.FINALIZE: ({D}, InvalidTransition),
    Move.VOID: ({OP, U}, InvalidTransition),
    Move.MARK_UNCOLLECTIBLE: ({OP}, InvalidTransition),
    Move.RECORD_PAYMENT: ({OP, U}, InvoiceNotPayable),
    Move.DELETE_PAYMENT: ({OP, P, U}, PaymentsFrozen),
    Move.RENDER_DOCUMENT: ({OP, P, V, U}, DocumentNotAvailable),
    Move.SEND: ({OP, P, U}, InvoiceNotSendable),
    Move.CREDIT: ({OP, P, U}, InvoiceNotCreditable),
}


def test_the_api_documents_exactly_these_statuses() -> None:
    assert set(get_args(ApiStatus)) == {status.value for status in Status}


@pytest.mark.parametrize("move", list(Move))
def test_each_move_is_allowed_exactly_from_its_statuses(move: Move) -> None:
    allowed, problem = EXPECTED[move]
    for status in Status:
        if status in allowed:
            assert lifecycle.require(status.value, move) is status
        else:
            with pytest.raises(problem) as refused:
                lifecycle.require(status.value, move)
            assert type(refused.value) is problem
            assert refused.value.status == 409
            assert refused.value.extra == {"status_now": status.value}


def test_where_payments_and_finalization_lead() -> None:
    assert lifecycle.after_finalize(0) is P
    assert lifecycle.after_finalize(1) is OP
    assert lifecycle.after_payment("open", 100, 100) is P
    assert lifecycle.after_payment("uncollectible", 100, 100) is P
    assert lifecycle.after_payment("open", 99, 100) is OP
    assert lifecycle.after_payment("uncollectible", 99, 100) is U
    assert lifecycle.after_payment_deleted("paid") is OP
    assert lifecycle.after_payment_deleted("uncollectible") is U
    assert lifecycle.TARGET == {Move.VOID: V, Move.MARK_UNCOLLECTIBLE: U}
