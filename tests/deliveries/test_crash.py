"""SIGKILL a real `penvoice worker` mid-send: the mail arrives once and no job is lost.

Two places to die: before DATA (the server stalls at RCPT: nothing can have arrived, so the
next worker sends it, with the same Message-ID) and after the server took the message but
before it answered (the next worker cannot know, so it never sends again: `unknown`)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

import asyncpg
import pytest

from tests.conftest import Api
from tests.deliveries.smtp_sink import SmtpSink
from tests.deliveries.test_send import deliveries, open_invoice, send
from tests.invoices.conftest import make_billing
from tests.jobs.helpers import eventually, worker_process

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def queue_rows(admin_database_url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(admin_database_url)
    try:
        rows = await conn.fetch("SELECT entrypoint, status::text FROM pgqueuer")
    finally:
        await conn.close()
    return [(r[0], r[1]) for r in rows]


async def kill_mid_send(
    api: Api, database_url: str, admin_database_url: str, stall: str
) -> tuple[SmtpSink, dict[str, Any], str]:
    billing = await make_billing(api)
    invoice = await open_invoice(billing)
    sink = SmtpSink()
    with sink:
        setattr(sink.handler, stall, True)
        response = await send(billing, invoice["id"])
        assert response.status_code == 202, response.text
        message_id = response.json()["recipients"][0]["message_id"]
        with worker_process(database_url, **sink.environ()) as first:
            assert await asyncio.to_thread(sink.handler.stalled.wait, 60), first.output()
            first.process.send_signal(signal.SIGKILL)
            assert first.process.wait(10) == -signal.SIGKILL
        # the job is still there, picked by a worker that is gone
        assert await queue_rows(admin_database_url) == [("invoices.send_email", "picked")]
        with worker_process(database_url, **sink.environ()) as second:
            latest: dict[str, Any] = {}

            async def finished() -> bool:
                nonlocal latest
                latest = (await deliveries(billing, invoice["id"]))[0]
                return latest["finished_at"] is not None

            await eventually(finished, timeout=60)
            assert second.stop() == 0
        assert await queue_rows(admin_database_url) == []  # done, not lost, not parked
    return sink, latest, message_id


async def test_killed_before_data_the_next_worker_sends_it_once(
    api: Api, database_url: str, admin_database_url: str
) -> None:
    sink, delivery, message_id = await kill_mid_send(
        api, database_url, admin_database_url, "stall_at_rcpt"
    )
    (arrived,) = sink.arrived
    assert arrived.message["Message-ID"] == message_id
    assert delivery["status"] == "sent"
    (recipient,) = delivery["recipients"]
    assert (recipient["state"], recipient["attempts"]) == ("sent", 2)


async def test_killed_during_data_it_is_never_sent_twice(
    api: Api, database_url: str, admin_database_url: str
) -> None:
    sink, delivery, message_id = await kill_mid_send(
        api, database_url, admin_database_url, "stall_after_data"
    )
    (arrived,) = sink.arrived  # it had arrived; the second worker did not send it again
    assert arrived.message["Message-ID"] == message_id
    assert delivery["status"] == "unknown"
    (recipient,) = delivery["recipients"]
    assert recipient["state"] == "unknown"
    assert recipient["attempts"] == 1
    assert "may have been accepted" in recipient["smtp_response"]
    assert uuid.UUID(delivery["id"])
