"""The edge's own bounds: rates per principal and per organisation, the body read only
after authentication, and a small body limit for routes that take no lists."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import MutableMapping
from typing import Any

import pytest

from penvoice.config import Settings
from penvoice.dev.issuer import LocalIssuer
from penvoice.web.ratelimit import TokenBuckets
from tests.conftest import Api, app_environ, running_app
from tests.customers.helpers import add_member

pytestmark = pytest.mark.anyio
RATE_LIMITED = "https://penvoice.app/problems/rate-limited"


def test_the_defaults_limit_rates() -> None:
    settings = Settings.from_environ(
        {
            "DB_URL": "postgresql://x@127.0.0.1/x",
            "KC_ISSUER": "http://127.0.0.1:1",
            "KC_AUDIENCE": "a",
        }
    )
    assert settings.rate_limit_per_principal == 50
    assert settings.rate_limit_per_org == 100
    assert settings.max_small_body_bytes == 64 * 1024


def test_a_bucket_refills_at_its_rate_and_forgets_the_least_recent_key() -> None:
    buckets = TokenBuckets(rate=10, burst=2, max_keys=2)
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == 0.0
    wait = buckets.take("a")
    assert 0.0 < wait <= 0.1
    time.sleep(wait + 0.01)
    assert buckets.take("a") == 0.0
    buckets.take("b")
    buckets.take("c")  # "a" was used least recently: forgotten
    assert len(buckets) == 2
    assert buckets.take("a") == 0.0  # a fresh, full bucket


async def test_a_principal_over_its_rate_gets_429_then_recovers(
    database_url: str, issuer: LocalIssuer
) -> None:
    environ = app_environ(
        database_url, issuer, RATE_LIMIT_PER_PRINCIPAL="2", RATE_LIMIT_PRINCIPAL_BURST="3"
    )
    async with running_app(environ) as (_, client):
        headers = {"Authorization": f"Bearer {issuer.mint_token('flooder')}"}
        other = {"Authorization": f"Bearer {issuer.mint_token('neighbour')}"}
        answers = [(await client.get("/v1/me", headers=headers)).status_code for _ in range(4)]
        refused = await client.get("/v1/me", headers=headers)
        neighbour = await client.get("/v1/me", headers=other)
        await asyncio.sleep(float(refused.headers["retry-after"]))
        again = await client.get("/v1/me", headers=headers)
        metrics = (await client.get("/metrics")).text
    assert answers[:3] == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["type"] == RATE_LIMITED
    assert int(refused.headers["retry-after"]) >= 1
    assert neighbour.status_code == 200  # another principal is not affected
    assert again.status_code == 200
    assert 'penvoice_rate_limited_total{scope="principal"}' in metrics
    assert 'penvoice_rate_limited_total{scope="principal"} 0.0' not in metrics


async def test_an_organisation_over_its_rate_gets_429_whoever_asks(
    database_url: str, admin_database_url: str, issuer: LocalIssuer
) -> None:
    environ = app_environ(database_url, issuer, RATE_LIMIT_PER_ORG="1", RATE_LIMIT_ORG_BURST="3")
    async with running_app(environ) as (app, client):
        api = Api(client=client, issuer=issuer, app=app)
        org = await api.create_org("owner-x")
        await add_member(admin_database_url, org["id"], "member-x", "member")
        url = f"/v1/orgs/{org['id']}"
        statuses = [
            (await client.get(url, headers=api.auth("owner-x"))).status_code for _ in range(4)
        ]
        member = await client.get(url, headers=api.auth("member-x"))  # another principal
        other_org = await api.create_org("owner-y")
        elsewhere = await client.get(f"/v1/orgs/{other_org['id']}", headers=api.auth("owner-y"))
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
    assert member.status_code == 429
    assert member.json()["type"] == RATE_LIMITED
    assert elsewhere.status_code == 200


async def test_an_anonymous_body_is_never_read(database_url: str, issuer: LocalIssuer) -> None:
    """A 4 MiB body without a token: 401, and the app never asked for a byte of it."""
    async with running_app(app_environ(database_url, issuer)) as (app, _):
        asked = 0

        async def receive() -> dict[str, Any]:
            nonlocal asked
            asked += 1
            return {"type": "http.request", "body": b"[" * (4 * 1024 * 1024), "more_body": False}

        sent: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/orgs",
            "raw_path": b"/v1/orgs",
            "query_string": b"",
            "http_version": "1.1",
            "scheme": "http",
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(4 * 1024 * 1024).encode()),
            ],
            "server": ("127.0.0.1", 80),
            "client": ("127.0.0.1", 1),
        }
        await app(scope, receive, send)
    assert sent[0]["status"] == 401
    assert asked == 0  # the CPU this saves is measured in docs/reliability.md, not asserted


async def test_routes_without_lists_take_small_bodies_only(api: Api) -> None:
    org = await api.create_org("body-owner")
    big_name = {"name": "x" * (70 * 1024)}
    refused = await api.client.post("/v1/orgs", json=big_name, headers=api.auth("body-owner"))
    assert refused.status_code == 413
    assert refused.headers["connection"] == "close"
    # An invoice's lines may be megabytes: the same size is read and validated there.
    url = f"/v1/orgs/{org['id']}/invoices"
    lines = [{"description": "d" * 1000, "quantity": "1", "unit_amount": 1}] * 70
    body = json.dumps({"customer_id": "00000000-0000-0000-0000-000000000000", "lines": lines})
    assert len(body) > 70 * 1024
    taken = await api.client.post(
        url, content=body, headers={**api.auth("body-owner"), "content-type": "application/json"}
    )
    assert taken.status_code == 422, taken.text  # read and validated: no such customer
