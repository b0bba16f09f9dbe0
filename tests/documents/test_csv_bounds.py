"""A CSV export never holds a connection or a transaction at the client's pace, and one
tenant's exports are bounded (issue 17). Real `penvoice serve` processes over TCP, clients
that never read, a real PostgreSQL watched through pg_stat_activity."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from bench.csv_export import SEED_CUSTOMERS, SEED_INVOICES

from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.roles import OWNER_ROLE
from tests.conftest import PostgresServer, app_environ
from tests.reliability.server import ServerProcess, serve

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# 40,000 invoices: about 6.5 MB of CSV, far beyond what the socket buffers and uvicorn's
# write buffer hold, so a client that never reads really stalls the server's writes.
INVOICES = 40_000
SEND_TIMEOUT = 1.5
DEADLINE = 4.0


@pytest.fixture
def database(postgres_server: PostgresServer, migrated_template: str) -> Iterator[tuple[str, str]]:
    name = postgres_server.create_database(template=migrated_template, owner=OWNER_ROLE)
    try:
        yield postgres_server.app_url_for(name), postgres_server.url_for(name)
    finally:
        postgres_server.drop_database(name)


async def _org(client: httpx.AsyncClient, token: str, name: str) -> str:
    response = await client.post(
        "/v1/orgs", json={"name": name}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _seed(admin_url: str, org_id: str, invoices: int) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        async with conn.transaction():
            await conn.execute(SEED_CUSTOMERS, org_id, 50)
            await conn.execute(SEED_INVOICES, org_id, invoices, 50)
        await conn.execute("ANALYZE invoices")
    finally:
        await conn.close()


def _stalled_export(server: ServerProcess, token: str, org_id: str) -> socket.socket:
    """Ask for the export over a socket with a tiny receive buffer and never read it."""
    port = int(server.base_url.rsplit(":", 1)[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET /v1/orgs/{org_id}/invoices.csv HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    return sock


async def _app_sessions(admin: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await admin.fetch(
        """SELECT state, xact_start IS NOT NULL AS in_transaction FROM pg_stat_activity
           WHERE usename = 'penvoice_app' AND datname = current_database()"""
    )
    return [dict(row) for row in rows]


async def _metric(client: httpx.AsyncClient, series: str) -> float:
    """A sample's value; 0 while the series does not exist yet (the guards' metrics appear
    at start once `install_guards` is wired into create_app, at first use until then)."""
    for line in (await client.get("/metrics")).text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    return 0.0


async def _exports_in_progress(
    client: httpx.AsyncClient, reached: Callable[[float], bool], within: float = 10.0
) -> None:
    started = time.monotonic()
    while not reached(await _metric(client, "penvoice_exports_in_progress")):
        assert time.monotonic() - started < within, "the exports in progress never got there"
        await asyncio.sleep(0.05)


async def test_ten_exports_that_never_read_hold_no_connection_and_end_by_the_deadline(
    database: tuple[str, str], issuer: LocalIssuer
) -> None:
    app_url, admin_url = database
    environ = app_environ(
        app_url,
        issuer,
        EXPORT_MAX_PER_POD="10",
        EXPORT_MAX_PER_ORG="10",
        EXPORT_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT),
        EXPORT_DEADLINE_SECONDS=str(DEADLINE),
        DB_POOL_TIMEOUT_SECONDS="1",
    )
    token = issuer.mint_token("exporter", expires_in=600)
    auth = {"Authorization": f"Bearer {token}"}
    admin = await asyncpg.connect(admin_url)
    sockets: list[socket.socket] = []
    try:
        with serve(environ) as server:
            async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
                org = await _org(client, token, "Exporter")
                await _seed(admin_url, org, INVOICES)
                started = time.monotonic()
                sockets = [_stalled_export(server, token, org) for _ in range(10)]
                await asyncio.sleep(1.0)  # every export has started and filled its buffers
                assert await _metric(client, "penvoice_exports_in_progress") == 10
                # Other routes answer normally while ten exports are stalled.
                latencies = []
                for _ in range(20):
                    t0 = time.monotonic()
                    for path in ("/v1/me", f"/v1/orgs/{org}/customers", f"/v1/orgs/{org}"):
                        response = await client.get(path, headers=auth)
                        assert response.status_code == 200, response.text
                    latencies.append(time.monotonic() - t0)
                # No export holds a transaction or a busy connection while it waits.
                sessions = await _app_sessions(admin)
                assert not [s for s in sessions if s["in_transaction"]], sessions
                # Every stalled export is cut off: by its send timeout once its buffers are full,
                # or by the deadline while it is still filling them.
                while await _metric(client, "penvoice_exports_in_progress") > 0:
                    assert time.monotonic() - started < DEADLINE + 2, (
                        "exports outlived the deadline"
                    )
                    await asyncio.sleep(0.1)
                ended_after = time.monotonic() - started
                cut = {
                    outcome: await _metric(client, f'penvoice_exports_total{{outcome="{outcome}"}}')
                    for outcome in ("send_timeout", "deadline")
                }
                assert sum(cut.values()) == 10, cut
                rows_sent = await _metric(client, "penvoice_export_rows_total")
                assert not [s for s in await _app_sessions(admin) if s["in_transaction"]]
                # And the pod still serves a whole export to a client that reads.
                whole = await client.get(f"/v1/orgs/{org}/invoices.csv", headers=auth, timeout=60)
                assert whole.status_code == 200
                assert whole.text.count("\r\n") == INVOICES + 1
        print(
            f"10 stalled exports: other routes max {max(latencies) * 1000:.0f} ms per 3 requests "
            f"(median {sorted(latencies)[10] * 1000:.0f} ms); all ended {ended_after:.1f}s after "
            f"they started (send timeout {SEND_TIMEOUT}s, deadline {DEADLINE}s): {cut}, "
            f"{rows_sent:.0f} rows written before they stalled"
        )
    finally:
        for sock in sockets:
            sock.close()
        await admin.close()


async def test_a_slow_reader_is_cut_off_at_the_total_deadline(
    database: tuple[str, str], issuer: LocalIssuer
) -> None:
    """A client that reads, but slowly enough that no single write times out."""
    app_url, admin_url = database
    environ = app_environ(
        app_url, issuer, EXPORT_SEND_TIMEOUT_SECONDS="5", EXPORT_DEADLINE_SECONDS="2"
    )
    token = issuer.mint_token("slow", expires_in=600)
    with serve(environ) as server:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            org = await _org(client, token, "Slow")
            await _seed(admin_url, org, INVOICES)
            started = time.monotonic()
            sock = _stalled_export(server, token, org)

            def read_slowly() -> bytes:
                """About 400 KB/s: no write waits 5 s, the whole file would take 16 s."""
                received = b""
                sock.settimeout(10)
                try:
                    while chunk := sock.recv(4096):
                        received += chunk
                        time.sleep(0.01)
                except (ConnectionResetError, TimeoutError):
                    pass
                return received

            reader = asyncio.create_task(asyncio.to_thread(read_slowly))
            try:
                while not await _metric(client, 'penvoice_exports_total{outcome="deadline"}'):
                    assert time.monotonic() - started < 4, "no deadline"
                    await asyncio.sleep(0.05)
                cut_after = time.monotonic() - started
                received = await reader
            finally:
                sock.close()
    # What was already buffered still arrives, then the connection closes without the
    # chunked body's last chunk: a truncated transfer, never a complete-looking file.
    assert received.startswith(b"HTTP/1.1 200 ")
    assert not received.endswith(b"\r\n0\r\n\r\n")
    print(
        f"slow reader cut off {cut_after:.1f}s after the request (deadline 2s), {len(received)} B"
    )
    assert 2.0 <= cut_after < 3.5


async def test_concurrent_exports_are_bounded_per_org_and_per_pod(
    database: tuple[str, str], issuer: LocalIssuer
) -> None:
    """At the defaults (2 per organisation, 4 per pod): an organisation's third export is a
    429 `too-many-exports`, the pod's fifth a 503, both with `Retry-After: 5`; once the
    stalled ones are cut off (the deadline) the same requests are served."""
    app_url, admin_url = database
    environ = app_environ(
        app_url, issuer, EXPORT_SEND_TIMEOUT_SECONDS="1.5", EXPORT_DEADLINE_SECONDS="4"
    )
    tokens = {name: issuer.mint_token(name, expires_in=600) for name in ("ann", "bob", "cat")}
    sockets: list[socket.socket] = []
    try:
        with serve(environ) as server:
            async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
                orgs = {name: await _org(client, token, name) for name, token in tokens.items()}
                for name in ("ann", "bob"):
                    await _seed(admin_url, orgs[name], INVOICES)

                async def export(name: str) -> httpx.Response:
                    return await client.get(
                        f"/v1/orgs/{orgs[name]}/invoices.csv",
                        headers={"Authorization": f"Bearer {tokens[name]}"},
                    )

                sockets += [_stalled_export(server, tokens["ann"], orgs["ann"]) for _ in range(2)]
                await _exports_in_progress(client, lambda n: n == 2)
                third = await export("ann")
                assert third.status_code == 429, third.text
                assert third.headers["content-type"] == "application/problem+json"
                assert third.json()["type"] == "https://penvoice.app/problems/too-many-exports"
                assert third.json()["limit"] == 2
                assert third.headers["retry-after"] == "5"
                sockets += [_stalled_export(server, tokens["bob"], orgs["bob"]) for _ in range(2)]
                await _exports_in_progress(client, lambda n: n == 4)
                fifth = await export("cat")  # an organisation with none running
                assert fifth.status_code == 503, fifth.text
                assert fifth.headers["content-type"] == "application/problem+json"
                assert fifth.headers["retry-after"] == "5"
                refused = {
                    outcome: await _metric(client, f'penvoice_exports_total{{outcome="{outcome}"}}')
                    for outcome in ("refused_org", "refused_pod")
                }
                assert refused == {"refused_org": 1, "refused_pod": 1}
                for sock in sockets:
                    sock.close()
                await _exports_in_progress(client, lambda n: n == 0)
                assert (await export("cat")).status_code == 200
                assert (await export("ann")).status_code == 200
    finally:
        for sock in sockets:
            sock.close()
