"""A PDF renders after the request's transaction: no pooled connection is held while the CPU
works, and at most `RenderSlots` renders run at once; a request that waits too long for its
turn is a 503 with `Retry-After`, never a hang."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from penvoice.documents import router as documents
from penvoice.documents.router import RenderSlots
from tests.documents.conftest import finalized, get_pdf, read_pdf
from tests.invoices.conftest import Billing

pytestmark = pytest.mark.anyio


class HeldRenders:
    """Wraps the real renderer: each render waits in its worker thread until released."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self._real = documents._render

    def __call__(self, *args: Any) -> bytes:
        self.started.release()
        self.release.wait(timeout=10)
        return self._real(*args)

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.acquire, True, 10)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldRenders:
    """Every PDF of the test renders only once `held.release` is set."""
    renders = HeldRenders()
    monkeypatch.setattr(documents, "_render", renders)
    return renders


async def test_no_database_connection_is_held_while_a_pdf_renders(
    billing: Billing, held: HeldRenders
) -> None:
    invoice = await finalized(billing)
    request = asyncio.create_task(get_pdf(billing, invoice["id"]))
    await held.wait_started()
    pool = billing.api.app.state.database.pool_state()
    held.release.set()
    response = await request

    assert pool is not None
    opened, idle, _ = pool
    assert opened >= 1
    assert idle == opened  # every open connection is back in the pool during the render
    read_pdf(response)


async def test_a_render_that_finds_no_free_slot_in_time_is_a_503(
    billing: Billing, held: HeldRenders
) -> None:
    invoice = await finalized(billing)
    billing.api.app.state.render_slots = RenderSlots(slots=1, wait_seconds=0.2)
    first = asyncio.create_task(get_pdf(billing, invoice["id"]))
    await held.wait_started()
    turned_away = await get_pdf(billing, invoice["id"])
    held.release.set()
    rendered = await first
    after = await get_pdf(billing, invoice["id"])

    assert turned_away.status_code == 503, turned_away.text
    assert turned_away.headers["content-type"] == "application/problem+json"
    assert turned_away.headers["retry-after"] == "1"
    assert "rendered right now" in turned_away.json()["detail"]
    assert read_pdf(rendered).text == read_pdf(after).text
