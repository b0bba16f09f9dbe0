"""A hostile tenant's receiver against the shared worker, through a real worker and a real
HTTP receiver: a huge answer is read no further than the log keeps."""

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
