"""SIGKILL a real `penvoice worker` in the middle of a webhook delivery: the next worker
delivers it again, with the same webhook-id (at least once), and nothing is lost."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.conftest import Api
from tests.jobs.helpers import worker_process
from tests.webhooks.conftest import FAST, eventually, new_org
from tests.webhooks.receiver import receiver

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_killed_mid_delivery_the_next_worker_delivers_the_same_webhook_id(
    hook_api: Api, database_url: str
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        state.stall_first = True  # holds the first request open: the worker is mid-delivery
        await org.call("POST", "/customers", {"name": "One"})
        await org.call("POST", "/customers", {"name": "Two"})
        with worker_process(database_url, **FAST) as first:
            assert await asyncio.to_thread(state.stalled.wait, 60), first.output()
            first.process.send_signal(signal.SIGKILL)
            assert first.process.wait(10) == -signal.SIGKILL
        state.release.set()
        with worker_process(database_url, **FAST) as second:

            async def delivered() -> bool:
                messages = await org.messages(endpoint["id"])
                return [m["status"] for m in messages] == ["delivered", "delivered"]

            await eventually(delivered, timeout=60)
            assert second.stop() == 0
        messages = await org.messages(endpoint["id"])
    arrived = [r.headers["webhook-id"] for r in state.received]
    first_id, second_id = (m["id"] for m in messages)
    assert arrived == [first_id, first_id, second_id]  # again, same id, then in order
    assert [r.verdict for r in state.received] == [0, 204, 204]  # 0: the stalled request
    assert messages[0]["attempts"] == 1  # the killed attempt never got recorded
