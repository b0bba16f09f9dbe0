"""Problem+json for errors the framework produces, CORS, request ids, headers."""

import re

import pytest

from penvoice.dev.issuer import LocalIssuer
from penvoice.errors import PROBLEM_BASE
from penvoice.migrate.files import latest_version
from penvoice.schema import SCHEMA_VERSION
from tests.conftest import MIGRATIONS_DIR, Api, app_environ, running_app

pytestmark = pytest.mark.anyio


def test_schema_version_is_the_newest_migration() -> None:
    assert latest_version(MIGRATIONS_DIR) == SCHEMA_VERSION


async def test_unknown_route_and_wrong_method_are_problems(
    database_url: str, issuer: LocalIssuer
) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        unknown = await client.get("/v2/nothing")
        wrong_method = await client.delete("/healthz")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"] == PROBLEM_BASE + "not-found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == PROBLEM_BASE + "method-not-allowed"
    assert "allow" in wrong_method.headers


async def test_request_id_is_kept_or_made_and_headers_are_safe(
    database_url: str, issuer: LocalIssuer
) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        kept = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
        made = [(await client.get("/healthz")).headers["x-request-id"] for _ in range(50)]
    assert kept.headers["x-request-id"] == "abc-123"
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    for request_id in [unsafe.headers["x-request-id"], *made]:
        assert re.fullmatch("[0-9a-f]{32}", request_id), request_id
    assert len({unsafe.headers["x-request-id"], *made}) == 51
    assert kept.headers["x-content-type-options"] == "nosniff"
    assert "server" not in kept.headers


async def test_cors_allows_only_configured_origins(database_url: str, issuer: LocalIssuer) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        preflight = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        }
        allowed = await client.options(
            "/v1/me", headers={"Origin": "https://test.penvoice.app", **preflight}
        )
        refused = await client.options(
            "/v1/me", headers={"Origin": "https://evil.example", **preflight}
        )
        simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://test.penvoice.app"
    # A bearer-token API: no cookies, so no credentials over CORS (issue 17).
    assert "access-control-allow-credentials" not in allowed.headers
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_openapi_documents_every_route_completely(
    database_url: str, issuer: LocalIssuer
) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    platform = {"/healthz", "/readyz", "/metrics"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), f"{where} has no summary"
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert success, f"{where} documents no success response"
            if success != ["204"]:
                content = responses[success[0]].get("content", {})
                assert content, f"{where} documents no response body"
                if "application/json" in content:
                    assert content["application/json"].get("schema"), where
            if path in platform:
                continue
            assert "401" in responses, f"{where} does not document 401"
            for code, response in responses.items():
                if code.startswith(("4", "5")) and code != "422":
                    assert "application/problem+json" in response["content"], (where, code)
            if "{org_id}" in path:
                assert "404" in responses, f"{where} does not document 404"
            if method == "post":
                headers = {
                    p["name"] for p in operation.get("parameters", []) if p["in"] == "header"
                }
                assert "Idempotency-Key" in headers, f"{where} takes no Idempotency-Key"
            if method in {"post", "patch", "put"} or "parameters" in operation:
                assert "422" in responses, f"{where} does not document 422"


async def test_validation_errors_name_each_field(api: Api) -> None:
    headers = api.auth("ann")
    response = await api.client.post(
        "/v1/orgs", json={"name": "", "payment_terms_days": -1}, headers=headers
    )
    malformed = await api.client.post(
        "/v1/orgs",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    # What `json.loads` fails on with other errors than JSONDecodeError (a 400 once).
    unreadable = [
        await api.client.post(
            "/v1/orgs", content=content, headers={**headers, "content-type": "application/json"}
        )
        for content in (
            b'{"name": "\xff"}',
            b"[" * 50_000,
            b'{"name": "x", "payment_terms_days": ' + b"1" * 5_000 + b"}",
        )
    ]
    not_json = await api.client.post(
        "/v1/orgs", content=b"name=x", headers={**headers, "content-type": "text/plain"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM_BASE + "validation-error"
    assert {error["field"] for error in body["errors"]} == {"body.name", "body.payment_terms_days"}
    expected = [(malformed, "body"), (not_json, "header.Content-Type")]
    expected += [(refused, "body") for refused in unreadable]
    for refused, field in expected:
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"] == PROBLEM_BASE + "validation-error"
        assert [error["field"] for error in refused.json()["errors"]] == [field]
    me = await api.client.get("/v1/me", headers=headers)
    assert me.json()["memberships"] == []  # nothing was created


async def test_interactive_docs_work_offline(database_url: str, issuer: LocalIssuer) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        page = await client.get("/docs")
        script = await client.get("/docs/swagger-ui-bundle.js")
        css = await client.get("/docs/swagger-ui.css")
        missing = await client.get("/docs/../../etc/passwd")
        other = await client.get("/docs/index.html")
    assert page.status_code == 200
    assert "/docs/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert script.status_code == 200
    assert len(script.content) > 100_000
    assert css.status_code == 200
    assert missing.status_code == 404
    assert other.status_code == 404
