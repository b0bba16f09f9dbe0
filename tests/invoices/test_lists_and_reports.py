"""Invoice lists (keyset pagination and every filter), AR aging and the events trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from tests.invoices.conftest import Billing

pytestmark = pytest.mark.anyio

AS_OF = date(2026, 6, 30)


def plain_line(amount: int) -> dict[str, Any]:
    """A line whose total is exactly `amount` (no taxes, no discount)."""
    return {"description": "Work", "quantity": "1", "unit_amount": amount}


async def get(billing: Billing, path: str, **params: str | int) -> Any:
    response = await billing.api.client.get(
        f"{billing.base}{path}", params=params, headers=billing.headers()
    )
    assert response.status_code == 200, response.text
    return response.json()


async def ok(billing: Billing, path: str, body: Any = None) -> Any:
    response = await billing.post(path, body)
    assert response.status_code in {200, 201}, response.text
    return response.json()


async def finalize(billing: Billing, invoice: dict[str, Any], issue: date, due: date) -> Any:
    return await ok(
        billing,
        f"/invoices/{invoice['id']}/finalize",
        {"issue_date": issue.isoformat(), "due_date": due.isoformat()},
    )


async def pay(billing: Billing, invoice: dict[str, Any], amount: int) -> Any:
    body = {
        "amount": amount,
        "currency": invoice["currency"],
        "paid_on": "2026-06-01",
        "method": "bank_transfer",
    }
    return await ok(billing, f"/invoices/{invoice['id']}/payments", body)


async def walk(billing: Billing, path: str, limit: int, **params: str) -> list[list[Any]]:
    """Every page of a list, following `next_cursor` until it is null."""
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        page = await get(
            billing, path, limit=limit, **params, **({"cursor": cursor} if cursor else {})
        )
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


def ids(items: list[Any]) -> list[str]:
    return [item["id"] for item in items]


async def test_cursor_pages_cover_every_invoice_once_newest_first(billing: Billing) -> None:
    created = [(await billing.draft(memo=f"#{n}"))["id"] for n in range(12)]
    newest_first = created[::-1]

    pages = await walk(billing, "/invoices", limit=5)
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [item_id for page in pages for item_id in ids(page)] == newest_first

    exact = await get(billing, "/invoices", limit=12)
    assert (ids(exact["items"]), exact["next_cursor"]) == (newest_first, None)
    assert [len(page) for page in await walk(billing, "/invoices", limit=11)] == [11, 1]

    # Keyset, not offsets: an invoice created between two pages neither shifts nor repeats.
    first = await get(billing, "/invoices", limit=5)
    await billing.draft(memo="latecomer")
    second = await get(billing, "/invoices", limit=5, cursor=first["next_cursor"])
    assert ids(second["items"]) == newest_first[5:10]

    # Filters and cursors together: the drafts left after finalizing every third one.
    for invoice_id in created[::3]:
        await ok(billing, f"/invoices/{invoice_id}/finalize")
    drafts = await walk(billing, "/invoices", limit=3, status="draft")
    assert [len(page) for page in drafts] == [3, 3, 3]
    assert [i for page in drafts for i in ids(page)][1:] == [
        i for i in newest_first if i not in created[::3]
    ]
    assert all(item["status"] == "draft" for page in drafts for item in page)


@dataclass(frozen=True)
class Shelf:
    draft: str
    overdue: str
    not_yet_due: str
    paid_late: str
    uncollectible: str
    void: str
    other_customer: str


async def test_every_invoice_filter(billing: Billing) -> None:
    client, today = billing.api.client, date.today()
    other = await client.post(
        f"{billing.base}/customers", json={"name": "Other Ltd"}, headers=billing.headers()
    )
    other_id = other.json()["id"]
    made = [await billing.draft([plain_line(1000 + n)]) for n in range(6)]
    made.append(await billing.draft([plain_line(2000)], customer_id=other_id))
    shelf = Shelf(*ids(made))
    numbers = {
        shelf.overdue: await finalize(billing, made[1], date(2020, 1, 1), date(2020, 1, 15)),
        shelf.not_yet_due: await finalize(
            billing, made[2], today - timedelta(days=1), today + timedelta(days=30)
        ),
        shelf.paid_late: await finalize(billing, made[3], date(2020, 2, 1), date(2020, 2, 15)),
        shelf.uncollectible: await finalize(billing, made[4], date(2020, 3, 1), date(2020, 3, 1)),
        shelf.void: await finalize(billing, made[5], date(2021, 1, 1), date(2021, 1, 31)),
        shelf.other_customer: await finalize(
            billing, made[6], date(2020, 2, 1), today + timedelta(days=2)
        ),
    }
    await pay(billing, made[3], 1003)
    await ok(billing, f"/invoices/{shelf.uncollectible}/mark-uncollectible")
    await ok(billing, f"/invoices/{shelf.void}/void")

    async def found(**params: str) -> set[str]:
        return set(ids((await get(billing, "/invoices", limit=100, **params))["items"]))

    everything = set(ids(made))
    assert await found() == everything
    assert await found(status="draft") == {shelf.draft}
    assert await found(status="open") == {shelf.overdue, shelf.not_yet_due, shelf.other_customer}
    assert await found(status="paid") == {shelf.paid_late}
    assert await found(status="uncollectible") == {shelf.uncollectible}
    assert await found(status="void") == {shelf.void}
    assert await found(customer_id=billing.customer_id) == everything - {shelf.other_customer}
    assert await found(customer_id=other_id) == {shelf.other_customer}
    # Overdue is derived: open and past due; paid, uncollectible and void ones never are.
    assert await found(overdue="true") == {shelf.overdue}
    assert await found(overdue="false") == everything - {shelf.overdue}
    listed = {i["id"]: i for i in (await get(billing, "/invoices", limit=100))["items"]}
    assert {i for i, item in listed.items() if item["overdue"]} == {shelf.overdue}
    # Issue-date bounds are inclusive; drafts have no issue date and never match.
    feb, mar = "2020-02-01", "2020-03-01"
    assert await found(issue_date_from=feb, issue_date_to=mar) == {
        shelf.paid_late,
        shelf.uncollectible,
        shelf.other_customer,
    }
    assert await found(issue_date_to="2020-01-31") == {shelf.overdue}
    assert await found(issue_date_from="2021-01-01") == {shelf.void, shelf.not_yet_due}
    assert await found(issue_date_from="2020-03-02", issue_date_to="2020-12-31") == set()
    # Number: exact match only.
    number = numbers[shelf.paid_late]["number"]
    assert await found(number=number) == {shelf.paid_late}
    assert await found(number=number[:-1]) == set()
    # Filters combine.
    assert await found(status="open", customer_id=billing.customer_id, overdue="false") == {
        shelf.not_yet_due
    }
    assert await found(status="void", customer_id=other_id) == set()


@dataclass(frozen=True)
class Aged:
    currency: str
    total: int
    issue: date
    due: date
    paid: int = 0
    ending: str = "open"  # open | paid | void | uncollectible | draft


BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


def bucket(as_of: date, due: date) -> str:
    late = (as_of - due).days
    if late <= 0:
        return "current"
    if late <= 30:
        return "days_1_30"
    if late <= 60:
        return "days_31_60"
    return "days_61_90" if late <= 90 else "days_over_90"


def expected_aging(book: list[Aged], as_of: date) -> list[dict[str, Any]]:
    """The report, computed independently: what was owed at the end of `as_of`, by currency
    and lateness. Every payment here is dated before AS_OF; voiding happens today, after
    AS_OF, so a void invoice still owed its total on AS_OF."""
    report: dict[str, dict[str, Any]] = {}
    for entry in book:
        owed = entry.total - entry.paid
        if entry.ending == "draft" or entry.issue > as_of or owed == 0:
            continue
        row = report.setdefault(
            entry.currency,
            {"currency": entry.currency, **dict.fromkeys(BUCKETS, 0), "invoice_count": 0},
        )
        row[bucket(as_of, entry.due)] += owed
        row["invoice_count"] += 1
    for row in report.values():
        row["total"] = sum(row[name] for name in BUCKETS)
    return [report[currency] for currency in sorted(report)]


def aged(currency: str, unit: int, n: int, late: int, **extra: Any) -> Aged:
    """`unit × 2**n` (so each sum says which invoices it holds), due `late` days before AS_OF."""
    due = AS_OF - timedelta(days=late)
    return Aged(currency, unit * 2**n, due - timedelta(days=14), due, **extra)


def aging_book() -> list[Aged]:
    book: list[Aged] = []
    for c, unit in (("USD", 100), ("EUR", 100_000)):
        book += [
            aged(c, unit, 0, 0),  # due today: current
            Aged(c, unit * 2, AS_OF - timedelta(days=5), AS_OF + timedelta(days=9)),
            aged(c, unit, 2, 1),
            aged(c, unit, 3, 30),
            aged(c, unit, 4, 31),
            aged(c, unit, 5, 60),
            aged(c, unit, 6, 61, paid=unit * 7),  # partly paid: only what is owed counts
            aged(c, unit, 7, 90),
            aged(c, unit, 8, 91),
            aged(c, unit, 9, 400, ending="uncollectible"),  # still receivable
            aged(c, unit, 10, 10, paid=unit * 2**10, ending="paid"),
            aged(c, unit, 11, 45, ending="void"),
            aged(c, unit, 12, 5, ending="draft"),
            # Issued after AS_OF: not yet receivable then.
            Aged(c, unit * 2**13, AS_OF + timedelta(days=1), AS_OF + timedelta(days=15)),
        ]
    return book


async def test_ar_aging_buckets_per_currency(billing: Billing) -> None:
    book = aging_book()
    for entry in book:
        invoice = await billing.draft([plain_line(entry.total)], currency=entry.currency)
        assert invoice["total"] == entry.total
        if entry.ending == "draft":
            continue
        invoice = await finalize(billing, invoice, entry.issue, entry.due)
        if entry.paid:
            await pay(billing, invoice, entry.paid)
        if entry.ending in {"void", "uncollectible"}:
            action = "void" if entry.ending == "void" else "mark-uncollectible"
            assert (await ok(billing, f"/invoices/{invoice['id']}/{action}"))["status"] == (
                entry.ending
            )

    report = await get(billing, "/reports/ar-aging", as_of=AS_OF.isoformat())
    assert report["as_of"] == "2026-06-30"
    assert [row["currency"] for row in report["currencies"]] == ["EUR", "USD"]
    assert report["currencies"] == expected_aging(book, AS_OF)
    # The exact figures, spelled out for USD (unit 100; the bits say which invoices).
    usd = report["currencies"][1]
    assert {name: usd[name] for name in (*BUCKETS, "total", "invoice_count")} == {
        "current": 100 * (1 + 2),
        "days_1_30": 100 * (4 + 8),
        "days_31_60": 100 * (16 + 32 + 2048),  # the void one was owed on AS_OF
        "days_61_90": 100 * (64 - 7 + 128),
        "days_over_90": 100 * (256 + 512),
        "total": 100 * (1 + 2 + 4 + 8 + 16 + 32 + 2048 + 64 - 7 + 128 + 256 + 512),
        "invoice_count": 11,
    }
    # Another day, other buckets: everything ages, and the late-issued invoice appears.
    later = AS_OF + timedelta(days=31)
    moved = await get(billing, "/reports/ar-aging", as_of=later.isoformat())
    assert moved["currencies"] == expected_aging(book, later)
    assert moved["currencies"][1]["invoice_count"] == 12
    # Before anything was issued there is nothing to collect.
    assert (await get(billing, "/reports/ar-aging", as_of="2024-01-01"))["currencies"] == []


async def test_events_trail_lists_every_mutation_newest_first(billing: Billing) -> None:
    draft = await billing.draft()
    url = f"/invoices/{draft['id']}"
    edited = await billing.api.client.patch(
        f"{billing.base}{url}", json={"memo": "March"}, headers=billing.headers()
    )
    assert edited.status_code == 200, edited.text
    invoice = await ok(billing, f"{url}/finalize", {"issue_date": "2026-03-01"})
    first = await pay(billing, invoice, 1000)
    second = await pay(billing, invoice, invoice["total"] - 1000)
    removed = await billing.api.client.delete(
        f"{billing.base}{url}/payments/{second['id']}", headers=billing.headers()
    )
    assert removed.status_code == 204

    trail = (await get(billing, "/events", limit=100))["items"]
    assert [event["type"] for event in trail] == [
        "invoice.reopened",
        "payment.deleted",
        "invoice.paid",
        "payment.recorded",
        "payment.recorded",
        "invoice.finalized",
        "invoice.updated",
        "invoice.created",
        "tax_rate.created",
        "tax_rate.created",
        "customer.created",
        "org.created",
    ]
    event_ids = [event["id"] for event in trail]
    assert event_ids == sorted(event_ids, reverse=True)
    assert {event["actor"] for event in trail} == {billing.owner}
    by_type = {event["type"]: event for event in reversed(trail)}  # the newest of each type
    assert by_type["invoice.finalized"]["subject_id"] == draft["id"]
    assert by_type["invoice.finalized"]["data"] == {"number": "INV-000001", "total": 4993}
    assert by_type["payment.deleted"]["subject_id"] == second["id"]
    assert by_type["payment.deleted"]["data"] == {"invoice_id": draft["id"], "amount": 3993}

    pages = await walk(billing, "/events", limit=5)
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [event for page in pages for event in page] == trail

    payments = await walk(billing, "/events", limit=1, type="payment.recorded")
    assert [[e["subject_id"] for e in page] for page in payments] == [[second["id"]], [first["id"]]]
    assert all(e["data"]["invoice_id"] == draft["id"] for page in payments for e in page)
    about_the_invoice = await get(billing, "/events", subject_id=draft["id"])
    assert [e["type"] for e in about_the_invoice["items"]] == [
        "invoice.reopened",
        "invoice.paid",
        "invoice.finalized",
        "invoice.updated",
        "invoice.created",
    ]
    assert (await get(billing, "/events", type="invoice.voided"))["items"] == []


async def test_ar_aging_counts_payments_by_their_date(billing: Billing) -> None:
    invoice = await billing.draft([plain_line(5000)], currency="USD")
    invoice = await finalize(
        billing, invoice, AS_OF - timedelta(days=20), AS_OF - timedelta(days=5)
    )
    body = {
        "amount": 5000,
        "currency": "USD",
        "paid_on": (AS_OF + timedelta(days=3)).isoformat(),
        "method": "card",
    }
    assert (await ok(billing, f"/invoices/{invoice['id']}/payments", body))["amount"] == 5000
    before = await get(billing, "/reports/ar-aging", as_of=AS_OF.isoformat())
    after = await get(billing, "/reports/ar-aging", as_of=(AS_OF + timedelta(days=3)).isoformat())
    assert before["currencies"] == [
        {
            "currency": "USD",
            "current": 0,
            "days_1_30": 5000,
            "days_31_60": 0,
            "days_61_90": 0,
            "days_over_90": 0,
            "total": 5000,
            "invoice_count": 1,
        }
    ]
    assert after["currencies"] == []
