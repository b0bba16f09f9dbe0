"""Response headers a browser or a scanner looks at, on every kind of response.

`tests/test_http_edges.py` checks nosniff and the absence of `server` on one in-process
response and one allowed and one refused preflight. Here: the real server (where uvicorn
would add its banner), every kind of answer including those the HTTP protocol sends by
itself (431, 400), and CORS origins that only look like the configured one.
"""

from __future__ import annotations

import httpx
import pytest

from penvoice.dev.issuer import LocalIssuer
from tests.conftest import app_environ, running_app
from tests.reliability.server import ServerProcess, parse, raw_exchange

pytestmark = pytest.mark.anyio

ALLOWED = "https://test.penvoice.app"


@pytest.mark.slow
def test_no_banner_and_nosniff_on_every_kind_of_response_from_the_real_server(
    shared_server: ServerProcess, issuer: LocalIssuer
) -> None:
    base = shared_server.base_url
    token = issuer.mint_token("headers-user")
    with httpx.Client(base_url=base, trust_env=False) as client:
        responses = {
            "200": client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}),
            "200 metrics": client.get("/metrics"),
            "401": client.get("/v1/me"),
            "404": client.get("/nowhere"),
            "405": client.delete("/healthz"),
            "401 before any body": client.post("/v1/orgs", content=b"x" * 100_000),
            "413": client.post(
                "/v1/orgs", content=b"x" * 100_000, headers={"Authorization": f"Bearer {token}"}
            ),
            "422": client.post("/v1/orgs", json={}, headers={"Authorization": f"Bearer {token}"}),
        }
    for label, response in responses.items():
        assert label.startswith(str(response.status_code)), (label, response.status_code)
        assert "server" not in response.headers, label
        assert response.headers["x-content-type-options"] == "nosniff", label
    raw = {
        "431": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        "400": b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for label, request in raw.items():
        status, headers, _ = parse(raw_exchange(shared_server, request))
        assert str(status) == label
        assert "server" not in headers, label
        assert headers["x-content-type-options"] == "nosniff", label


PREFLIGHT = {"Access-Control-Request-Method": "POST"}


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://test.penvoice.app",  # another scheme
        "https://test.penvoice.app:8443",  # another port
        "https://test.penvoice.app.evil.example",  # a suffix
        "https://evil-test.penvoice.app",
        "https://TEST.penvoice.app",
        "null",  # sandboxed iframes and file:// pages
        "https://test.penvoice.app/",
    ],
)
async def test_cors_refuses_origins_that_only_look_like_the_configured_one(
    origin: str, database_url: str, issuer: LocalIssuer
) -> None:
    token = issuer.mint_token("cors-user")
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        preflight = await client.options("/v1/orgs", headers={"Origin": origin, **PREFLIGHT})
        simple = await client.get(
            "/v1/me", headers={"Origin": origin, "Authorization": f"Bearer {token}"}
        )
    assert preflight.status_code == 400
    assert preflight.headers["content-type"] == "application/problem+json"
    # Starlette adds Allow-Credentials and Expose-Headers to every simple response; without
    # Allow-Origin a browser shares nothing, so only that header decides.
    for response in (preflight, simple):
        assert "access-control-allow-origin" not in response.headers, origin
    assert "access-control-allow-credentials" not in preflight.headers, origin
    assert simple.status_code == 200  # CORS is for browsers; the server answers, unshared


async def test_cors_preflight_allows_only_the_methods_and_headers_the_api_uses(
    database_url: str, issuer: LocalIssuer
) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):

        async def preflight(method: str, headers: str = "") -> httpx.Response:
            request = {"Origin": ALLOWED, "Access-Control-Request-Method": method}
            if headers:
                request["Access-Control-Request-Headers"] = headers
            return await client.options("/v1/orgs", headers=request)

        allowed = await preflight("POST", "authorization, content-type, idempotency-key")
        patch = await preflight("PATCH", "if-match")
        trace = await preflight("TRACE")
        odd_header = await preflight("GET", "x-forwarded-host")
        cookie = await preflight("GET", "cookie")
        simple = await client.get("/healthz", headers={"Origin": ALLOWED})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "origin" in allowed.headers["vary"].lower()
    assert patch.status_code == 200
    for refused in (trace, odd_header, cookie):
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == ALLOWED
    assert "origin" in simple.headers["vary"].lower()
    exposed = {
        h.strip().lower() for h in simple.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "retry-after", "x-request-id"} <= exposed


async def test_without_configured_origins_no_cors_headers_at_all(
    database_url: str, issuer: LocalIssuer
) -> None:
    environ = app_environ(database_url, issuer)
    del environ["CORS_ORIGINS"]
    async with running_app(environ) as (_, client):
        preflight = await client.options(
            "/v1/orgs", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
        )
        simple = await client.get("/healthz", headers={"Origin": ALLOWED})
    assert preflight.status_code == 405
    assert not [h for h in (*preflight.headers, *simple.headers) if h.startswith("access-control")]


@pytest.mark.slow
def test_metrics_and_docs_are_not_reachable_through_the_public_v1_prefix(
    shared_server: ServerProcess,
) -> None:
    """The Ingress routes only `/v1` (prefix) and `/healthz`: paths that climb out of `/v1`
    must not reach `/metrics`, `/readyz` or the docs behind it."""
    for path in (
        b"/v1/../metrics",
        b"/v1/%2e%2e/metrics",
        b"/v1/%2E%2E/readyz",
        b"/v1/..%2fmetrics",
        b"/v1//../openapi.json",
        b"/v1/./../docs",
    ):
        request = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        status, headers, body = parse(raw_exchange(shared_server, request))
        assert status == 404, (path, status)
        assert headers["content-type"] == "application/problem+json", path
        assert b"http_requests_total" not in body, path
