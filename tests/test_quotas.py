"""Quotas (issue 17): a quota reached answers its own problem and writes nothing — no row,
no event, no stored Idempotency-Key (a retry once there is room creates the resource)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from penvoice import quotas
from penvoice.config import Settings
from penvoice.payments import repository as payments_repository
from penvoice.quotas import Quotas
from tests import conftest
from tests.conftest import MIGRATIONS_DIR, Api
from tests.invoices.conftest import LINE, Billing, make_billing

pytestmark = pytest.mark.anyio

PROBLEMS = "https://penvoice.app/problems/"
TABLES = (
    "organisations",
    "memberships",
    "invoices",
    "invoice_lines",
    "payments",
    "events",
    "idempotency_keys",
    "customers",
)


async def _counts(admin_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(admin_url)
    try:
        return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}
    finally:
        await conn.close()


def _refused(response: Any, status: int, slug: str, quota: str, limit: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEMS + slug
    assert (problem["quota"], problem["limit"]) == (quota, limit)


@pytest.fixture
async def billing(api: Api) -> Billing:
    return await make_billing(api)


def test_the_settings_defaults_are_the_quotas_defaults() -> None:
    settings = Settings.from_environ(
        {"DB_URL": "postgresql://x/y", "KC_ISSUER": "http://x/realms/y", "KC_AUDIENCE": "z"}
    )
    assert Quotas.from_settings(settings) == quotas.DEFAULT_QUOTAS == Quotas()
    overridden = Settings.from_environ(
        {
            "DB_URL": "postgresql://x/y",
            "KC_ISSUER": "http://x/realms/y",
            "KC_AUDIENCE": "z",
            "QUOTA_PAYMENTS_PER_INVOICE": "7",
        }
    )
    assert Quotas.from_settings(overridden).payments_per_invoice == 7


async def test_organisations_per_user_at_the_default(api: Api, admin_database_url: str) -> None:
    limit = quotas.DEFAULT_QUOTAS.orgs_per_user
    for n in range(limit):
        await api.create_org("founder", name=f"Org {n}")
    before = await _counts(admin_database_url)
    key = str(uuid.uuid4())
    refused = await api.client.post(
        "/v1/orgs",
        json={"name": "One too many"},
        headers={**api.auth("founder"), "Idempotency-Key": key},
    )
    _refused(refused, 409, "org-quota-exceeded", "orgs_per_user", limit)
    assert await _counts(admin_database_url) == before
    await api.create_org("someone-else")  # the quota is the user's, not everyone's
    # Membership by invitation is not ownership: only owned organisations count.
    with quotas.using(Quotas(orgs_per_user=limit + 1)):
        retried = await api.client.post(
            "/v1/orgs",
            json={"name": "One too many"},
            headers={**api.auth("founder"), "Idempotency-Key": key},
        )
    assert retried.status_code == 201, retried.text  # the key was not used up


async def test_invoices_per_organisation(billing: Billing, admin_database_url: str) -> None:
    with quotas.using(Quotas(invoices_per_org=2)):
        await billing.draft()
        await billing.draft()
        before = await _counts(admin_database_url)
        key = str(uuid.uuid4())
        refused = await billing.post(
            "/invoices",
            {"customer_id": billing.customer_id, "lines": [LINE]},
            **{"Idempotency-Key": key},
        )
        _refused(refused, 409, "invoice-quota-exceeded", "invoices_per_org", 2)
        assert await _counts(admin_database_url) == before
    with quotas.using(Quotas(invoices_per_org=3)):
        retried = await billing.post(
            "/invoices",
            {"customer_id": billing.customer_id, "lines": [LINE]},
            **{"Idempotency-Key": key},
        )
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


async def test_lines_per_invoice_and_per_organisation(
    billing: Billing, admin_database_url: str
) -> None:
    client = billing.api.client
    with quotas.using(Quotas(lines_per_invoice=3, lines_per_org=5)):
        before = await _counts(admin_database_url)
        refused = await billing.post(
            "/invoices", {"customer_id": billing.customer_id, "lines": [LINE] * 4}
        )
        _refused(refused, 422, "line-quota-exceeded", "lines_per_invoice", 3)
        assert await _counts(admin_database_url) == before

        draft = await billing.draft([LINE] * 3)
        path = f"{billing.base}/invoices/{draft['id']}"
        before = await _counts(admin_database_url)
        too_long = await client.patch(path, json={"lines": [LINE] * 4}, headers=billing.headers())
        _refused(too_long, 422, "line-quota-exceeded", "lines_per_invoice", 3)
        assert await _counts(admin_database_url) == before

        before = await _counts(admin_database_url)
        refused = await billing.post(
            "/invoices", {"customer_id": billing.customer_id, "lines": [LINE] * 3}
        )
        _refused(refused, 409, "line-quota-exceeded", "lines_per_org", 5)
        assert await _counts(admin_database_url) == before

        # Replacing a draft's lines counts only the difference.
        second = await billing.draft([LINE] * 2)  # 5 lines in all
        before = await _counts(admin_database_url)
        grown = await client.patch(
            f"{billing.base}/invoices/{second['id']}",
            json={"lines": [LINE] * 3},
            headers=billing.headers(),
        )
        _refused(grown, 409, "line-quota-exceeded", "lines_per_org", 5)
        assert await _counts(admin_database_url) == before
        same = await client.patch(path, json={"lines": [LINE] * 3}, headers=billing.headers())
        assert same.status_code == 200, same.text
        shrunk = await client.patch(path, json={"lines": [LINE]}, headers=billing.headers())
        assert shrunk.status_code == 200, shrunk.text
        grown = await client.patch(
            f"{billing.base}/invoices/{second['id']}",
            json={"lines": [LINE] * 3},
            headers=billing.headers(),
        )
        assert grown.status_code == 200, grown.text
    assert (await _counts(admin_database_url))["invoice_lines"] == 4


async def test_payments_per_invoice_deleted_ones_included(
    billing: Billing, admin_database_url: str
) -> None:
    draft = await billing.draft([{**LINE, "unit_amount": 10_000}])
    invoice_id = draft["id"]
    assert (await billing.post(f"/invoices/{invoice_id}/finalize")).status_code == 200
    payment = {"amount": 1, "currency": "USD", "paid_on": "2026-11-20", "method": "cash"}
    with quotas.using(Quotas(payments_per_invoice=2)):
        first = await billing.post(f"/invoices/{invoice_id}/payments", payment)
        assert first.status_code == 201, first.text
        assert (await billing.post(f"/invoices/{invoice_id}/payments", payment)).is_success
        deleted = await billing.api.client.delete(
            f"{billing.base}/invoices/{invoice_id}/payments/{first.json()['id']}",
            headers=billing.headers(),
        )
        assert deleted.status_code == 204, deleted.text
        before = await _counts(admin_database_url)
        key = str(uuid.uuid4())
        refused = await billing.post(
            f"/invoices/{invoice_id}/payments", payment, **{"Idempotency-Key": key}
        )
        _refused(refused, 409, "payment-quota-exceeded", "payments_per_invoice", 2)
        assert await _counts(admin_database_url) == before
    listed = await billing.api.client.get(
        f"{billing.base}/invoices/{invoice_id}/payments", headers=billing.headers()
    )
    assert listed.status_code == 200
    assert len(listed.json()) == 2  # the live and the deleted payment
    with quotas.using(Quotas(payments_per_invoice=3)):
        retried = await billing.post(
            f"/invoices/{invoice_id}/payments", payment, **{"Idempotency-Key": key}
        )
    assert retried.status_code == 201, retried.text  # the key was not used up


async def test_the_payment_list_is_bounded(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = await billing.draft([{**LINE, "unit_amount": 10_000}])
    invoice_id = draft["id"]
    assert (await billing.post(f"/invoices/{invoice_id}/finalize")).status_code == 200
    payment = {"amount": 1, "currency": "USD", "paid_on": "2026-11-20", "method": "cash"}
    for _ in range(3):
        assert (await billing.post(f"/invoices/{invoice_id}/payments", payment)).is_success
    monkeypatch.setattr(payments_repository, "MAX_LISTED_PAYMENTS", 2)
    listed = await billing.api.client.get(
        f"{billing.base}/invoices/{invoice_id}/payments", headers=billing.headers()
    )
    assert listed.status_code == 200
    assert len(listed.json()) == 2


async def test_idempotent_responses_per_user_by_count_and_by_bytes(
    billing: Billing, admin_database_url: str
) -> None:
    client = billing.api.client

    async def create(name: str, key: str | None) -> Any:
        headers = billing.headers(**({"Idempotency-Key": key} if key else {}))
        return await client.post(f"{billing.base}/customers", json={"name": name}, headers=headers)

    stored = (await _counts(admin_database_url))["idempotency_keys"]
    with quotas.using(Quotas(idempotency_keys_per_user=stored + 2)):
        assert (await create("A", str(uuid.uuid4()))).status_code == 201
        assert (await create("B", str(uuid.uuid4()))).status_code == 201
        before = await _counts(admin_database_url)
        refused = await create("C", str(uuid.uuid4()))
        _refused(
            refused, 409, "idempotency-quota-exceeded", "idempotency_keys_per_user", stored + 2
        )
        assert await _counts(admin_database_url) == before
        assert (await create("C", None)).status_code == 201  # without a key: nothing kept
    conn = await asyncpg.connect(admin_database_url)
    try:
        kept = await conn.fetchval("SELECT sum(octet_length(response_body)) FROM idempotency_keys")
    finally:
        await conn.close()
    with quotas.using(Quotas(idempotency_bytes_per_user=kept + 100)):
        before = await _counts(admin_database_url)
        refused = await create("D" * 200, str(uuid.uuid4()))  # a response of over 200 bytes
        _refused(
            refused, 409, "idempotency-quota-exceeded", "idempotency_bytes_per_user", kept + 100
        )
        assert (await create("D", str(uuid.uuid4()))).status_code == 409  # nor a short one
        assert await _counts(admin_database_url) == before


async def _usage(admin_url: str) -> dict[str, tuple[int, int]]:
    """Each organisation's (invoices, lines) as its usage row keeps them, after checking that
    they are what it stores, counted row by row (no row: nothing stored yet)."""
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            """SELECT o.id, u.invoices AS kept_invoices, u.lines AS kept_lines,
                      (SELECT count(*) FROM invoices i WHERE i.org_id = o.id) AS invoices,
                      (SELECT count(*) FROM invoice_lines l WHERE l.org_id = o.id) AS lines
               FROM organisations o LEFT JOIN organisation_usage u ON u.org_id = o.id"""
        )
    finally:
        await conn.close()
    usage = {}
    for row in rows:
        kept = (row["kept_invoices"] or 0, row["kept_lines"] or 0)
        assert kept == (row["invoices"], row["lines"]), row
        usage[str(row["id"])] = kept
    return usage


async def test_usage_rows_follow_every_write_of_every_organisation(
    billing: Billing, admin_database_url: str
) -> None:
    client = billing.api.client
    other = await make_billing(billing.api, owner="oscar")
    assert (await _usage(admin_database_url)) == {
        billing.org_id: (0, 0),
        other.org_id: (0, 0),
    }
    first = await billing.draft([LINE] * 3)
    second = await billing.draft([LINE] * 2)
    await other.draft([LINE] * 4)
    path = f"{billing.base}/invoices"
    grown = await client.patch(
        f"{path}/{first['id']}", json={"lines": [LINE] * 5}, headers=billing.headers()
    )
    assert grown.status_code == 200, grown.text
    shrunk = await client.patch(
        f"{path}/{second['id']}", json={"lines": [LINE]}, headers=billing.headers()
    )
    assert shrunk.status_code == 200, shrunk.text
    assert (await billing.post(f"/invoices/{first['id']}/finalize")).status_code == 200
    assert (await _usage(admin_database_url)) == {
        billing.org_id: (2, 6),
        other.org_id: (1, 4),
    }
    deleted = await client.delete(f"{path}/{second['id']}", headers=billing.headers())
    assert deleted.status_code == 204, deleted.text
    assert (await _usage(admin_database_url)) == {
        billing.org_id: (1, 5),
        other.org_id: (1, 4),
    }
    # Concurrent creates of one tenant queue on its row, and none is lost or counted twice.
    await asyncio.gather(*(billing.draft([LINE] * 2) for _ in range(12)))
    assert (await _usage(admin_database_url))[billing.org_id] == (13, 29)


async def test_the_app_reads_only_its_tenants_usage_row(
    billing: Billing, test_database: conftest.TestDatabase
) -> None:
    other = await make_billing(billing.api, owner="oscar")
    await billing.draft([LINE] * 2)
    await other.draft([LINE])
    conn = await asyncpg.connect(test_database.url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('penvoice.org_id', $1, true)", billing.org_id)
            rows = await conn.fetch("SELECT org_id, invoices, lines FROM organisation_usage")
        assert [(str(r["org_id"]), r["invoices"], r["lines"]) for r in rows] == [
            (billing.org_id, 1, 2)
        ]
        assert await conn.fetchval("SELECT count(*) FROM organisation_usage") == 0
    finally:
        await conn.close()


async def _idempotency_usage(admin_url: str) -> dict[str, tuple[int, int]]:
    """Each user's (responses, bytes) as their usage row keeps them, after checking that they
    are what idempotency_keys holds (no row: nothing kept)."""
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            """SELECT coalesce(k.subject, u.subject) AS subject,
                      u.responses AS kept_responses, u.bytes AS kept_bytes,
                      coalesce(k.responses, 0) AS responses, coalesce(k.bytes, 0) AS bytes
               FROM (SELECT subject, count(*) AS responses,
                            sum(octet_length(response_body)) AS bytes
                     FROM idempotency_keys GROUP BY subject) k
               FULL JOIN idempotency_usage u ON u.subject = k.subject"""
        )
    finally:
        await conn.close()
    usage = {}
    for row in rows:
        assert row["kept_responses"] is not None, f"no usage row for {row['subject']}"
        kept = (row["kept_responses"], row["kept_bytes"])
        assert kept == (row["responses"], row["bytes"]), row
        usage[row["subject"]] = kept
    return usage


async def test_idempotency_usage_follows_what_each_user_keeps(
    billing: Billing, admin_database_url: str
) -> None:
    client = billing.api.client

    async def create(name: str) -> None:
        response = await client.post(
            f"{billing.base}/customers",
            json={"name": name},
            headers=billing.headers(**{"Idempotency-Key": str(uuid.uuid4())}),
        )
        assert response.status_code == 201, response.text

    await asyncio.gather(*(create(f"Customer {n}") for n in range(6)))
    org = await client.post(
        "/v1/orgs",
        json={"name": "Mallory's"},
        headers=billing.api.auth("mallory") | {"Idempotency-Key": str(uuid.uuid4())},
    )
    assert org.status_code == 201, org.text
    usage = await _idempotency_usage(admin_database_url)
    assert usage["olivia"][0] >= 6
    assert usage["mallory"][0] == 1
    conn = await asyncpg.connect(admin_database_url)
    try:  # the hourly purge, once mallory's response is old enough
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '3 days' "
            "WHERE subject = 'mallory'"
        )
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < now() - interval '48 hours'"
        )
    finally:
        await conn.close()
    after = await _idempotency_usage(admin_database_url)
    assert "mallory" not in after
    assert after["olivia"] == usage["olivia"]


@pytest.mark.parametrize("version", ["000025", "000026"])
async def test_the_migrations_count_what_is_already_stored(
    billing: Billing, test_database: conftest.TestDatabase, version: str
) -> None:
    other = await make_billing(billing.api, owner="oscar")
    await billing.draft([LINE] * 3)
    for of, lines in ((billing, [LINE] * 2), (other, [LINE])):
        created = await of.post(
            "/invoices",
            {"customer_id": of.customer_id, "lines": lines},
            **{"Idempotency-Key": str(uuid.uuid4())},
        )
        assert created.status_code == 201, created.text
    before = await _usage(test_database.admin_url)
    assert before[billing.org_id] == (2, 5)
    responses_before = await _idempotency_usage(test_database.admin_url)
    assert responses_before["oscar"][0] >= 1
    migration = next(MIGRATIONS_DIR.glob(f"{version}_*.up.sql"))
    down = migration.with_name(migration.name.replace(".up.", ".down."))
    conn = await asyncpg.connect(test_database.owner_url)
    try:  # back one version, then up again as the migrations run it: by the owner
        await conn.execute(down.read_text())
        await conn.execute(migration.read_text())
    finally:
        await conn.close()
    assert await _usage(test_database.admin_url) == before
    assert await _idempotency_usage(test_database.admin_url) == responses_before
    await billing.draft([LINE])
    assert (await _usage(test_database.admin_url))[billing.org_id] == (3, 6)


async def _count(admin_url: str, table: str) -> int:
    conn = await asyncpg.connect(admin_url)
    try:
        count: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return count
    finally:
        await conn.close()


async def test_credit_notes_per_invoice(billing: Billing, admin_database_url: str) -> None:
    draft = await billing.draft([{**LINE, "unit_amount": 10_000}])
    invoice_id = draft["id"]
    assert (await billing.post(f"/invoices/{invoice_id}/finalize")).status_code == 200
    path = f"/invoices/{invoice_id}/credit-notes"
    with quotas.using(Quotas(credit_notes_per_invoice=2)):
        for _ in range(2):
            made = await billing.post(path, {"amount": 1})
            assert made.status_code == 201, made.text
        before = (
            await _counts(admin_database_url),
            await _count(admin_database_url, "credit_notes"),
        )
        key = str(uuid.uuid4())
        refused = await billing.post(path, {"amount": 1}, **{"Idempotency-Key": key})
        _refused(refused, 409, "credit-note-quota-exceeded", "credit_notes_per_invoice", 2)
        after = (
            await _counts(admin_database_url),
            await _count(admin_database_url, "credit_notes"),
        )
        assert after == before
    with quotas.using(Quotas(credit_notes_per_invoice=3)):
        retried = await billing.post(path, {"amount": 1}, **{"Idempotency-Key": key})
    assert retried.status_code == 201, retried.text  # the key was not used up


async def test_open_invitations_per_organisation(billing: Billing, admin_database_url: str) -> None:
    path = "/invitations"
    with quotas.using(Quotas(invitations_per_org=2)):
        first = await billing.post(path, {"email": "a@example.com", "role": "member"})
        assert first.status_code == 201, first.text
        assert (await billing.post(path, {"email": "b@example.com", "role": "member"})).is_success
        before = (
            await _counts(admin_database_url),
            await _count(admin_database_url, "invitations"),
        )
        refused = await billing.post(path, {"email": "c@example.com", "role": "member"})
        _refused(refused, 409, "invitation-quota-exceeded", "invitations_per_org", 2)
        after = (await _counts(admin_database_url), await _count(admin_database_url, "invitations"))
        assert after == before
        revoked = await billing.api.client.delete(
            f"{billing.base}/invitations/{first.json()['id']}", headers=billing.headers()
        )
        assert revoked.status_code == 204, revoked.text
        again = await billing.post(path, {"email": "c@example.com", "role": "member"})
        assert again.status_code == 201, again.text  # a revoked invitation no longer counts


async def test_tax_rates_per_organisation_archived_ones_included(
    billing: Billing, admin_database_url: str
) -> None:
    rate = {"display_name": "Extra", "percentage": "7", "inclusive": False}
    with quotas.using(Quotas(tax_rates_per_org=3)):  # the billing fixture made two
        made = await billing.post("/tax-rates", rate)
        assert made.status_code == 201, made.text
        archived = await billing.api.client.patch(
            f"{billing.base}/tax-rates/{made.json()['id']}",
            json={"archived": True},
            headers=billing.headers(),
        )
        assert archived.status_code == 200, archived.text
        before = (await _counts(admin_database_url), await _count(admin_database_url, "tax_rates"))
        refused = await billing.post("/tax-rates", rate)
        _refused(refused, 409, "tax-rate-quota-exceeded", "tax_rates_per_org", 3)
        after = (await _counts(admin_database_url), await _count(admin_database_url, "tax_rates"))
        assert after == before


async def test_customers_per_organisation_archived_ones_included(
    billing: Billing, admin_database_url: str
) -> None:
    client = billing.api.client
    with quotas.using(Quotas(customers_per_org=2)):  # the billing fixture made one
        made = await billing.post("/customers", {"name": "Second"})
        assert made.status_code == 201, made.text
        archived = await client.patch(
            f"{billing.base}/customers/{made.json()['id']}",
            json={"archived": True},
            headers=billing.headers(),
        )
        assert archived.status_code == 200, archived.text
        before = await _counts(admin_database_url)
        key = str(uuid.uuid4())
        refused = await billing.post("/customers", {"name": "Third"}, **{"Idempotency-Key": key})
        _refused(refused, 409, "customer-quota-exceeded", "customers_per_org", 2)
        assert await _counts(admin_database_url) == before
    with quotas.using(Quotas(customers_per_org=3)):
        retried = await billing.post("/customers", {"name": "Third"}, **{"Idempotency-Key": key})
    assert retried.status_code == 201, retried.text  # the key was not used up
