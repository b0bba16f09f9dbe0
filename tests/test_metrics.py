import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from prometheus_client.parser import text_string_to_metric_families

from penvoice.config import Settings
from penvoice.db import Database
from penvoice.dev.issuer import LocalIssuer
from penvoice.metrics import UNMATCHED_ROUTE, HttpMetrics
from penvoice.web.edge import Edge
from tests.conftest import app_environ, running_app

pytestmark = pytest.mark.anyio


def samples(exposition: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def request_count(exposition: str, method: str, route: str, code: str) -> float:
    key = (("code", code), ("method", method), ("route", route))
    return samples(exposition, "http_requests_total").get(key, 0.0)


async def test_nested_router_prefixes_give_the_full_template_never_the_raw_path() -> None:
    invoices = APIRouter()

    @invoices.get("/invoices/{invoice_id}")
    async def get_invoice(invoice_id: int) -> dict[str, int]:
        return {"id": invoice_id}

    @invoices.get("/invoices/{invoice_id}/boom")
    async def boom(invoice_id: int, request: Request) -> None:
        raise RuntimeError("handler failed")

    orgs = APIRouter()
    orgs.include_router(invoices, prefix="/orgs/{org_id}")
    declared = FastAPI()
    declared.include_router(orgs, prefix="/v1")
    metrics = HttpMetrics(version="test", revision="test")
    settings = Settings.from_environ(
        {
            "DB_URL": "postgresql://nobody@127.0.0.1:1/none",
            "KC_ISSUER": "http://127.0.0.1:1",
            "KC_AUDIENCE": "test",
        }
    )

    @asynccontextmanager
    async def no_lifespan(_: Edge) -> AsyncIterator[None]:
        yield

    app = Edge(
        declared,
        database=Database(settings),
        metrics=metrics,
        lifespan=no_lifespan,
        max_body_bytes=1024,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for invoice_id in (1, 2, 3):
            assert (await client.get(f"/v1/orgs/7/invoices/{invoice_id}")).status_code == 200
        assert (await client.get("/v1/orgs/7/invoices/not-a-number")).status_code == 422
        assert (await client.get("/v1/orgs/7/invoices/9/boom")).status_code == 500
        assert (await client.get("/no/such/path/123")).status_code == 404
        assert (await client.delete("/v1/orgs/7/invoices/1")).status_code == 405

    from prometheus_client import generate_latest

    exposition = generate_latest(metrics.registry).decode()
    template = "/v1/orgs/{org_id}/invoices/{invoice_id}"
    assert request_count(exposition, "GET", template, "200") == 3
    assert request_count(exposition, "GET", template, "422") == 1
    assert request_count(exposition, "GET", template + "/boom", "500") == 1
    assert request_count(exposition, "GET", UNMATCHED_ROUTE, "404") == 1
    assert request_count(exposition, "DELETE", template, "405") == 1
    assert "/v1/orgs/7/" not in exposition


async def test_app_metrics_contract(
    database_url: str, admin_database_url: str, issuer: LocalIssuer
) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/v1/me")).status_code == 401
        assert (await client.get("/v1/orgs/123/nothing-here")).status_code == 404
        # A real handler exception: the table /v1/me reads is gone (dropped by a superuser:
        # the app's own role cannot drop it).
        conn = await asyncpg.connect(admin_database_url)
        await conn.execute("DROP TABLE memberships CASCADE")
        await conn.close()
        token = issuer.mint_token("metrics-user")
        failed = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/problem+json"
        assert "memberships" not in failed.text  # no internals leak
        exposition = (await client.get("/metrics")).text

    assert request_count(exposition, "GET", "/healthz", "200") == 1
    assert request_count(exposition, "GET", "/readyz", "200") == 1
    assert request_count(exposition, "GET", "/v1/me", "401") == 1
    assert request_count(exposition, "GET", "/v1/me", "500") == 1
    assert request_count(exposition, "GET", UNMATCHED_ROUTE, "404") == 1
    buckets = samples(exposition, "http_request_duration_seconds_bucket")
    assert any(dict(labels).get("route") == "/readyz" for labels in buckets)
    assert samples(exposition, "penvoice_build_info")
    assert samples(exposition, "penvoice_db_pool_max_connections")[()] == 10
    assert samples(exposition, "process_resident_memory_bytes")


async def test_every_route_is_labelled_with_its_openapi_template(
    database_url: str, issuer: LocalIssuer
) -> None:
    async with running_app(app_environ(database_url, issuer)) as (app, client):
        paths = app.openapi()["paths"]
        for template, operations in paths.items():
            concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", template)
            for method in operations:
                await client.request(method.upper(), concrete)
        exposition = (await client.get("/metrics")).text
    counted = samples(exposition, "http_requests_total").items()
    labelled = {dict(labels)["route"] for labels, value in counted if value > 0}
    assert set(paths) <= labelled
    assert UNMATCHED_ROUTE not in labelled


async def test_every_operation_exposes_its_500_counter_at_zero_before_any_error(
    database_url: str, issuer: LocalIssuer
) -> None:
    """So that `rate()` sees a pod's first 500: a series born at 1 has no increase."""
    async with running_app(app_environ(database_url, issuer)) as (app, client):
        paths = app.openapi()["paths"]
        exposition = (await client.get("/metrics")).text
    errors = {
        (dict(labels)["method"], dict(labels)["route"]): value
        for labels, value in samples(exposition, "http_requests_total").items()
        if dict(labels)["code"] == "500"
    }
    operations = {(m.upper(), path) for path, ops in paths.items() for m in ops}
    assert operations <= set(errors)
    assert set(errors.values()) == {0.0}
    assert ("GET", "/v1/orgs/{org_id}/invoices/{invoice_id}") in errors


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)"
)
@pytest.mark.slow
async def test_exposition_passes_promtool(
    database_url: str, issuer: LocalIssuer, tmp_path: Path
) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        await client.get("/healthz")
        await client.get("/nowhere")
        exposition = (await client.get("/metrics")).text
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
