from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.invoices.conftest import LINE, Billing

pytestmark = pytest.mark.anyio


async def test_server_computes_every_figure_of_the_worked_example(billing: Billing) -> None:
    line = {
        **LINE,
        "discount": {"percent": "15"},
        "tax_rate_ids": [billing.vat_inclusive, billing.levy_exclusive],
    }
    invoice = await billing.draft([line])
    assert invoice["status"] == "draft"
    assert invoice["number"] is None
    assert invoice["currency"] == "USD"
    [stored] = invoice["lines"]
    assert (stored["amount"], stored["discount_amount"], stored["net"]) == (4993, 749, 4244)
    assert stored["quantity"] == "2.5"
    assert {t["display_name"]: t["amount"] for t in stored["taxes"]} == {"VAT": 707, "Levy": 177}
    assert (invoice["subtotal"], invoice["tax_total"], invoice["total"]) == (4244, 884, 4421)
    assert invoice["amount_due"] == 4421


async def test_client_totals_are_not_accepted(billing: Billing) -> None:
    response = await billing.post(
        "/invoices", {"customer_id": billing.customer_id, "lines": [LINE], "total": 1}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.total"


async def test_finalize_numbers_dates_and_snapshots(billing: Billing) -> None:
    draft = await billing.draft()
    issued = datetime.now(UTC).date() - timedelta(days=30)  # due 14 days later: overdue now
    done = await billing.post(
        f"/invoices/{draft['id']}/finalize", {"issue_date": issued.isoformat()}
    )
    assert done.status_code == 200, done.text
    invoice = done.json()
    assert invoice["status"] == "open"
    assert invoice["number"] == "INV-000001"
    due = issued + timedelta(days=14)
    assert (invoice["issue_date"], invoice["due_date"]) == (issued.isoformat(), due.isoformat())
    assert invoice["customer_snapshot"]["name"] == "Ünïcode Kunde GmbH"
    assert invoice["overdue"] is True  # open and past due today
    second = await billing.draft()
    later = await billing.post(f"/invoices/{second['id']}/finalize")
    assert later.json()["number"] == "INV-000002"


async def test_forbidden_transitions_are_409_and_change_nothing(
    billing: Billing, admin_database_url: str
) -> None:
    draft = await billing.draft()
    url = f"/invoices/{draft['id']}"
    for action in ("void", "mark-uncollectible"):
        refused = await billing.post(f"{url}/{action}")
        assert refused.status_code == 409, action
        assert refused.headers["content-type"] == "application/problem+json"
    await billing.post(f"{url}/finalize")
    again = await billing.post(f"{url}/finalize")
    assert again.status_code == 409
    edit = await billing.api.client.patch(
        f"{billing.base}{url}", json={"memo": "x"}, headers=billing.headers()
    )
    assert edit.status_code == 409
    delete = await billing.api.client.delete(f"{billing.base}{url}", headers=billing.headers())
    assert delete.status_code == 409
    void = await billing.post(f"{url}/void")
    assert void.status_code == 200
    for action in ("finalize", "void", "mark-uncollectible"):
        assert (await billing.post(f"{url}/{action}")).status_code == 409, action
    pay = await billing.post(
        f"{url}/payments",
        {"amount": 1, "currency": "USD", "paid_on": "2026-11-02", "method": "cash"},
    )
    assert pay.status_code == 409
    conn = await asyncpg.connect(admin_database_url)
    row = await conn.fetchrow(
        "SELECT status, amount_paid, memo FROM invoices WHERE id = $1", draft["id"]
    )
    payments = await conn.fetchval("SELECT count(*) FROM payments")
    await conn.close()
    assert row is not None
    assert (row["status"], row["amount_paid"], row["memo"], payments) == ("void", 0, "", 0)


async def test_paying_to_zero_marks_paid_and_deleting_the_payment_reopens(
    billing: Billing,
) -> None:
    draft = await billing.draft()
    url = f"/invoices/{draft['id']}"
    await billing.post(f"{url}/finalize")
    total = draft["total"]
    payment = {"currency": "USD", "paid_on": "2026-11-20", "method": "bank_transfer"}
    too_much = await billing.post(f"{url}/payments", {**payment, "amount": total + 1})
    assert too_much.status_code == 422
    assert too_much.json()["errors"][0]["field"] == "body.amount"
    wrong_currency = await billing.post(
        f"{url}/payments", {**payment, "amount": 1, "currency": "EUR"}
    )
    assert wrong_currency.status_code == 422
    assert wrong_currency.json()["errors"][0]["field"] == "body.currency"
    first = await billing.post(f"{url}/payments", {**payment, "amount": 1000})
    assert first.status_code == 201
    rest = await billing.post(f"{url}/payments", {**payment, "amount": total - 1000})
    invoice = (
        await billing.api.client.get(f"{billing.base}{url}", headers=billing.headers())
    ).json()
    assert (invoice["status"], invoice["amount_due"], invoice["amount_paid"]) == ("paid", 0, total)
    deleted = await billing.api.client.delete(
        f"{billing.base}{url}/payments/{rest.json()['id']}", headers=billing.headers()
    )
    assert deleted.status_code == 204
    invoice = (
        await billing.api.client.get(f"{billing.base}{url}", headers=billing.headers())
    ).json()
    assert (invoice["status"], invoice["amount_due"]) == ("open", total - 1000)
    void = await billing.post(f"{url}/void")
    assert void.status_code == 409  # something is paid
    types = [
        e["type"]
        for e in (
            await billing.api.client.get(f"{billing.base}/events", headers=billing.headers())
        ).json()["items"]
    ]
    assert types[:5] == [
        "invoice.reopened",
        "payment.deleted",
        "invoice.paid",
        "payment.recorded",
        "payment.recorded",
    ]


async def test_stale_if_match_is_412(billing: Billing) -> None:
    draft = await billing.draft()
    url = f"{billing.base}/invoices/{draft['id']}"
    first = await billing.api.client.patch(
        url, json={"memo": "one"}, headers=billing.headers(**{"If-Match": '"1"'})
    )
    assert first.status_code == 200, first.text
    stale = await billing.api.client.patch(
        url, json={"memo": "two"}, headers=billing.headers(**{"If-Match": '"1"'})
    )
    assert stale.status_code == 412
    current = await billing.api.client.get(url, headers=billing.headers())
    assert current.json()["memo"] == "one"
    assert current.headers["etag"] == first.headers["etag"]


async def test_finalize_prices_drafts_with_the_rates_as_they_are_then(billing: Billing) -> None:
    draft = await billing.draft([{**LINE, "tax_rate_ids": [billing.levy_exclusive]}])
    assert draft["tax_total"] == 250  # 5 % of 4993, rounded half up
    changed = await billing.api.client.patch(
        f"{billing.base}/tax-rates/{billing.levy_exclusive}",
        json={"percentage": "10"},
        headers=billing.headers(),
    )
    assert changed.status_code == 200, changed.text  # only a draft uses it: still editable
    final = await billing.post(f"/invoices/{draft['id']}/finalize")
    assert final.status_code == 200
    assert (final.json()["tax_total"], final.json()["total"]) == (499, 4993 + 499)
    frozen = await billing.api.client.patch(
        f"{billing.base}/tax-rates/{billing.levy_exclusive}",
        json={"percentage": "12"},
        headers=billing.headers(),
    )
    assert frozen.status_code == 409


async def test_an_empty_edit_changes_nothing(billing: Billing) -> None:
    draft = await billing.draft()
    url = f"{billing.base}/invoices/{draft['id']}"
    same = await billing.api.client.patch(url, json={}, headers=billing.headers())
    assert same.status_code == 200
    assert same.json()["version"] == draft["version"]
    events = await billing.api.client.get(
        f"{billing.base}/events", params={"subject_id": draft["id"]}, headers=billing.headers()
    )
    assert [e["type"] for e in events.json()["items"]] == ["invoice.created"]


async def test_finalize_rewrites_lines_only_when_repricing_changes_a_figure(
    billing: Billing,
) -> None:
    """Lines keep their ids through a finalization that changes no figure (the usual case:
    nothing to rewrite); a changed rate still reprices, with new line rows."""
    kept = await billing.draft(
        [
            {**LINE, "tax_rate_ids": [billing.vat_inclusive]},
            {**LINE, "description": "Second", "discount": {"percent": "10"}},
        ]
    )
    final = await billing.post(f"/invoices/{kept['id']}/finalize")
    assert final.status_code == 200, final.text
    assert [line["id"] for line in final.json()["lines"]] == [line["id"] for line in kept["lines"]]
    assert final.json()["lines"] == kept["lines"]
    assert final.json()["total"] == kept["total"]

    repriced = await billing.draft([{**LINE, "tax_rate_ids": [billing.levy_exclusive]}])
    changed = await billing.api.client.patch(
        f"{billing.base}/tax-rates/{billing.levy_exclusive}",
        json={"percentage": "10"},
        headers=billing.headers(),
    )
    assert changed.status_code == 200, changed.text
    final = await billing.post(f"/invoices/{repriced['id']}/finalize")
    assert final.status_code == 200, final.text
    assert final.json()["tax_total"] > repriced["tax_total"]
    assert {line["id"] for line in final.json()["lines"]}.isdisjoint(
        line["id"] for line in repriced["lines"]
    )


async def test_payments_dated_after_tomorrow_utc_are_refused(billing: Billing) -> None:
    """A payment is a record of money received: dated at most one day after today in UTC
    (so that every time zone's "today" is accepted, up to UTC+14), never years ahead."""
    draft = await billing.draft()
    url = f"/invoices/{draft['id']}"
    await billing.post(f"{url}/finalize")
    today = datetime.now(UTC).date()
    payment = {"amount": 1, "currency": "USD", "method": "cash"}
    for days in (2, 365 * 3):
        late = (today + timedelta(days=days)).isoformat()
        response = await billing.post(f"{url}/payments", {**payment, "paid_on": late})
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["body.paid_on"]
    response = await billing.post(f"{url}/payments", {**payment, "paid_on": "9999-12-31"})
    assert response.status_code == 422, response.text
    for days in (1, 0, -400):
        ok = (today + timedelta(days=days)).isoformat()
        response = await billing.post(f"{url}/payments", {**payment, "paid_on": ok})
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("change", "seen"),
    [
        ({"display_name": "Levy (renamed)"}, ("display_name", "Levy (renamed)")),
        ({"inclusive": True}, ("inclusive", True)),
        ({"vat_category": "S"}, ("vat_category", "S")),
    ],
)
async def test_finalize_copies_each_rate_field_changed_since_the_draft(
    billing: Billing, change: dict[str, object], seen: tuple[str, object]
) -> None:
    """Any field a line tax copies from its rate, changed after the draft was priced, is
    copied again at finalization (not only a changed percentage)."""
    draft = await billing.draft([{**LINE, "tax_rate_ids": [billing.levy_exclusive]}])
    changed = await billing.api.client.patch(
        f"{billing.base}/tax-rates/{billing.levy_exclusive}", json=change, headers=billing.headers()
    )
    assert changed.status_code == 200, changed.text
    final = await billing.post(f"/invoices/{draft['id']}/finalize")
    assert final.status_code == 200, final.text
    (tax,) = final.json()["lines"][0]["taxes"]
    field, value = seen
    assert tax[field] == value
    assert draft["lines"][0]["taxes"][0][field] != value
