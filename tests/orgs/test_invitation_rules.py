"""Invitations: expired ones are visible, revocable and replaceable; two at once are a 409,
never a 500; an invitation does not outlive its inviter's authority; and viewers do not
read invitees' emails and roles in the event trail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Api
from tests.customers.helpers import add_member, query

pytestmark = pytest.mark.anyio


async def invite(api: Api, org: dict[str, Any], by: str, email: str, role: str = "member") -> Any:
    return await api.client.post(
        f"/v1/orgs/{org['id']}/invitations", json={"email": email, "role": role},
        headers=api.auth(by),
    )  # fmt: skip


async def expire(url: str, invitation_id: str) -> None:
    await query(
        url,
        "UPDATE invitations SET expires_at = now() - interval '1 day', "
        "created_at = now() - interval '15 days' WHERE id = $1::uuid",
        invitation_id,
    )


async def test_an_expired_invitation_is_listed_revocable_and_replaced_by_a_new_one(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    url = f"/v1/orgs/{org['id']}/invitations"
    first = await invite(api, org, "alice", "ivy@example.com")
    assert first.status_code == 201, first.text
    await expire(admin_database_url, first.json()["id"])
    listed = (await api.client.get(url, headers=api.auth("alice"))).json()
    assert [(i["id"], i["status"]) for i in listed] == [(first.json()["id"], "expired")]
    # Re-inviting the same email replaces the expired invitation: no 500, no 409.
    second = await invite(api, org, "alice", "ivy@example.com")
    assert second.status_code == 201, second.text
    assert second.json()["status"] == "pending"
    listed = (await api.client.get(url, headers=api.auth("alice"))).json()
    assert [(i["id"], i["status"]) for i in listed] == [(second.json()["id"], "pending")]
    # An expired one can be revoked too.
    await expire(admin_database_url, second.json()["id"])
    revoked = await api.client.delete(f"{url}/{second.json()['id']}", headers=api.auth("alice"))
    assert revoked.status_code == 204, revoked.text
    assert (await api.client.get(url, headers=api.auth("alice"))).json() == []
    # The invitee cannot accept an expired invitation.
    third = await invite(api, org, "alice", "ivy@example.com")
    await expire(admin_database_url, third.json()["id"])
    accepted = await api.client.post(
        f"/v1/invitations/{third.json()['id']}/accept",
        headers=api.auth("ivy", email="ivy@example.com"),
    )
    assert accepted.status_code == 404


async def test_two_invitations_at_once_are_one_201_and_one_409(api: Api) -> None:
    org = await api.create_org("alice")
    results = await asyncio.gather(
        *[invite(api, org, "alice", "twin@example.com") for _ in range(4)]
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409], [r.text for r in results]
    conflict = next(r for r in results if r.status_code == 409).json()
    assert conflict["type"] == "https://penvoice.app/problems/invitation-pending"


async def test_a_removed_admins_pending_invitations_are_revoked(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    await add_member(admin_database_url, org["id"], "eve", "admin")
    sneaky = await invite(api, org, "eve", "eve2@example.com", "admin")
    assert sneaky.status_code == 201, sneaky.text
    removed = await api.client.delete(
        f"/v1/orgs/{org['id']}/members/eve", headers=api.auth("alice")
    )
    assert removed.status_code == 204, removed.text
    accepted = await api.client.post(
        f"/v1/invitations/{sneaky.json()['id']}/accept",
        headers=api.auth("eve-2", email="eve2@example.com"),
    )
    assert accepted.status_code == 404, accepted.text
    listed = await api.client.get(f"/v1/orgs/{org['id']}/invitations", headers=api.auth("alice"))
    assert listed.json() == []
    events = await api.client.get(
        f"/v1/orgs/{org['id']}/events", params={"type": "invitation.revoked"},
        headers=api.auth("alice"),
    )  # fmt: skip
    [event] = events.json()["items"]
    assert event["data"] == {"email": "eve2@example.com", "reason": "inviter removed"}


async def test_a_demoted_members_invitations_end_with_their_authority(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    await add_member(admin_database_url, org["id"], "ola", "owner")
    await add_member(admin_database_url, org["id"], "ada", "admin")
    owner_made = await invite(api, org, "ola", "boss@example.com", "owner")
    admin_made = await invite(api, org, "ola", "adm@example.com", "admin")
    by_admin = await invite(api, org, "ada", "mem@example.com", "member")
    assert {r.status_code for r in (owner_made, admin_made, by_admin)} == {201}
    members = f"/v1/orgs/{org['id']}/members"
    # Ola, demoted to admin, may no longer grant owner: that invitation ends, the other stays.
    demoted = await api.client.patch(
        f"{members}/ola", json={"role": "admin"}, headers=api.auth("alice")
    )
    assert demoted.status_code == 200, demoted.text
    # Ada, demoted to member, may no longer invite at all.
    demoted = await api.client.patch(
        f"{members}/ada", json={"role": "member"}, headers=api.auth("alice")
    )
    assert demoted.status_code == 200, demoted.text
    listed = await api.client.get(f"/v1/orgs/{org['id']}/invitations", headers=api.auth("alice"))
    assert [i["email"] for i in listed.json()] == ["adm@example.com"]
    for made, who in ((owner_made, "boss"), (by_admin, "mem")):
        refused = await api.client.post(
            f"/v1/invitations/{made.json()['id']}/accept",
            headers=api.auth(who, email=f"{who}@example.com"),
        )
        assert refused.status_code == 404, refused.text


async def test_accepting_checks_the_inviters_authority_still_holds(
    api: Api, admin_database_url: str
) -> None:
    """Even an invitation left pending by other means (an older release) is refused once
    its inviter cannot grant its role."""
    org = await api.create_org("alice")
    await add_member(admin_database_url, org["id"], "ada", "admin")
    made = await invite(api, org, "ada", "late@example.com", "admin")
    await query(
        admin_database_url,
        "UPDATE memberships SET role = 'viewer' WHERE subject = 'ada' AND org_id = $1::uuid",
        org["id"],
    )
    refused = await api.client.post(
        f"/v1/invitations/{made.json()['id']}/accept",
        headers=api.auth("late", email="late@example.com"),
    )
    assert refused.status_code == 404, refused.text


async def test_viewers_do_not_read_invitees_in_the_event_trail(
    api: Api, admin_database_url: str
) -> None:
    org = await api.create_org("alice")
    await add_member(admin_database_url, org["id"], "vic", "viewer")
    await add_member(admin_database_url, org["id"], "mia", "member")
    made = await invite(api, org, "alice", "secret-hire@example.com", "admin")
    await api.client.delete(
        f"/v1/orgs/{org['id']}/invitations/{made.json()['id']}", headers=api.auth("alice")
    )
    url = f"/v1/orgs/{org['id']}/events"
    for reader in ("vic", "mia"):
        response = await api.client.get(url, headers=api.auth(reader))
        assert response.status_code == 200, response.text
        assert "secret-hire" not in response.text, reader
        invitation_events = [
            e for e in response.json()["items"] if e["subject_type"] == "invitation"
        ]
        assert len(invitation_events) == 2
        assert all(e["data"] == {} for e in invitation_events)
    admin_view = await api.client.get(url, headers=api.auth("alice"))
    assert "secret-hire@example.com" in admin_view.text
