"""An API that allows loopback webhook targets (the receivers of these tests), and a worker
that delivers webhooks in-process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from penvoice.dev.issuer import LocalIssuer
from penvoice.jobs.worker import Worker
from penvoice.webhooks.job import DELIVER_WEBHOOKS, SWEEP_WEBHOOKS
from tests.conftest import Api, app_environ, running_app
from tests.jobs.helpers import eventually, worker_settings

ALLOW = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
FAST = {
    **ALLOW,
    "WEBHOOK_RETRY_FIRST_DELAY_SECONDS": "0.05",
    "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "0.1",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
}


@pytest.fixture
async def hook_api(database_url: str, issuer: LocalIssuer) -> AsyncIterator[Api]:
    async with running_app(app_environ(database_url, issuer, **ALLOW)) as (app, client):
        yield Api(client=client, issuer=issuer, app=app)


@dataclass
class Org:
    api: Api
    id: str
    owner: str = "wendy"

    @property
    def base(self) -> str:
        return f"/v1/orgs/{self.id}"

    def headers(self) -> dict[str, str]:
        return {**self.api.auth(self.owner), "Idempotency-Key": str(uuid.uuid4())}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.api.client.request(
            method, f"{self.base}{path}", json=body, headers=self.headers()
        )
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def endpoint(self, url: str, **body: Any) -> dict[str, Any]:
        created: dict[str, Any] = await self.call(
            "POST", "/webhook-endpoints", {"url": url, **body}
        )
        return created

    async def messages(self, endpoint_id: str) -> list[dict[str, Any]]:
        log = await self.call("GET", f"/webhook-endpoints/{endpoint_id}/messages")
        items: list[dict[str, Any]] = log["items"]
        return list(reversed(items))  # oldest first


async def new_org(api: Api) -> Org:
    org = await api.create_org("wendy", default_currency="EUR")
    return Org(api, str(org["id"]))


@asynccontextmanager
async def delivering(database_url: str, **env: str) -> AsyncIterator[Worker]:
    settings = worker_settings(database_url, **{**FAST, **env})
    worker = Worker(settings, [DELIVER_WEBHOOKS], periodic=[SWEEP_WEBHOOKS])
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


__all__ = ["Org", "delivering", "eventually", "new_org"]
