from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from penvoice.taxes.repository import rates_by_ids
from tests.conftest import Api
from tests.customers.helpers import add_member, event_types, insert_invoice, query

pytestmark = pytest.mark.anyio


def rates_url(org: dict[str, Any]) -> str:
    return f"/v1/orgs/{org['id']}/tax-rates"


async def create(api: Api, org: dict[str, Any], **body: Any) -> Any:
    body = {"display_name": "VAT", "percentage": "19", "inclusive": False, **body}
    response = await api.client.post(rates_url(org), json=body, headers=api.auth("alice"))
    assert response.status_code == 201, response.text
    return response.json()


async def customer_of(api: Api, org: dict[str, Any]) -> str:
    response = await api.client.post(
        f"/v1/orgs/{org['id']}/customers", json={"name": "Ana"}, headers=api.auth("alice")
    )
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


async def test_create_get_update_delete(api: Api, admin_database_url: str) -> None:
    org = await api.create_org("alice")
    created = await api.client.post(
        rates_url(org),
        json={"display_name": "VAT 19 %", "percentage": "19", "inclusive": True},
        headers={**api.auth("alice"), "Idempotency-Key": "vat-1"},
    )
    assert created.status_code == 201, created.text
    rate = created.json()
    assert rate["percentage"] == "19.0000"
    assert rate["inclusive"] is True
    assert rate["archived"] is False
    assert created.headers["etag"] == '"1"'
    location = created.headers["location"]
    assert location == f"{rates_url(org)}/{rate['id']}"
    replay = await api.client.post(
        rates_url(org),
        json={"display_name": "VAT 19 %", "percentage": "19", "inclusive": True},
        headers={**api.auth("alice"), "Idempotency-Key": "vat-1"},
    )
    assert replay.json() == rate
    assert replay.headers["idempotent-replayed"] == "true"

    got = await api.client.get(location, headers=api.auth("alice"))
    assert got.json() == rate
    assert got.headers["etag"] == '"1"'
    patched = await api.client.patch(
        location,
        json={"display_name": "Reduced VAT", "percentage": "7.5", "inclusive": False},
        headers={**api.auth("alice"), "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["percentage"] == "7.5000"
    assert patched.json()["display_name"] == "Reduced VAT"
    assert patched.json()["inclusive"] is False
    assert patched.headers["etag"] == '"2"'
    stale = await api.client.patch(
        location, json={"display_name": "Lost"}, headers={**api.auth("alice"), "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    rows = await query(admin_database_url, "SELECT display_name, percentage::text FROM tax_rates")
    assert [tuple(r) for r in rows] == [("Reduced VAT", "7.5000")]

    deleted = await api.client.delete(location, headers=api.auth("alice"))
    assert deleted.status_code == 204
    assert (await api.client.get(location, headers=api.auth("alice"))).status_code == 404
    assert await query(admin_database_url, "SELECT id FROM tax_rates") == []
    assert await event_types(admin_database_url, rate["id"]) == [
        "tax_rate.created",
        "tax_rate.updated",
        "tax_rate.deleted",
    ]


@pytest.mark.parametrize(
    ("percentage", "stored"),
    [("0", "0.0000"), ("100", "100.0000"), ("100.0000", "100.0000"), ("12.3456", "12.3456")],
)
async def test_percentage_bounds_accepted(api: Api, percentage: str, stored: str) -> None:
    org = await api.create_org("alice")
    assert (await create(api, org, percentage=percentage))["percentage"] == stored


async def test_percentage_must_be_a_string_from_0_to_100_with_4_places(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    rate = await create(api, org)
    rejected: list[Any] = [
        19,
        19.5,
        "100.00001",
        "100.0001",
        "101",
        "-1",
        "1.23456",
        "1e2",
        "NaN",
        "١٩",  # Arabic-Indic digits: the OpenAPI pattern allows ASCII digits only
        "１９",  # fullwidth digits
        "1٩.5",
        " 5",
        "5.",
        ".5",
        "",
        None,
        True,
    ]
    for value in rejected:
        response = await api.client.post(
            rates_url(org),
            json={"display_name": "Bad", "percentage": value, "inclusive": False},
            headers=api.auth("alice"),
        )
        assert response.status_code == 422, (value, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["body.percentage"], value
    for body in [{"percentage": 7}, {"percentage": "-1"}, {"inclusive": "true"}, {"x": 1}]:
        response = await api.client.patch(
            f"{rates_url(org)}/{rate['id']}", json=body, headers=api.auth("alice")
        )
        assert response.status_code == 422, (body, response.text)
    missing = await api.client.post(
        rates_url(org),
        json={"display_name": "No flag", "percentage": "5"},
        headers=api.auth("alice"),
    )
    assert missing.status_code == 422
    rows = await query(admin_database_url, "SELECT percentage::text, version FROM tax_rates")
    assert [tuple(r) for r in rows] == [("19.0000", 1)]


async def test_the_openapi_document_says_percentage_is_a_string(api: Api) -> None:
    schemas = (await api.client.get("/openapi.json")).json()["components"]["schemas"]
    create_schema = schemas["TaxRateCreate"]["properties"]["percentage"]
    assert create_schema["type"] == "string"
    assert "pattern" in create_schema
    assert schemas["TaxRate"]["properties"]["percentage"]["type"] == "string"


async def test_pagination_and_archived_filter(api: Api) -> None:
    org = await api.create_org("alice")
    ids = [(await create(api, org, display_name=f"Rate {i}"))["id"] for i in range(7)]
    archive = await api.client.patch(
        f"{rates_url(org)}/{ids[0]}", json={"archived": True}, headers=api.auth("alice")
    )
    assert archive.json()["archived"] is True
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await api.client.get(rates_url(org), params=params, headers=api.auth("alice"))
        assert page.status_code == 200, page.text
        seen += [r["id"] for r in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert cursor is None
    assert seen == list(reversed(ids[1:]))
    archived = await api.client.get(
        rates_url(org), params={"archived": "true"}, headers=api.auth("alice")
    )
    assert [r["id"] for r in archived.json()["items"]] == [ids[0]]
    bad = await api.client.get(rates_url(org), params={"cursor": "%%%"}, headers=api.auth("alice"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.cursor"


async def test_only_admins_write_and_non_members_get_404(api: Api, admin_database_url: str) -> None:
    org = await api.create_org("alice")
    await add_member(admin_database_url, org["id"], "mia", "member")
    await add_member(admin_database_url, org["id"], "vic", "viewer")
    await add_member(admin_database_url, org["id"], "ada", "admin")
    rate = await create(api, org)
    url = f"{rates_url(org)}/{rate['id']}"
    body = {"display_name": "X", "percentage": "1", "inclusive": False}
    for who in ("mia", "vic"):
        headers = api.auth(who)
        assert (await api.client.get(url, headers=headers)).status_code == 200
        assert (await api.client.get(rates_url(org), headers=headers)).status_code == 200
        assert (
            await api.client.post(rates_url(org), json=body, headers=headers)
        ).status_code == 403
        patch = await api.client.patch(url, json={"display_name": "X"}, headers=headers)
        assert patch.status_code == 403
        assert (await api.client.delete(url, headers=headers)).status_code == 403
    mallory = api.auth("mallory")
    for response in [
        await api.client.post(rates_url(org), json=body, headers=mallory),
        await api.client.get(rates_url(org), headers=mallory),
        await api.client.get(url, headers=mallory),
        await api.client.patch(url, json={"display_name": "X"}, headers=mallory),
        await api.client.delete(url, headers=mallory),
    ]:
        assert response.status_code == 404
    rows = await query(admin_database_url, "SELECT display_name, version FROM tax_rates")
    assert [tuple(r) for r in rows] == [("VAT", 1)]
    by_admin = await api.client.patch(url, json={"display_name": "Ada's"}, headers=api.auth("ada"))
    assert by_admin.status_code == 200


async def test_rates_used_by_a_finalized_invoice_are_frozen(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    customer_id = await customer_of(api, org)
    draft_rate = await create(api, org, display_name="Draft-only")
    used_rate = await create(api, org, display_name="Used", percentage="19.0")
    unused_rate = await create(api, org, display_name="Unused")
    await insert_invoice(admin_database_url, org["id"], customer_id, tax_rate_id=draft_rate["id"])
    await insert_invoice(
        admin_database_url, org["id"], customer_id, status="open", tax_rate_id=used_rate["id"]
    )
    headers = api.auth("alice")
    draft_url, used_url = (
        f"{rates_url(org)}/{draft_rate['id']}",
        f"{rates_url(org)}/{used_rate['id']}",
    )

    # Only drafts use it: the percentage may still change.
    changed = await api.client.patch(draft_url, json={"percentage": "16"}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["percentage"] == "16.0000"

    for body in [
        {"percentage": "16"},
        {"inclusive": True},
        {"display_name": "Y", "percentage": "1"},
    ]:
        frozen = await api.client.patch(used_url, json=body, headers=headers)
        assert frozen.status_code == 409, body
        assert "archive it and create a new one" in frozen.json()["detail"]
    same = await api.client.patch(used_url, json={"percentage": "19"}, headers=headers)
    assert same.status_code == 200  # not a change
    renamed = await api.client.patch(
        used_url, json={"display_name": "VAT (old)", "archived": True}, headers=headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["archived"] is True
    assert renamed.json()["percentage"] == "19.0000"
    assert renamed.json()["inclusive"] is False

    for url in (draft_url, used_url):
        refused = await api.client.delete(url, headers=headers)
        assert refused.status_code == 409
        assert "archive" in refused.json()["detail"]
    unused = await api.client.delete(f"{rates_url(org)}/{unused_rate['id']}", headers=headers)
    assert unused.status_code == 204

    rows = await query(
        admin_database_url,
        "SELECT display_name, percentage::text, inclusive, version FROM tax_rates ORDER BY 1",
    )
    assert [tuple(r) for r in rows] == [
        ("Draft-only", "16.0000", False, 2),
        ("VAT (old)", "19.0000", False, 2),
    ]
    assert await event_types(admin_database_url, used_rate["id"]) == [
        "tax_rate.created",
        "tax_rate.updated",
        "tax_rate.archived",
    ]


async def test_rates_by_ids_is_scoped_to_the_organisation(
    api: Api, admin_database_url: str
) -> None:
    org, other = await api.create_org("alice"), await api.create_org("bob")
    mine = await create(api, org, percentage="7.5")
    theirs = await api.client.post(
        rates_url(other),
        json={"display_name": "Bob's", "percentage": "5", "inclusive": True},
        headers=api.auth("bob"),
    )
    wanted = [UUID(mine["id"]), UUID(theirs.json()["id"])]
    # As superuser, past row-level security: the query's own org filter must hold.
    conn = await asyncpg.connect(admin_database_url)
    try:
        found = await rates_by_ids(conn, UUID(str(org["id"])), wanted, lock=True)
        none = await rates_by_ids(conn, UUID(str(org["id"])), [])
    finally:
        await conn.close()
    assert list(found) == [UUID(mine["id"])]
    assert found[UUID(mine["id"])].percentage == Decimal("7.5")
    assert found[UUID(mine["id"])].archived_at is None
    assert none == {}


async def test_the_openapi_patterns_mean_the_same_to_python_and_to_clients(api: Api) -> None:
    """JSON Schema patterns are ECMA-262 regexes, where `\\d` and `\\w` are ASCII; Python's
    `re` gives them Unicode meaning, so a pattern checked by the server with them would
    accept more than the document says. Digits are spelled `[0-9]`."""
    patterns: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(api.app.openapi())
    assert patterns
    assert [p for p in patterns if "\\d" in p or "\\w" in p] == []
