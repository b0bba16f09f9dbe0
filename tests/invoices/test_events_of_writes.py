"""The events a create and a finalize append in their own statements, in order."""

from __future__ import annotations

import pytest

from tests.invoices.conftest import LINE, Billing

pytestmark = pytest.mark.anyio


async def test_create_and_finalize_with_nothing_due_leave_their_trail_in_order(
    billing: Billing,
) -> None:
    draft = await billing.draft([{**LINE, "unit_amount": 0}])
    finalized = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["status"] == "paid"
    events = await billing.api.client.get(
        f"{billing.base}/events?subject_id={draft['id']}", headers=billing.headers()
    )
    trail = [(e["type"], e["data"], e["actor"]) for e in reversed(events.json()["items"])]
    number = finalized.json()["number"]
    assert trail == [
        ("invoice.created", {"total": 0, "currency": "USD"}, billing.owner),
        ("invoice.finalized", {"number": number, "total": 0}, billing.owner),
        ("invoice.paid", {"number": number}, billing.owner),
    ]


async def test_a_finalize_with_money_due_appends_one_event(billing: Billing) -> None:
    draft = await billing.draft()
    finalized = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    assert finalized.status_code == 200, finalized.text
    events = await billing.api.client.get(
        f"{billing.base}/events?subject_id={draft['id']}", headers=billing.headers()
    )
    assert [e["type"] for e in events.json()["items"]] == ["invoice.finalized", "invoice.created"]
    assert events.json()["items"][0]["data"] == {
        "number": finalized.json()["number"],
        "total": finalized.json()["total"],
    }
