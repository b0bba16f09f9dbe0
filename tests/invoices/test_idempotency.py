"""`Idempotency-Key`: a retried POST never creates a second resource.

Checked for the three POSTs that move money — create a draft, finalize, record a payment —
through the superuser connection (row counts, events, the number counter), sequentially
and with ten identical requests in flight at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from tests.invoices.conftest import LINE, Billing

pytestmark = pytest.mark.anyio

REPLAYED = "idempotent-replayed"
PAYMENT = {"amount": 1000, "currency": "USD", "paid_on": "2026-11-20", "method": "card"}


async def scalar(admin_database_url: str, sql: str, *args: object) -> Any:
    conn = await asyncpg.connect(admin_database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def events_of(admin_database_url: str, type_: str) -> int:
    count: int = await scalar(
        admin_database_url, "SELECT count(*) FROM events WHERE type = $1", type_
    )
    return count


async def send(billing: Billing, path: str, body: Any, key: str, **headers: str) -> httpx.Response:
    response: httpx.Response = await billing.post(path, body, **{"Idempotency-Key": key, **headers})
    return response


def same_response(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    for header in ("content-type", "etag", "location"):
        assert again.headers.get(header) == first.headers.get(header), header
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"


async def open_invoice(billing: Billing) -> dict[str, Any]:
    draft = await billing.draft()
    done = await billing.post(f"/invoices/{draft['id']}/finalize")
    assert done.status_code == 200, done.text
    invoice: dict[str, Any] = done.json()
    return invoice


async def test_a_replayed_create_returns_the_first_response_and_makes_one_invoice(
    billing: Billing, admin_database_url: str
) -> None:
    body = {"customer_id": billing.customer_id, "lines": [LINE], "memo": "once"}
    first = await send(billing, "/invoices", body, "create-1")
    assert first.status_code == 201, first.text
    again = await send(billing, "/invoices", body, "create-1")
    same_response(first, again)
    # The same request in another JSON spelling (key order, spacing) is the same request.
    respelled = await billing.api.client.post(
        f"{billing.base}/invoices",
        content=json.dumps(dict(reversed(body.items())), indent=2).encode(),
        headers=billing.headers(**{"Idempotency-Key": "create-1"}),
    )
    same_response(first, respelled)
    assert await scalar(admin_database_url, "SELECT count(*) FROM invoices") == 1
    assert await scalar(admin_database_url, "SELECT count(*) FROM invoice_lines") == 1
    assert await events_of(admin_database_url, "invoice.created") == 1
    # A replay is the first response, even after the invoice moved on (as Stripe does).
    finalized = await billing.post(f"/invoices/{first.json()['id']}/finalize")
    assert finalized.json()["status"] == "open"
    later = await send(billing, "/invoices", body, "create-1")
    same_response(first, later)
    assert later.json()["status"] == "draft"


async def test_a_replayed_finalize_takes_one_number(
    billing: Billing, admin_database_url: str
) -> None:
    draft = await billing.draft()
    path = f"/invoices/{draft['id']}/finalize"
    first = await send(billing, path, {"issue_date": "2026-11-01"}, "finalize-1")
    assert first.status_code == 200, first.text
    again = await send(billing, path, {"issue_date": "2026-11-01"}, "finalize-1")
    same_response(first, again)
    assert again.json()["number"] == "INV-000001"
    assert await events_of(admin_database_url, "invoice.finalized") == 1
    counter = "SELECT next_number FROM invoice_number_counters WHERE org_id = $1::uuid"
    assert await scalar(admin_database_url, counter, billing.org_id) == 2
    # Without the key, finalizing again is the usual conflict: the replay did not re-run it.
    assert (await billing.post(path, {"issue_date": "2026-11-01"})).status_code == 409


async def test_a_replayed_payment_is_recorded_once(
    billing: Billing, admin_database_url: str
) -> None:
    invoice = await open_invoice(billing)
    path = f"/invoices/{invoice['id']}/payments"
    first = await send(billing, path, PAYMENT, "pay-1")
    assert first.status_code == 201, first.text
    for _ in range(3):
        same_response(first, await send(billing, path, PAYMENT, "pay-1"))
    assert await scalar(admin_database_url, "SELECT count(*) FROM payments") == 1
    paid = "SELECT amount_paid FROM invoices WHERE id = $1::uuid"
    assert await scalar(admin_database_url, paid, invoice["id"]) == PAYMENT["amount"]
    assert await events_of(admin_database_url, "payment.recorded") == 1


async def fire(
    times: int, request: Callable[[], Awaitable[httpx.Response]]
) -> list[httpx.Response]:
    return list(await asyncio.gather(*(request() for _ in range(times))))


def one_winner(responses: list[httpx.Response], success: int) -> None:
    """Exactly one response did the work; the rest replayed it or were told it was in flight."""
    statuses = sorted({r.status_code for r in responses})
    assert set(statuses) <= {success, 409}, [r.text for r in responses]
    done = [r for r in responses if r.status_code == success]
    assert len({r.content for r in done}) == 1
    assert len([r for r in done if REPLAYED not in r.headers]) == 1
    for busy in (r for r in responses if r.status_code == 409):
        assert busy.headers["content-type"] == "application/problem+json"
        assert busy.json()["type"] == "https://penvoice.app/problems/idempotency-key-in-use"


async def test_concurrent_duplicates_do_the_work_once(
    billing: Billing, admin_database_url: str
) -> None:
    body = {"customer_id": billing.customer_id, "lines": [LINE]}
    created = await fire(10, lambda: send(billing, "/invoices", body, "race-create"))
    one_winner(created, 201)
    assert await scalar(admin_database_url, "SELECT count(*) FROM invoices") == 1
    winner = next(r for r in created if r.status_code == 201)
    # Once the first one is done, a retry of any of the 409s gets its response.
    same_response(winner, await send(billing, "/invoices", body, "race-create"))

    invoice_id = winner.json()["id"]
    path = f"/invoices/{invoice_id}/finalize"
    finalized = await fire(10, lambda: send(billing, path, {}, "race-finalize"))
    one_winner(finalized, 200)
    assert await events_of(admin_database_url, "invoice.finalized") == 1
    number = "SELECT number FROM invoices WHERE id = $1::uuid"
    assert await scalar(admin_database_url, number, invoice_id) == "INV-000001"

    pay = f"/invoices/{invoice_id}/payments"
    paid = await fire(10, lambda: send(billing, pay, PAYMENT, "race-pay"))
    one_winner(paid, 201)
    assert await scalar(admin_database_url, "SELECT count(*) FROM payments") == 1
    amount_paid = "SELECT amount_paid FROM invoices WHERE id = $1::uuid"
    assert await scalar(admin_database_url, amount_paid, invoice_id) == PAYMENT["amount"]


async def test_the_same_key_with_another_request_is_a_422(
    billing: Billing, admin_database_url: str
) -> None:
    body = {"customer_id": billing.customer_id, "lines": [LINE]}
    first = await send(billing, "/invoices", body, "reused")
    assert first.status_code == 201, first.text
    attempts = [
        ("/invoices", {**body, "memo": "different"}),
        ("/invoices", {**body, "lines": [LINE, LINE]}),
        (f"/invoices/{first.json()['id']}/finalize", {}),  # another route
        ("/customers", {"name": "Someone"}),
    ]
    for path, other in attempts:
        refused = await send(billing, path, other, "reused")
        assert refused.status_code == 422, (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["header.Idempotency-Key"]
        assert REPLAYED not in refused.headers
    assert await scalar(admin_database_url, "SELECT count(*) FROM invoices") == 1
    assert await scalar(admin_database_url, "SELECT count(*) FROM customers") == 1
    status = "SELECT status FROM invoices WHERE id = $1::uuid"
    assert await scalar(admin_database_url, status, first.json()["id"]) == "draft"
    # The original request still replays.
    same_response(first, await send(billing, "/invoices", body, "reused"))


async def test_keys_belong_to_the_user_who_sent_them(
    billing: Billing, admin_database_url: str
) -> None:
    api = billing.api
    invited = await billing.post("/invitations", {"email": "mia@example.com", "role": "member"})
    mia = api.auth("mia", email="mia@example.com")
    accepted = await api.client.post(f"/v1/invitations/{invited.json()['id']}/accept", headers=mia)
    assert accepted.status_code == 200, accepted.text

    body = {"customer_id": billing.customer_id, "lines": [LINE]}
    url, key = f"{billing.base}/invoices", {"Idempotency-Key": "shared-key"}
    olivia_first = await api.client.post(url, json=body, headers=billing.headers(**key))
    mia_first = await api.client.post(url, json=body, headers={**mia, **key})
    assert olivia_first.status_code == mia_first.status_code == 201
    assert REPLAYED not in mia_first.headers
    assert mia_first.json()["id"] != olivia_first.json()["id"]
    assert mia_first.json()["created_by"] == "mia"
    # Each user's retry replays their own response; another body is theirs to send.
    same_response(mia_first, await api.client.post(url, json=body, headers={**mia, **key}))
    same_response(
        olivia_first, await api.client.post(url, json=body, headers=billing.headers(**key))
    )
    other = await api.client.post(url, json={**body, "memo": "mine"}, headers={**mia, **key})
    assert other.status_code == 422  # mia's own key, reused with another body
    assert await scalar(admin_database_url, "SELECT count(*) FROM invoices") == 2


async def test_a_failed_request_does_not_use_up_its_key(
    billing: Billing, admin_database_url: str
) -> None:
    keys = "SELECT count(*) FROM idempotency_keys"
    good = {"customer_id": billing.customer_id, "lines": [LINE]}
    failures: list[tuple[Any, int]] = [
        ({**good, "lines": [{**LINE, "unit_amount": -1}]}, 422),  # refused by validation
        ({**good, "customer_id": "00000000-0000-4000-8000-000000000000"}, 422),  # by the service
    ]
    for bad, status in failures:
        for _ in range(2):  # a failure is not stored: the retry runs again (and fails again)
            refused = await send(billing, "/invoices", bad, "fix-and-retry")
            assert refused.status_code == status, refused.text
            assert REPLAYED not in refused.headers
    assert await scalar(admin_database_url, keys) == 0
    fixed = await send(billing, "/invoices", good, "fix-and-retry")
    assert fixed.status_code == 201, fixed.text
    same_response(fixed, await send(billing, "/invoices", good, "fix-and-retry"))
    assert await scalar(admin_database_url, "SELECT count(*) FROM invoices") == 1

    # A conflict (paying a draft) does not use up the key either.
    pay = f"/invoices/{fixed.json()['id']}/payments"
    early = await send(billing, pay, PAYMENT, "pay-when-open")
    assert early.status_code == 409, early.text
    await billing.post(f"/invoices/{fixed.json()['id']}/finalize")
    recorded = await send(billing, pay, PAYMENT, "pay-when-open")
    assert recorded.status_code == 201, recorded.text
    assert await scalar(admin_database_url, keys) == 2


async def test_keys_are_kept_for_at_least_a_day(billing: Billing, admin_database_url: str) -> None:
    body = {"customer_id": billing.customer_id, "lines": [LINE]}
    first = await send(billing, "/invoices", body, "yesterday")
    assert first.status_code == 201
    await scalar(
        admin_database_url,
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1",
        "yesterday",
    )
    same_response(first, await send(billing, "/invoices", body, "yesterday"))
    assert await scalar(admin_database_url, "SELECT count(*) FROM invoices") == 1
