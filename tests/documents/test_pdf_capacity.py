"""A PDF renders after the request's transaction, in the render worker process: no pooled
connection is held while it works, and one render runs at a time; a request that waits
longer than `PDF_RENDER_WAIT_SECONDS` for its turn is a 503 with `Retry-After`, never a hang."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from penvoice.dev.issuer import LocalIssuer
from penvoice.documents import render
from tests.conftest import Api, app_environ, running_app
from tests.documents.conftest import finalized, get_pdf, read_pdf
from tests.invoices.conftest import Billing, make_billing

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # renders start the worker process


class HeldRenders:
    """Wraps the real render: each waits, before it reaches the worker, until released."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self._real = render.RenderWorker._render_in_worker

    async def __call__(self, worker: render.RenderWorker, *args: Any) -> bytes:
        self.started.set()
        await asyncio.wait_for(self.release.wait(), 10)
        body: bytes = await self._real(worker, *args)
        return body


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldRenders:
    """Every PDF of the test renders only once `held.release` is set."""
    renders = HeldRenders()

    async def in_worker(worker: render.RenderWorker, *args: Any) -> bytes:
        return await renders(worker, *args)

    monkeypatch.setattr(render.RenderWorker, "_render_in_worker", in_worker)
    return renders


@pytest.fixture
async def impatient(database_url: str, issuer: LocalIssuer) -> AsyncIterator[Billing]:
    """The app with a 0.2 s wait for a render's turn."""
    environ = app_environ(database_url, issuer, PDF_RENDER_WAIT_SECONDS="0.2")
    async with running_app(environ) as (app, client):
        yield await make_billing(Api(client=client, issuer=issuer, app=app))


async def test_no_database_connection_is_held_while_a_pdf_renders(
    impatient: Billing, held: HeldRenders
) -> None:
    invoice = await finalized(impatient)
    request = asyncio.create_task(get_pdf(impatient, invoice["id"]))
    await asyncio.wait_for(held.started.wait(), 10)
    pool = impatient.api.app.state.database.pool_state()
    held.release.set()
    response = await request

    assert pool is not None
    opened, idle, _ = pool
    assert opened >= 1
    assert idle == opened  # every open connection is back in the pool during the render
    read_pdf(response)


async def test_a_render_that_finds_no_turn_in_time_is_a_503(
    impatient: Billing, held: HeldRenders
) -> None:
    invoice = await finalized(impatient)
    other = await finalized(impatient)  # not cached: it needs the worker
    first = asyncio.create_task(get_pdf(impatient, invoice["id"]))
    await asyncio.wait_for(held.started.wait(), 10)
    turned_away = await get_pdf(impatient, other["id"])
    held.release.set()
    rendered = await first
    after = await get_pdf(impatient, invoice["id"])

    assert turned_away.status_code == 503, turned_away.text
    assert turned_away.headers["content-type"] == "application/problem+json"
    assert turned_away.headers["retry-after"] == "1"
    assert "rendered right now" in turned_away.json()["detail"]
    assert read_pdf(rendered).text == read_pdf(after).text
