"""A hostile tenant's receiver against the shared worker, through a real worker and a real
HTTP receiver: a huge answer is read no further than the log keeps, an answer trickled byte
by byte is cut at the attempt's deadline, and a slow receiver with messages to spare gives up
its job slot once the job's budget is spent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from penvoice.db import Database
from penvoice.documents.render import Renderer, RenderLimits
from penvoice.jobs.kinds import JobContext
from penvoice.webhooks import repository
from penvoice.webhooks.job import MAX_RESPONSE_BYTES, deliver_endpoint
from tests.conftest import Api
from tests.jobs.helpers import worker_settings
from tests.webhooks.conftest import FAST, Org, delivering, eventually, new_org
from tests.webhooks.receiver import receiver

pytestmark = pytest.mark.anyio

HUGE = 50_000_000


async def only_message(
    org: Org, endpoint_id: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The endpoint's only message, once `ready` holds for it."""
    message: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal message
        (message,) = await org.messages(endpoint_id)
        return ready(message)

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
            message = await only_message(org, endpoint["id"], lambda m: m["status"] == "delivered")
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
            message = await only_message(org, endpoint["id"], lambda m: bool(m["log"]))
    attempt = message["log"][0]
    assert attempt["error"] == "DeadlineExceeded: no full answer in 1 s"
    assert attempt["response_status"] == (200 if body_only else None)
    assert attempt["response_body"] is None
    assert 1000 <= attempt["duration_ms"] < 5000
    assert state.sent < 40  # about five bytes a second until the worker hung up
    assert message["status"] != "delivered"  # a 200 whose answer never ended is no delivery


async def test_a_job_ends_past_its_budget_and_the_sweep_delivers_the_rest_in_order(
    hook_api: Api, database_url: str
) -> None:
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        state.answer_delay = 0.3  # a slow 2xx: 12 messages take 3.6 s, three budgets
        for n in range(12):
            await org.call("POST", "/customers", {"name": f"Customer {n}"})
        budget = {"WEBHOOK_JOB_BUDGET_SECONDS": "1"}
        settings = worker_settings(database_url, **FAST, **budget)
        database = Database(settings, application_name="penvoice-worker")
        await database.open()
        try:
            payload: dict[str, object] = {"org_id": org.id, "endpoint_id": endpoint["id"]}
            renderer = Renderer(RenderLimits.of(settings), CollectorRegistry())  # never started
            context = JobContext(database, settings, attempt=0, renderer=renderer)
            await deliver_endpoint(context, payload)
            first_run = len(state.delivered_ids)
            other = await asyncpg.connect(database_url)  # another worker's session
            try:
                assert await repository.try_lock_endpoint(other, UUID(endpoint["id"]))
            finally:
                await other.close()
        finally:
            await database.close(timeout=5)
        assert 1 <= first_run <= 4  # the fourth delivery ends 1.2 s in at the earliest
        messages = await org.messages(endpoint["id"])
        statuses = [m["status"] for m in messages]
        assert statuses == ["delivered"] * first_run + ["pending"] * (12 - first_run)
        async with delivering(database_url, **budget):

            async def all_delivered() -> bool:
                return [m["status"] for m in await org.messages(endpoint["id"])] == [
                    "delivered"
                ] * 12

            await eventually(all_delivered)
    assert state.delivered_ids == [m["id"] for m in messages]  # each once, in event order
