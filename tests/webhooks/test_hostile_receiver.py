"""A hostile tenant's receiver against the shared worker, through a real worker and a real
HTTP receiver: a huge answer is read no further than the log keeps, and an answer trickled
byte by byte is cut at the attempt's deadline."""

from __future__ import annotations

from typing import Any

import pytest

from penvoice.webhooks.job import MAX_RESPONSE_BYTES
from tests.conftest import Api
from tests.webhooks.conftest import Org, delivering, eventually, new_org
from tests.webhooks.receiver import receiver

pytestmark = pytest.mark.anyio

HUGE = 50_000_000


async def logged(org: Org, endpoint_id: str, status: str) -> dict[str, Any]:
    """The endpoint's only message once it has this status."""
    message: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal message
        (message,) = await org.messages(endpoint_id)
        return bool(message["status"] == status)

    await eventually(reached)
    return message


async def first_attempt(org: Org, endpoint_id: str) -> dict[str, Any]:
    """The endpoint's only message once an attempt is logged."""
    message: dict[str, Any] = {}

    async def tried() -> bool:
        nonlocal message
        (message,) = await org.messages(endpoint_id)
        return bool(message["log"])

    await eventually(tried)
    return message


async def test_a_huge_answer_is_read_no_further_than_the_log_keeps(
    hook_api: Api, database_url: str
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        state.huge_body = HUGE
        await org.call("POST", "/customers", {"name": "One"})
        async with delivering(database_url):
            message = await logged(org, endpoint["id"], "delivered")
    (attempt,) = message["log"]
    assert attempt["response_status"] == 200
    assert attempt["response_body"] == ("0123456789" * HUGE)[:MAX_RESPONSE_BYTES]
    assert state.sent < HUGE // 5, state.sent  # the rest was never read (kernel buffers aside)


@pytest.mark.parametrize("body_only", [False, True], ids=["from-status-line", "body-only"])
async def test_a_trickled_answer_is_cut_at_the_attempt_deadline(
    hook_api: Api, database_url: str, body_only: bool
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        state.trickle_every = 0.2  # well within the per-read timeout: 2,040 bytes take 408 s
        state.trickle_body_only = body_only
        await org.call("POST", "/customers", {"name": "One"})
        async with delivering(database_url, WEBHOOK_TIMEOUT_SECONDS="1"):
            message = await first_attempt(org, endpoint["id"])
    attempt = message["log"][0]
    assert attempt["error"] == "DeadlineExceeded: no full answer in 1 s"
    assert attempt["response_status"] == (200 if body_only else None)
    assert attempt["response_body"] is None
    assert 1000 <= attempt["duration_ms"] < 5000
    assert state.sent < 40  # about five bytes a second until the worker hung up
    assert message["status"] != "delivered"  # a 200 whose answer never ended is no delivery
