import asyncio

import pytest

from tests.conftest import Api

pytestmark = pytest.mark.anyio


async def test_create_org_makes_the_creator_owner_and_records_an_event(api: Api) -> None:
    org = await api.create_org("alice", default_currency="JPY", invoice_prefix="A-")
    assert org["default_currency"] == "JPY"
    assert org["next_invoice_number"] == 1
    me = (await api.client.get("/v1/me", headers=api.auth("alice"))).json()
    assert me["memberships"] == [{"org_id": org["id"], "org_name": org["name"], "role": "owner"}]
    events = await api.client.get(f"/v1/orgs/{org['id']}/events", headers=api.auth("alice"))
    assert [e["type"] for e in events.json()["items"]] == ["org.created"]


async def test_settings_update_with_etag_and_raise_only_numbering(api: Api) -> None:
    org = await api.create_org("alice")
    url = f"/v1/orgs/{org['id']}"
    got = await api.client.get(url, headers=api.auth("alice"))
    etag = got.headers["etag"]
    ok = await api.client.patch(
        url,
        json={"payment_terms_days": 30, "next_invoice_number": 100},
        headers={**api.auth("alice"), "If-Match": etag},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["next_invoice_number"] == 100
    assert ok.headers["etag"] != etag
    stale = await api.client.patch(
        url, json={"name": "X"}, headers={**api.auth("alice"), "If-Match": etag}
    )
    assert stale.status_code == 412
    lower = await api.client.patch(url, json={"next_invoice_number": 5}, headers=api.auth("alice"))
    assert lower.status_code == 422
    assert lower.json()["errors"][0]["field"] == "body.next_invoice_number"
    unknown = await api.client.patch(url, json={"colour": "red"}, headers=api.auth("alice"))
    assert unknown.status_code == 422
    bad_currency = await api.client.patch(
        url, json={"default_currency": "XAU"}, headers=api.auth("alice")
    )
    assert bad_currency.status_code == 422
    assert (await api.client.get(url, headers=api.auth("alice"))).json()["name"] == org["name"]


async def test_non_members_get_404_and_viewers_cannot_write(api: Api) -> None:
    org = await api.create_org("alice")
    url = f"/v1/orgs/{org['id']}"
    assert (await api.client.get(url, headers=api.auth("mallory"))).status_code == 404
    invite = await api.client.post(
        f"{url}/invitations",
        json={"email": "Vic@Example.com", "role": "viewer"},
        headers=api.auth("alice"),
    )
    assert invite.status_code == 201, invite.text
    assert invite.json()["email"] == "vic@example.com"
    # The wrong (or unverified) email cannot accept.
    wrong = await api.client.post(
        f"/v1/invitations/{invite.json()['id']}/accept",
        headers=api.auth("mallory", email="mallory@example.com"),
    )
    assert wrong.status_code == 404
    unverified = await api.client.post(
        f"/v1/invitations/{invite.json()['id']}/accept",
        headers=api.auth("vic", email="vic@example.com", email_verified=False),
    )
    assert unverified.status_code == 404
    vic = api.auth("vic", email="VIC@example.com")
    mine = await api.client.get("/v1/invitations", headers=vic)
    assert [i["id"] for i in mine.json()] == [invite.json()["id"]]
    accepted = await api.client.post(f"/v1/invitations/{invite.json()['id']}/accept", headers=vic)
    assert accepted.status_code == 200, accepted.text
    assert (await api.client.get(url, headers=vic)).status_code == 200
    assert (await api.client.patch(url, json={"name": "V"}, headers=vic)).status_code == 403
    again = await api.client.post(f"/v1/invitations/{invite.json()['id']}/accept", headers=vic)
    assert again.status_code == 409


async def test_the_last_owner_cannot_leave_and_removed_members_lose_access(api: Api) -> None:
    org = await api.create_org("alice")
    url = f"/v1/orgs/{org['id']}"
    demote = await api.client.patch(
        f"{url}/members/alice", json={"role": "admin"}, headers=api.auth("alice")
    )
    assert demote.status_code == 409
    leave = await api.client.delete(f"{url}/members/alice", headers=api.auth("alice"))
    assert leave.status_code == 409
    invite = await api.client.post(
        f"{url}/invitations",
        json={"email": "bob@example.com", "role": "admin"},
        headers=api.auth("alice"),
    )
    bob = api.auth("bob", email="bob@example.com")
    await api.client.post(f"/v1/invitations/{invite.json()['id']}/accept", headers=bob)
    promote = await api.client.patch(f"{url}/members/bob", json={"role": "owner"}, headers=bob)
    assert promote.status_code == 403  # admins cannot mint owners
    removed = await api.client.delete(f"{url}/members/bob", headers=api.auth("alice"))
    assert removed.status_code == 204
    assert (await api.client.get(url, headers=bob)).status_code == 404


async def test_create_org_is_idempotent(api: Api) -> None:
    headers = {**api.auth("alice"), "Idempotency-Key": "create-acme-1"}
    first = await api.client.post("/v1/orgs", json={"name": "Acme"}, headers=headers)
    again = await api.client.post("/v1/orgs", json={"name": "Acme"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert again.headers["idempotent-replayed"] == "true"
    different = await api.client.post("/v1/orgs", json={"name": "Other"}, headers=headers)
    assert different.status_code == 422
    assert different.json()["errors"][0]["field"] == "header.Idempotency-Key"
    concurrent_key = {**api.auth("alice"), "Idempotency-Key": "create-beta-1"}
    results = await asyncio.gather(
        *[
            api.client.post("/v1/orgs", json={"name": "Beta"}, headers=concurrent_key)
            for _ in range(8)
        ]
    )
    assert {r.status_code for r in results} <= {201, 409}
    bodies = {r.content for r in results if r.status_code == 201}
    assert len(bodies) == 1
    me = (await api.client.get("/v1/me", headers=api.auth("alice"))).json()
    assert sorted(m["org_name"] for m in me["memberships"]) == ["Acme", "Beta"]
