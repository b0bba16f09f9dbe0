"""Webhooks delivered by a real worker to a real HTTP receiver that verifies them with the
standardwebhooks library: signed, in event order, filtered by type, retried with backoff,
given up, endpoints disabled after sustained failure, secrets rotated with overlap, manual
re-sends, redirects not followed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from penvoice.webhooks.job import signed_headers
from tests.conftest import Api
from tests.webhooks.conftest import Org, delivering, eventually, new_org
from tests.webhooks.receiver import ReceiverState, receiver

pytestmark = pytest.mark.anyio


async def settled(org: Org, endpoint_id: str, count: int, status: str = "delivered") -> list[Any]:
    messages: list[dict[str, Any]] = []

    async def done() -> bool:
        nonlocal messages
        messages = await org.messages(endpoint_id)
        return len([m for m in messages if m["status"] == status]) >= count

    await eventually(done)
    return messages


async def test_signed_ordered_filtered_and_verified_by_the_receiver(
    hook_api: Api, database_url: str
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created", "customer.updated"])
        state.secrets = [endpoint["secret"]]
        assert endpoint["secret"].startswith("whsec_")
        first = await org.call("POST", "/customers", {"name": "First"})
        second = await org.call("POST", "/customers", {"name": "Second"})
        await org.call("PATCH", f"/customers/{first['id']}", {"notes": "VIP"})
        await org.call(  # not subscribed
            "POST", "/tax-rates", {"display_name": "VAT", "percentage": "19", "inclusive": False}
        )
        async with delivering(database_url):
            messages = await settled(org, endpoint["id"], 3)

        assert [m["event_type"] for m in messages] == [
            "customer.created",
            "customer.created",
            "customer.updated",
        ]
        assert [r.verdict for r in state.received] == [204, 204, 204]
        assert state.delivered_ids == [m["id"] for m in messages]  # in event order
        bodies = [json.loads(r.body) for r in state.received]
        subjects = [b["data"]["subject"]["id"] for b in bodies]
        assert subjects == [first["id"], second["id"], first["id"]]
        assert [b["data"]["event_id"] for b in bodies] == sorted(m["event_id"] for m in messages)
        assert bodies[2]["type"] == "customer.updated"
        assert bodies[2]["data"]["actor"] == "wendy"
        assert bodies[2]["data"]["data"] == {"notes": "VIP"}
        (attempt,) = messages[0]["log"]
        assert (attempt["response_status"], attempt["response_body"]) == (204, "")
        delivered = state.received[0]
        webhook_headers = {k: v for k, v in delivered.headers.items() if k.startswith("webhook-")}

        # The receiver rejects what was not signed by Penvoice, or was signed before.
        async with httpx.AsyncClient() as client:
            tampered = delivered.body.replace(b"First", b"Fiirst")
            answer = await client.post(url, content=tampered, headers=webhook_headers)
            assert answer.status_code == 401
            replayed = await client.post(url, content=delivered.body, headers=webhook_headers)
            assert replayed.status_code == 409
            stale_headers = signed_headers(
                "msg_" + "0" * 32,
                delivered.body,
                [endpoint["secret"]],
                datetime.now(UTC) - timedelta(minutes=10),
            )
            stale = await client.post(url, content=delivered.body, headers=stale_headers)
            assert stale.status_code == 401
            forged = signed_headers(
                "msg_" + "1" * 32, delivered.body, ["whsec_" + "A" * 43 + "="], datetime.now(UTC)
            )
            assert (
                await client.post(url, content=delivered.body, headers=forged)
            ).status_code == 401


async def test_failures_are_retried_in_order_and_logged_with_their_responses(
    hook_api: Api, database_url: str
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        state.script = [500, 503]  # the first message fails twice, then goes through
        await org.call("POST", "/customers", {"name": "One"})
        await org.call("POST", "/customers", {"name": "Two"})
        async with delivering(database_url):
            messages = await settled(org, endpoint["id"], 2)
        first, second = messages
        ids = [r.headers["webhook-id"] for r in state.received]
        assert ids == [first["id"]] * 3 + [second["id"]]  # the second waited behind the first
        assert [r.verdict for r in state.received] == [500, 503, 204, 204]
        assert [a["response_status"] for a in first["log"]] == [500, 503, 204]
        assert first["log"][0]["response_body"] == "verdict 500"
        assert first["attempts"] == 3
        stamps = [int(r.headers["webhook-timestamp"]) for r in state.received[:3]]
        assert stamps == sorted(stamps)  # signed afresh on each attempt, same webhook-id
        shown = await org.call("GET", f"/webhook-endpoints/{endpoint['id']}")
        assert shown["failing_since"] is None  # a success clears it


async def test_a_message_is_given_up_after_its_attempts_and_the_next_goes_on(
    hook_api: Api, database_url: str
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        state.script = [500, 500]
        await org.call("POST", "/customers", {"name": "One"})
        await org.call("POST", "/customers", {"name": "Two"})
        async with delivering(database_url, WEBHOOK_MAX_ATTEMPTS="2"):
            messages = await settled(org, endpoint["id"], 1)
        assert [m["status"] for m in messages] == ["failed", "delivered"]
        assert messages[0]["attempts"] == 2


async def test_sustained_failure_disables_the_endpoint_until_re_enabled(
    hook_api: Api, database_url: str
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        state.script = [500] * 1000
        await org.call("POST", "/customers", {"name": "One"})
        path = f"/webhook-endpoints/{endpoint['id']}"
        async with delivering(database_url, WEBHOOK_DISABLE_AFTER_SECONDS="0.5"):

            async def disabled() -> bool:
                return not (await org.call("GET", path))["enabled"]

            await eventually(disabled)
            shown = await org.call("GET", path)
            assert shown["disabled_reason"].startswith("no successful delivery for")
            assert shown["failing_since"] is not None
            trail = await org.call("GET", "/events?type=webhook_endpoint.disabled")
            assert [e["subject_id"] for e in trail["items"]] == [endpoint["id"]]
            tries = len(state.received)
            state.script.clear()
            enabled = await org.call("PATCH", path, {"enabled": True})
            assert (enabled["enabled"], enabled["failing_since"]) == (True, None)
            (message,) = await settled(org, endpoint["id"], 1)
        assert len(state.received) > tries
        assert message["status"] == "delivered"


async def test_redirects_are_not_followed(hook_api: Api, database_url: str) -> None:
    org = await new_org(hook_api)
    with receiver() as (elsewhere, elsewhere_url), receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        state.redirect_to = elsewhere_url
        await org.call("POST", "/customers", {"name": "One"})
        async with delivering(database_url):

            async def tried_twice() -> bool:
                (message,) = await org.messages(endpoint["id"])
                return len(message["log"]) >= 2

            await eventually(tried_twice)
        (message,) = await org.messages(endpoint["id"])
        assert message["status"] == "pending"
        assert message["log"][0]["response_status"] == 302
        assert message["log"][0]["error"] == "redirects are not followed"
        assert elsewhere.received == []


async def test_secret_rotation_signs_with_both_during_the_overlap(
    hook_api: Api, database_url: str
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        old = endpoint["secret"]
        path = f"/webhook-endpoints/{endpoint['id']}/rotate-secret"
        new = (await org.call("POST", path, {"overlap_seconds": 3600}))["secret"]
        assert new != old
        state.secrets = [old]  # a receiver that has not switched yet still verifies
        await org.call("POST", "/customers", {"name": "During the overlap"})
        async with delivering(database_url):
            await settled(org, endpoint["id"], 1)
            during = state.received[-1]
            assert len(during.headers["webhook-signature"].split(" ")) == 2
            assert only_verifies(state, during, new)
            newest = (await org.call("POST", path, {"overlap_seconds": 0}))["secret"]
            state.secrets = [newest]
            await org.call("POST", "/customers", {"name": "After"})
            await settled(org, endpoint["id"], 2)
        after = state.received[-1]
        assert after.verdict == 204
        assert len(after.headers["webhook-signature"].split(" ")) == 1  # no overlap asked
        assert only_verifies(state, after, newest)
        assert not only_verifies(state, after, old)
        assert not only_verifies(state, after, new)


async def test_rotating_again_during_an_overlap_keeps_two_secrets_signing(
    hook_api: Api, database_url: str, admin_database_url: str
) -> None:
    """Each rotation ends the overlap of the one before: however often an endpoint is
    rotated, a delivery carries two signatures and two secrets are stored."""
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        path = f"/webhook-endpoints/{endpoint['id']}/rotate-secret"
        secrets = [endpoint["secret"]]
        for _ in range(5):
            secrets.append((await org.call("POST", path, {"overlap_seconds": 3600}))["secret"])
        state.secrets = secrets[-2:]
        await org.call("POST", "/customers", {"name": "After five rotations"})
        async with delivering(database_url):
            await settled(org, endpoint["id"], 1)
        (delivered,) = state.received
    assert delivered.verdict == 204
    assert len(delivered.headers["webhook-signature"].split(" ")) == 2
    assert only_verifies(state, delivered, secrets[-1])
    assert only_verifies(state, delivered, secrets[-2])
    assert not any(only_verifies(state, delivered, old) for old in secrets[:-2])
    conn = await asyncpg.connect(admin_database_url)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM webhook_secrets WHERE endpoint_id = $1", UUID(endpoint["id"])
        )
    finally:
        await conn.close()
    assert stored == 2


def only_verifies(state: ReceiverState, received: Any, secret: str) -> bool:
    checker = ReceiverState(secrets=[secret])
    return checker.verify(received.body, received.headers) == 204


async def test_a_manual_resend_delivers_again_with_the_same_webhook_id(
    hook_api: Api, database_url: str
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        await org.call("POST", "/customers", {"name": "One"})
        async with delivering(database_url):
            (message,) = await settled(org, endpoint["id"], 1)
            state.accepted_ids.clear()  # this receiver takes the same id once more
            path = f"/webhook-endpoints/{endpoint['id']}/messages/{message['id']}/resend"
            resent = await org.call("POST", path)
            assert resent["items"][0]["status"] == "pending"

            async def twice() -> bool:
                return len(state.delivered_ids) == 2

            await eventually(twice)
        assert state.delivered_ids == [message["id"], message["id"]]
        trail = await org.call("GET", "/events?type=webhook_endpoint.message_resent")
        assert trail["items"][0]["data"] == {"message_id": message["id"]}


async def test_the_log_shows_the_latest_attempts_and_resending_a_pending_one_keeps_its_count(
    hook_api: Api, admin_database_url: str
) -> None:
    """Resends add attempts without end: the log shows each message's latest 20. Resending a
    message still pending makes it due now but keeps its attempts, so WEBHOOK_MAX_ATTEMPTS
    still ends it; a failed one starts afresh."""
    org = await new_org(hook_api)
    endpoint = await org.endpoint(
        "https://93.184.216.34/hook", event_types=["customer.created"]
    )  # never contacted here
    await org.call("POST", "/customers", {"name": "One"})
    path = f"/webhook-endpoints/{endpoint['id']}/messages"
    (message_id,) = [m["id"] for m in (await org.call("GET", path))["items"]]
    conn = await asyncpg.connect(admin_database_url)
    try:
        await conn.executemany(
            """INSERT INTO webhook_attempts (org_id, message_id, error, duration_ms)
               VALUES ($1, $2, $3, 1)""",
            [(UUID(org.id), message_id, f"error {n}") for n in range(25)],
        )
        await conn.execute("UPDATE webhook_messages SET attempts = 3 WHERE id = $1", message_id)
        (logged,) = (await org.call("GET", path))["items"]
        assert [attempt["error"] for attempt in logged["log"]] == [
            f"error {n}" for n in range(5, 25)
        ]
        (resent,) = (await org.call("POST", f"{path}/{message_id}/resend"))["items"]
        assert (resent["id"], resent["status"], resent["attempts"]) == (message_id, "pending", 3)
        assert len(resent["log"]) == 20
        await conn.execute(
            "UPDATE webhook_messages SET status = 'failed' WHERE id = $1", message_id
        )
        (fresh,) = (await org.call("POST", f"{path}/{message_id}/resend"))["items"]
        assert (fresh["status"], fresh["attempts"]) == ("pending", 0)
    finally:
        await conn.close()
