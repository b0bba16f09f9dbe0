"""Hostile input: oversized bodies and heads, deep nesting, huge numbers, bad bytes.

Every case must end in a 4xx problem+json, never a 500, must write nothing, and must log
nothing at error level. Body limits are shown in-process (the ASGI middleware) and on a real
server; the request head limit only exists at the real server, in its HTTP protocol.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from penvoice.config import Settings
from penvoice.dev.issuer import LocalIssuer
from penvoice.invoices.schemas import MAX_LINES, MAX_TAXES_PER_LINE
from tests.conftest import app_environ, running_app
from tests.reliability.server import ServerProcess, parse, raw_exchange

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"
SMALL_LIMIT = 16_384
COUNTED_TABLES = ("organisations", "customers", "invoices", "events", "idempotency_keys")


def assert_problem(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    assert response.status_code == status, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"] == PROBLEM, what
    body: dict[str, Any] = response.json()
    assert body["status"] == status, what
    return body


async def row_counts(admin_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(admin_url)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in COUNTED_TABLES}
    finally:
        await conn.close()


class Limited:
    """The app in-process with a small body limit, an owner and an organisation."""

    def __init__(self, client: httpx.AsyncClient, issuer: LocalIssuer, org_id: str) -> None:
        self.client, self.org_id = client, org_id
        self.headers = {"Authorization": f"Bearer {issuer.mint_token('limits-owner')}"}

    async def post(self, path: str, content: Any, **headers: str) -> httpx.Response:
        return await self.client.post(
            path,
            content=content,
            headers={**self.headers, "Content-Type": "application/json", **headers},
        )


@pytest.fixture
async def limited(
    database_url: str, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Limited]:
    environ = app_environ(database_url, issuer, MAX_BODY_BYTES=str(SMALL_LIMIT))
    async with running_app(environ) as (_, client):
        token = issuer.mint_token("limits-owner")
        org = await client.post(
            "/v1/orgs", json={"name": "Limits"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert org.status_code == 201, org.text
        caplog.clear()
        caplog.set_level(logging.INFO)
        yield Limited(client, issuer, org.json()["id"])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def org_body(size: int) -> bytes:
    """A valid organisation body of exactly `size` bytes."""
    base = json.dumps({"name": "N", "address": ""}).encode()
    body = json.dumps({"name": "N", "address": "a" * (size - len(base))}).encode()
    assert len(body) == size
    return body


async def test_a_body_over_the_limit_is_413_before_or_while_it_is_read(
    limited: Limited, admin_database_url: str
) -> None:
    before = await row_counts(admin_database_url)
    at_limit = await limited.post("/v1/orgs", org_body(SMALL_LIMIT))
    assert at_limit.status_code == 422  # read and validated: only the address is too long
    declared = await limited.post("/v1/orgs", org_body(SMALL_LIMIT + 1))
    body = assert_problem(declared, 413, "Content-Length over the limit")
    assert body["type"] == "https://penvoice.app/problems/payload-too-large"
    assert str(SMALL_LIMIT) in body["detail"]
    assert declared.headers["connection"] == "close"
    assert declared.headers["x-content-type-options"] == "nosniff"

    async def chunks(count: int, size: int = 1000) -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(count):
            yield b"x" * size
        yield b'"}'

    # No Content-Length (chunked): counted as it streams, cut off at the limit.
    streamed = await limited.post("/v1/orgs", chunks(50))
    assert_problem(streamed, 413, "streamed body over the limit")
    # The same through the Idempotency-Key dependency, which reads the body itself.
    keyed = await limited.post("/v1/orgs", chunks(50), **{"Idempotency-Key": "k1"})
    assert_problem(keyed, 413, "streamed body with an Idempotency-Key")
    # A Content-Length that lies low is no way around it.
    lying = await limited.post(
        "/v1/orgs", chunks(50), **{"Content-Length": "10", "Idempotency-Key": "k2"}
    )
    assert lying.status_code in {400, 413}, lying.text
    small = await limited.post("/v1/orgs", json.dumps({"name": "Fits"}).encode())
    assert small.status_code == 201
    after = await row_counts(admin_database_url)
    assert after["organisations"] == before["organisations"] + 1
    assert after["idempotency_keys"] == before["idempotency_keys"]


def test_the_largest_valid_invoice_fits_the_default_body_limit() -> None:
    line = {
        "description": "発" * 2000,
        "quantity": "9" * 35 + ".0001",
        "unit_amount": -(2**63),
        "discount": {"percentage": "100.0000"},
        "tax_rate_ids": [str(uuid.uuid4()) for _ in range(MAX_TAXES_PER_LINE)],
    }
    invoice = {
        "customer_id": str(uuid.uuid4()),
        "currency": "EUR",
        "memo": "発" * 5000,
        "lines": [line] * MAX_LINES,
    }
    escaped = json.dumps(invoice, ensure_ascii=True).encode()  # \uXXXX: 6 bytes a character
    default = Settings.model_fields["max_body_bytes"].default
    assert len(escaped) < default, (len(escaped), default)


NESTED_JUST_PARSEABLE = b'{"name": "x", "address": ' + b"[" * 900 + b"]" * 900 + b"}"


HOSTILE_BODIES: dict[str, bytes] = {
    "arrays nested 3000 deep": b"[" * 3000 + b"]" * 3000,
    "nested 3000 deep in a field": b'{"name": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    "nested 900 deep, parseable": NESTED_JUST_PARSEABLE,
    "objects nested 2000 deep": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "integer of 5000 digits": b'{"name": "x", "payment_terms_days": ' + b"9" * 5000 + b"}",
    "1e999999": b'{"name": "x", "payment_terms_days": 1e999999}',
    "-1e999999": b'{"name": "x", "payment_terms_days": -1e999999}',
    "NaN": b'{"name": "x", "payment_terms_days": NaN}',
    "Infinity": b'{"name": "x", "payment_terms_days": Infinity}',
    "invalid UTF-8": b'{"name": "\xff\xfe\xfd"}',
    "overlong UTF-8": b'{"name": "\xc0\xaf"}',
    "lone surrogate": b'{"name": "\\ud800"}',
    "NUL escaped": b'{"name": "a\\u0000b"}',
    "NUL raw": b'{"name": "a\x00b"}',
    "not JSON": b"\x00\x01\x02",
    "empty": b"",
}


async def test_hostile_json_bodies_are_422_and_write_nothing(
    limited: Limited, admin_database_url: str
) -> None:
    before = await row_counts(admin_database_url)
    for label, body in HOSTILE_BODIES.items():
        assert len(body) <= SMALL_LIMIT, f"{label}: larger than the test's body limit"
        for headers in ({}, {"Idempotency-Key": f"hostile-{uuid.uuid4()}"}):
            response = await limited.post("/v1/orgs", body, **headers)
            what = f"{label} {headers}"
            problem = assert_problem(response, 422, what)
            assert problem["errors"], what
            assert all(error["field"].startswith("body") for error in problem["errors"]), what
    assert await row_counts(admin_database_url) == before


async def test_huge_numbers_in_invoice_money_fields_are_422(
    limited: Limited, admin_database_url: str
) -> None:
    base = f"/v1/orgs/{limited.org_id}"
    customer = await limited.post(f"{base}/customers", json.dumps({"name": "C"}).encode())
    assert customer.status_code == 201
    before = await row_counts(admin_database_url)
    template = (
        '{"customer_id": "%s", "lines": [{"description": "d", "quantity": %s, "unit_amount": %s}]}'
    )
    cases = {
        "amount 1e999999": ('"1"', "1e999999"),
        "amount 5000 digits": ('"1"', "9" * 3000),
        "amount 2**63": ('"1"', str(2**63)),
        "amount -2**63 - 1": ('"1"', str(-(2**63) - 1)),
        "amount float": ('"1"', "1.5"),
        "quantity number": ("1e999999", "100"),
        "quantity huge text": ('"' + "9" * 60 + '"', "100"),
        "quantity exponent text": ('"1e999999"', "100"),
        "quantity NaN text": ('"NaN"', "100"),
    }
    for label, (quantity, amount) in cases.items():
        body = (template % (customer.json()["id"], quantity, amount)).encode()
        response = await limited.post(f"{base}/invoices", body)
        assert_problem(response, 422, label)
    assert await row_counts(admin_database_url) == before


async def test_bad_bytes_and_nul_in_paths_and_queries_are_4xx_problems(
    limited: Limited, admin_database_url: str
) -> None:
    base = f"/v1/orgs/{limited.org_id}"
    before = await row_counts(admin_database_url)
    for label, url in {
        "invalid UTF-8 in the path": "/v1/orgs/%FF%FE%FD",
        "invalid UTF-8 in a resource id": f"{base}/invoices/%C0%AF",
        "NUL in a resource id": f"{base}/customers/%00",
        "NUL in a member subject": f"{base}/members/a%00b",
        "invalid UTF-8 in a filter": f"{base}/invoices?number=%FF%FE",
        "NUL in a filter": f"{base}/invoices?number=a%00b",
        "NUL in a customer filter": f"{base}/customers?email=a%00b",
        "invalid UTF-8 in the cursor": f"{base}/invoices?cursor=%FF",
        "limit of 5000 digits": f"{base}/invoices?limit={'9' * 5000}",
        "limit 1e999999": f"{base}/invoices?limit=1e999999",
        "date of 5000 digits": f"{base}/invoices?issue_date_from={'9' * 5000}",
    }.items():
        for method in ("GET", "DELETE", "PATCH"):
            response = await limited.client.request(
                method, url, headers=limited.headers, json={} if method == "PATCH" else None
            )
            assert response.status_code in {400, 404, 405, 422}, (label, method, response.text)
            assert response.headers["content-type"] == PROBLEM, (label, method)
    assert await row_counts(admin_database_url) == before


# --- the real server (MAX_BODY_BYTES=65536, see conftest.py) ------------------------------


def healthy(server: ServerProcess) -> bool:
    return httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200


def rss_bytes(server: ServerProcess) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=2).text
    line = next(x for x in text.splitlines() if x.startswith("process_resident_memory_bytes"))
    return float(line.split()[-1])


GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.mark.slow
def test_request_heads_are_bounded_at_the_real_server(
    shared_server: ServerProcess, issuer: LocalIssuer
) -> None:
    server = shared_server
    # A maximal bearer token (8 KiB) plus ordinary headers is well inside the bound.
    big_token = issuer.mint_token("x", extra_claims={"pad": "x" * 5500})
    assert 7000 < len(big_token) <= 8192
    me = httpx.get(
        f"{server.base_url}/v1/me",
        headers={"Authorization": f"Bearer {big_token}", "X-Pad": "p" * 8000},
    )
    assert me.status_code == 200, me.text
    rss_before = rss_bytes(server)
    cases = {
        "one header of 1 MB": GET + b"X-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
        "20,000 headers": GET + b"".join(b"X-H%d: v\r\n" % i for i in range(20_000)) + b"\r\n",
        "request line of 100 KB": b"GET /healthz?" + b"q" * 100_000 + b" HTTP/1.1\r\n\r\n",
        "head that never ends": GET + b"X-Slow: " + b"b" * 40_000,
    }
    slowest = 0.0
    for label, request in cases.items():
        started = time.monotonic()
        status, headers, body = parse(raw_exchange(server, request))
        slowest = max(slowest, time.monotonic() - started)
        assert status == 431, label
        assert headers["content-type"] == PROBLEM, label
        assert headers["connection"] == "close", label
        assert json.loads(body)["type"] == "https://penvoice.app/problems/header-too-large"
        assert time.monotonic() - started < 2, label
    # 50 MB in one header: refused (or reset) at once, never buffered whole.
    started = time.monotonic()
    raw_exchange(server, GET + b"X-Huge: " + b"h" * 50_000_000 + b"\r\n\r\n", timeout=10)
    huge = time.monotonic() - started
    assert healthy(server)
    grown = rss_bytes(server) - rss_before
    print(f"heads: 431 within {slowest:.3f}s; 50 MB header cut off in {huge:.3f}s, RSS +{grown}")
    assert grown < 20_000_000


@pytest.mark.slow
def test_bodies_and_bad_bytes_at_the_real_server(
    shared_server: ServerProcess, issuer: LocalIssuer
) -> None:
    server = shared_server
    token = issuer.mint_token("real-limits").encode()
    auth = b"Authorization: Bearer " + token + b"\r\n"
    post = b"POST /v1/orgs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    declared = post + auth + b"Content-Length: 10000000\r\n\r\n" + b"x" * 100_000
    status, headers, _ = parse(raw_exchange(server, declared))
    assert (status, headers["content-type"], headers["connection"]) == (413, PROBLEM, "close")
    chunk = b"%x\r\n%s\r\n" % (10_000, b"y" * 10_000)
    chunked = post + auth + b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 10 + b"0\r\n\r\n"
    status, headers, _ = parse(raw_exchange(server, chunked))
    assert (status, headers["content-type"], headers["connection"]) == (413, PROBLEM, "close")
    raw_cases = {
        "raw invalid UTF-8 in the path": b"GET /v1/orgs/\xff\xfe HTTP/1.1\r\nHost: x\r\n",
        "raw invalid UTF-8 in the query": b"GET /v1/me?x=\xff\xfe HTTP/1.1\r\nHost: x\r\n",
        "raw NUL in the path": b"GET /v1/\x00 HTTP/1.1\r\nHost: x\r\n",
        "not HTTP": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "bad Content-Length": b"POST /v1/orgs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n",
        "two Content-Lengths": b"POST /v1/orgs HTTP/1.1\r\nContent-Length: 1\r\n"
        b"Content-Length: 2\r\n",
        "bad header name": b"GET /v1/me HTTP/1.1\r\nBad Header: x\r\n",
    }
    for label, request in raw_cases.items():
        raw = raw_exchange(server, request + auth + b"\r\n")
        status, headers, _ = parse(raw)
        assert 400 <= status < 500, (label, raw[:200])
        assert headers.get("content-type") == PROBLEM, (label, raw[:300])
    assert healthy(server)
