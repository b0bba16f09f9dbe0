import base64
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from penvoice.customers.repository import get_customer
from tests.conftest import Api
from tests.customers.helpers import add_member, event_types, insert_invoice, query

pytestmark = pytest.mark.anyio


def customers_url(org: dict[str, Any]) -> str:
    return f"/v1/orgs/{org['id']}/customers"


async def create(api: Api, org: dict[str, Any], who: str = "alice", **body: Any) -> Any:
    response = await api.client.post(customers_url(org), json=body, headers=api.auth(who))
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_get_update_delete(api: Api, admin_database_url: str) -> None:
    org = await api.create_org("alice")
    await add_member(admin_database_url, org["id"], "mia", "member")
    created = await api.client.post(
        customers_url(org),
        json={
            "name": "Ana Lima Studio",
            "email": "Ana@Example.com",
            "billing_address": "Rua 1\n1000-001 Lisboa",
            "tax_id": "PT123456789",
            "currency": "USD",
            "notes": "pays late",
        },
        headers={**api.auth("mia"), "Idempotency-Key": "ana-1"},
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["email"] == "ana@example.com"
    assert customer["currency"] == "USD"
    assert customer["archived"] is False
    assert customer["archived_at"] is None
    assert customer["version"] == 1
    assert created.headers["etag"] == '"1"'
    location = created.headers["location"]
    assert location == f"{customers_url(org)}/{customer['id']}"

    replay = await api.client.post(
        customers_url(org),
        json={
            "name": "Ana Lima Studio",
            "email": "Ana@Example.com",
            "billing_address": "Rua 1\n1000-001 Lisboa",
            "tax_id": "PT123456789",
            "currency": "USD",
            "notes": "pays late",
        },
        headers={**api.auth("mia"), "Idempotency-Key": "ana-1"},
    )
    assert replay.status_code == 201
    assert replay.json() == customer
    assert replay.headers["idempotent-replayed"] == "true"

    got = await api.client.get(location, headers=api.auth("alice"))
    assert got.status_code == 200
    assert got.json() == customer
    assert got.headers["etag"] == '"1"'

    patched = await api.client.patch(
        location,
        json={"name": "Ana Lima Lda", "currency": None, "email": "ana@lima.pt"},
        headers={**api.auth("mia"), "If-Match": got.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Ana Lima Lda"
    assert patched.json()["currency"] is None
    assert patched.json()["email"] == "ana@lima.pt"
    assert patched.json()["tax_id"] == "PT123456789"
    assert patched.json()["version"] == 2
    assert patched.headers["etag"] == '"2"'

    same = await api.client.patch(location, json={"name": "Ana Lima Lda"}, headers=api.auth("mia"))
    assert same.json()["version"] == 2  # nothing changed, nothing bumped

    deleted = await api.client.delete(
        location, headers={**api.auth("mia"), "If-Match": patched.headers["etag"]}
    )
    assert deleted.status_code == 204
    assert (await api.client.get(location, headers=api.auth("alice"))).status_code == 404
    assert await query(admin_database_url, "SELECT id FROM customers") == []
    assert await event_types(admin_database_url, customer["id"]) == [
        "customer.created",
        "customer.updated",
        "customer.deleted",
    ]


async def test_pages_cover_every_customer_once_even_with_equal_timestamps(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    ids = [(await create(api, org, name=f"Customer {i}"))["id"] for i in range(7)]
    # Newest first, created_at then id: equal timestamps must still page without gaps.
    same_time = datetime(2025, 1, 1, tzinfo=UTC)
    await query(
        admin_database_url, "UPDATE customers SET created_at = $1 WHERE id = ANY($2::uuid[])",
        same_time, [UUID(i) for i in ids[:4]],
    )  # fmt: skip
    expected = [*reversed(ids[4:]), *sorted(ids[:4], key=UUID, reverse=True)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await api.client.get(customers_url(org), params=params, headers=api.auth("alice"))
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert seen == expected

    for bad in ["not-a-cursor!", base64.urlsafe_b64encode(b'["x"]').decode(), "e30"]:
        response = await api.client.get(
            customers_url(org), params={"cursor": bad}, headers=api.auth("alice")
        )
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"] == "query.cursor"


async def test_filters_archived_email_and_name(api: Api) -> None:
    org = await api.create_org("alice")
    pure = await create(api, org, name="100% Pure", email="Sales@Pure.example")
    await create(api, org, name="1000 Pure")
    under = await create(api, org, name="a_b Ltd")
    await create(api, org, name="axb Ltd")
    gone = await create(api, org, name="Gone Pure")
    archive = await api.client.patch(
        f"{customers_url(org)}/{gone['id']}", json={"archived": True}, headers=api.auth("alice")
    )
    assert archive.json()["archived"] is True
    assert archive.json()["archived_at"] is not None

    async def names(**params: Any) -> list[str]:
        response = await api.client.get(
            customers_url(org), params=params, headers=api.auth("alice")
        )
        assert response.status_code == 200, response.text
        return sorted(c["name"] for c in response.json()["items"])

    assert await names() == ["100% Pure", "1000 Pure", "a_b Ltd", "axb Ltd"]
    assert await names(archived="true") == ["Gone Pure"]
    assert await names(q="pure") == ["100% Pure", "1000 Pure"]
    assert await names(q="100%") == ["100% Pure"]
    assert await names(q="a_b") == ["a_b Ltd"]
    assert await names(q="pure", archived="true") == ["Gone Pure"]
    assert await names(email="SALES@pure.EXAMPLE") == [pure["name"]]
    assert await names(email="sales@pure") == []
    assert under["email"] is None


async def test_duplicate_email_is_a_conflict_and_writes_nothing(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    other_org = await api.create_org("bob")
    first = await create(api, org, name="Ana", email="ana@example.com")
    await create(api, org, name="No email 1")
    await create(api, org, name="No email 2")  # many customers may lack an email
    await create(api, other_org, who="bob", name="Ana elsewhere", email="ana@example.com")

    duplicate = await api.client.post(
        customers_url(org),
        json={"name": "Ana again", "email": "ANA@Example.COM"},
        headers={**api.auth("alice"), "Idempotency-Key": "dup-1"},
    )
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["errors"][0]["field"] == "body.email"
    second = await create(api, org, name="Bea", email="bea@example.com")
    clash = await api.client.patch(
        f"{customers_url(org)}/{second['id']}",
        json={"email": "Ana@example.com", "name": "Renamed"},
        headers=api.auth("alice"),
    )
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "body.email"

    rows = await query(
        admin_database_url, "SELECT name, email, version FROM customers WHERE org_id = $1 "
        "ORDER BY name", UUID(str(org["id"])),
    )  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("Ana", "ana@example.com", 1),
        ("Bea", "bea@example.com", 1),
        ("No email 1", None, 1),
        ("No email 2", None, 1),
    ]
    keys = await query(admin_database_url, "SELECT key FROM idempotency_keys WHERE key = 'dup-1'")
    assert keys == []
    assert await event_types(admin_database_url, second["id"]) == ["customer.created"]
    assert first["email"] == "ana@example.com"


async def test_stale_if_match_is_412_and_changes_nothing(api: Api, admin_database_url: str) -> None:
    org = await api.create_org("alice")
    customer = await create(api, org, name="Ana")
    url = f"{customers_url(org)}/{customer['id']}"
    ok = await api.client.patch(
        url, json={"notes": "v2"}, headers={**api.auth("alice"), "If-Match": '"1"'}
    )
    assert ok.status_code == 200
    stale = await api.client.patch(
        url, json={"name": "Lost update"}, headers={**api.auth("alice"), "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"2"'
    stale_delete = await api.client.delete(url, headers={**api.auth("alice"), "If-Match": '"1"'})
    assert stale_delete.status_code == 412
    malformed = await api.client.patch(
        url, json={"name": "X"}, headers={**api.auth("alice"), "If-Match": "2"}
    )
    assert malformed.status_code == 422
    rows = await query(admin_database_url, "SELECT name, notes, version FROM customers")
    assert [tuple(r) for r in rows] == [("Ana", "v2", 2)]


async def test_roles_viewers_read_only_and_non_members_see_nothing(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    await add_member(admin_database_url, org["id"], "vic", "viewer")
    customer = await create(api, org, name="Ana")
    url = f"{customers_url(org)}/{customer['id']}"
    vic, mallory = api.auth("vic"), api.auth("mallory")

    assert (await api.client.get(customers_url(org), headers=vic)).status_code == 200
    assert (await api.client.get(url, headers=vic)).status_code == 200
    writes = [
        api.client.post(customers_url(org), json={"name": "Viewer's"}, headers=vic),
        api.client.patch(url, json={"name": "Viewer's"}, headers=vic),
        api.client.delete(url, headers=vic),
    ]
    for write in writes:
        assert (await write).status_code == 403

    every_route = [
        api.client.post(customers_url(org), json={"name": "Mallory's"}, headers=mallory),
        api.client.get(customers_url(org), headers=mallory),
        api.client.get(url, headers=mallory),
        api.client.patch(url, json={"name": "Mallory's"}, headers=mallory),
        api.client.delete(url, headers=mallory),
    ]
    for request in every_route:
        response = await request
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    # A member of another organisation cannot reach this customer through their own org.
    theirs = await api.create_org("mallory")
    assert (await api.client.get(url, headers=api.auth("alice"))).status_code == 200
    cross = f"{customers_url(theirs)}/{customer['id']}"
    assert (await api.client.get(cross, headers=mallory)).status_code == 404
    assert (await api.client.delete(cross, headers=mallory)).status_code == 404

    rows = await query(admin_database_url, "SELECT name, version FROM customers")
    assert [tuple(r) for r in rows] == [("Ana", 1)]


async def test_invoiced_customers_are_archived_not_deleted(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    customer = await create(api, org, name="Ana")
    url = f"{customers_url(org)}/{customer['id']}"
    await insert_invoice(admin_database_url, org["id"], customer["id"])

    refused = await api.client.delete(url, headers=api.auth("alice"))
    assert refused.status_code == 409
    assert "archive" in refused.json()["detail"]
    assert len(await query(admin_database_url, "SELECT id FROM customers")) == 1

    archived = await api.client.patch(url, json={"archived": True}, headers=api.auth("alice"))
    assert archived.status_code == 200
    assert archived.json()["archived"] is True
    listed = await api.client.get(customers_url(org), headers=api.auth("alice"))
    assert listed.json()["items"] == []
    restored = await api.client.patch(url, json={"archived": False}, headers=api.auth("alice"))
    assert restored.json()["archived"] is False
    assert restored.json()["archived_at"] is None
    assert await event_types(admin_database_url, customer["id"]) == [
        "customer.created",
        "customer.archived",
        "customer.unarchived",
    ]


async def test_invalid_input_is_422_naming_the_field(api: Api, admin_database_url: str) -> None:
    org = await api.create_org("alice")
    customer = await create(api, org, name="Ana")
    url = f"{customers_url(org)}/{customer['id']}"
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("post", {"name": "A", "colour": "red"}, "body.colour"),
        ("post", {"name": ""}, "body.name"),
        ("post", {"name": "A", "email": "not-an-email"}, "body.email"),
        ("post", {"name": "A", "currency": "XAU"}, "body.currency"),
        ("patch", {"name": None}, "body.name"),
        ("patch", {"archived": "yes"}, "body.archived"),
        ("patch", {"notes": "x" * 5001}, "body.notes"),
    ]
    for method, body, field in cases:
        target = customers_url(org) if method == "post" else url
        response = await api.client.request(method, target, json=body, headers=api.auth("alice"))
        assert response.status_code == 422, (body, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    bad_id = await api.client.get(f"{customers_url(org)}/nope", headers=api.auth("alice"))
    assert bad_id.status_code == 422
    rows = await query(admin_database_url, "SELECT name, version FROM customers")
    assert [tuple(r) for r in rows] == [("Ana", 1)]


async def test_get_customer_is_scoped_to_the_organisation(
    api: Api, admin_database_url: str
) -> None:
    org, other = await api.create_org("alice"), await api.create_org("bob")
    customer = await create(api, org, name="Ana", email="ana@example.com", currency="JPY")
    # As superuser, past row-level security: the query's own org filter must hold.
    conn = await asyncpg.connect(admin_database_url)
    try:
        row = await get_customer(conn, UUID(str(org["id"])), UUID(customer["id"]))
        elsewhere = await get_customer(conn, UUID(str(other["id"])), UUID(customer["id"]))
    finally:
        await conn.close()
    assert row is not None
    assert (row.name, row.email, row.currency, row.archived_at) == (
        "Ana",
        "ana@example.com",
        "JPY",
        None,
    )
    assert elsewhere is None
