"""Webhook endpoints per organisation are bounded (QUOTA_WEBHOOK_ENDPOINTS_PER_ORG): every
event is written once per subscribed endpoint in the event's own statement, so the bound is
also what one write of a tenant can fan out to."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from penvoice import quotas
from penvoice.quotas import Quotas
from tests.conftest import Api
from tests.webhooks.conftest import new_org

pytestmark = pytest.mark.anyio

TARGET = "https://93.184.216.34/hook"  # a public address: accepted, never contacted here


async def _stored(admin_url: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(admin_url)
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM webhook_endpoints) AS endpoints,
                      (SELECT count(*) FROM webhook_secrets) AS secrets,
                      (SELECT count(*) FROM events) AS events"""
        )
        assert row is not None
        return row["endpoints"], row["secrets"], row["events"]
    finally:
        await conn.close()


async def test_endpoints_per_organisation_disabled_ones_included(
    api: Api, admin_database_url: str
) -> None:
    org = await new_org(api)
    with quotas.using(Quotas(webhook_endpoints_per_org=2)):
        first = await org.endpoint(TARGET)
        await org.endpoint(TARGET + "/2")
        await org.call("PATCH", f"/webhook-endpoints/{first['id']}", {"enabled": False})
        before = await _stored(admin_database_url)
        key = str(uuid.uuid4())
        refused = await api.client.post(
            f"{org.base}/webhook-endpoints",
            json={"url": TARGET + "/3"},
            headers={**api.auth(org.owner), "Idempotency-Key": key},
        )
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"] == "https://penvoice.app/problems/webhook-endpoint-quota-exceeded"
        assert (problem["quota"], problem["limit"]) == ("webhook_endpoints_per_org", 2)
        assert await _stored(admin_database_url) == before  # no endpoint, secret or event
        other = await new_org(api)  # the bound is each organisation's
        await other.endpoint(TARGET)
        await org.call("DELETE", f"/webhook-endpoints/{first['id']}")
        retried = await api.client.post(
            f"{org.base}/webhook-endpoints",
            json={"url": TARGET + "/3"},
            headers={**api.auth(org.owner), "Idempotency-Key": key},
        )
    assert retried.status_code == 201, retried.text  # the key was not used up
    listed = await org.call("GET", "/webhook-endpoints")
    assert len(listed["items"]) == 2
