"""The counter and the dates are bounded so finalize never fails inside the database, and
reversing an accounting record (void, mark uncollectible, delete a payment) is for admins."""

from __future__ import annotations

import pytest

from tests.customers.helpers import add_member
from tests.invoices.conftest import Billing

pytestmark = pytest.mark.anyio


async def set_next_number(billing: Billing, number: int) -> int:
    response = await billing.api.client.patch(
        billing.base, json={"next_invoice_number": number}, headers=billing.headers()
    )
    return response.status_code


async def test_the_last_invoice_number_is_issued_then_finalize_is_a_409(billing: Billing) -> None:
    """The counter's column holds at most 999,999,999,999: that value means "exhausted",
    so the last number issued is 999,999,999,998 and finalize then answers a 409."""
    assert await set_next_number(billing, 1_000_000_000_000) == 422
    assert await set_next_number(billing, 999_999_999_998) == 200
    draft = await billing.draft()
    last = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    assert last.status_code == 200, last.text
    assert last.json()["number"] == "INV-999999999998"
    org = await billing.api.client.get(billing.base, headers=billing.headers())
    assert org.json()["next_invoice_number"] == 999_999_999_999
    assert await set_next_number(billing, 999_999_999_998) == 422  # never lowered
    another = await billing.draft()
    exhausted = await billing.post(f"/invoices/{another['id']}/finalize", {})
    assert exhausted.status_code == 409, exhausted.text
    assert exhausted.json()["type"] == "https://penvoice.app/problems/invoice-numbers-exhausted"
    still = await billing.api.client.get(
        f"{billing.base}/invoices/{another['id']}", headers=billing.headers()
    )
    assert still.json()["status"] == "draft"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"issue_date": "9999-12-31"}, "body.issue_date"),
        ({"issue_date": "3000-01-01"}, "body.issue_date"),
        ({"issue_date": "1899-12-31"}, "body.issue_date"),
        ({"issue_date": "2026-01-01", "due_date": "9999-12-31"}, "body.due_date"),
    ],
)
async def test_finalize_dates_are_bounded(
    billing: Billing, body: dict[str, str], field: str
) -> None:
    draft = await billing.draft()
    response = await billing.post(f"/invoices/{draft['id']}/finalize", body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_the_latest_issue_date_with_the_longest_terms_finalizes(billing: Billing) -> None:
    response = await billing.api.client.patch(
        billing.base, json={"payment_terms_days": 365}, headers=billing.headers()
    )
    assert response.status_code == 200, response.text
    draft = await billing.draft()
    done = await billing.post(f"/invoices/{draft['id']}/finalize", {"issue_date": "2999-12-31"})
    assert done.status_code == 200, done.text
    assert done.json()["due_date"] == "3000-12-31"


async def test_void_uncollectible_and_payment_deletion_are_for_admins(
    billing: Billing, admin_database_url: str
) -> None:
    api = billing.api
    await add_member(admin_database_url, billing.org_id, "mia", "member")
    await add_member(admin_database_url, billing.org_id, "ada", "admin")
    member, admin = api.auth("mia"), api.auth("ada")
    invoices = []
    for _ in range(3):
        draft = await billing.draft()
        done = await api.client.post(
            f"{billing.base}/invoices/{draft['id']}/finalize", json={}, headers=member
        )
        assert done.status_code == 200, done.text  # members finalize
        invoices.append(done.json())
    first, second, third = (f"{billing.base}/invoices/{i['id']}" for i in invoices)
    payment = await api.client.post(
        f"{third}/payments",
        json={"amount": 100, "currency": "USD", "paid_on": "2026-11-20", "method": "cash"},
        headers=member,
    )
    assert payment.status_code == 201, payment.text  # members record payments
    attempts = [
        ("POST", f"{first}/void"),
        ("POST", f"{second}/mark-uncollectible"),
        ("DELETE", f"{third}/payments/{payment.json()['id']}"),
    ]
    for method, url in attempts:
        refused = await api.client.request(method, url, headers=member)
        assert refused.status_code == 403, (url, refused.text)
        assert refused.json()["type"] == "https://penvoice.app/problems/forbidden"
    for method, url in attempts:
        allowed = await api.client.request(method, url, headers=admin)
        assert allowed.status_code in (200, 204), (url, allowed.text)
