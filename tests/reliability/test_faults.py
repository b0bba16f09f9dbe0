"""Faults under load: the database goes away, a statement overruns, a client hangs up, the
pool runs dry, the pod is told to stop. The API must answer sensibly (fast 503s with
`Retry-After`, never a hang or a 500), recover by itself, and lose or half-write nothing.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from penvoice.customers import repository as customers_repository
from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import EmbeddedPostgres
from penvoice.dev.roles import APP_ROLE, ensure_roles
from penvoice.migrate.runner import Migrator
from tests.conftest import MIGRATIONS_DIR, app_environ, running_app
from tests.reliability.load import Call, Outcome, bearer, new_key, run_load, send
from tests.reliability.server import serve

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"
POOL_TIMEOUT = 1.0


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A server of this test's own, so stopping it disturbs no other test."""
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    yield server
    server.stop(mode="immediate")


async def create_org(client: httpx.AsyncClient, token: str, name: str) -> dict[str, Any]:
    response = await client.post("/v1/orgs", json={"name": name}, headers=bearer(token))
    assert response.status_code == 201, response.text
    org: dict[str, Any] = response.json()
    return org


def summary(outcomes: list[Outcome]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return dict(sorted(counts.items()))


async def wait_for_status(
    client: httpx.AsyncClient, path: str, status: int, timeout: float
) -> float:
    """Seconds until `path` answers `status` (polled every 50 ms); fails after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if (await client.get(path, timeout=1)).status_code == status:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} did not answer {status} within {timeout}s")


@pytest.mark.slow
async def test_database_stopped_under_load_fails_fast_and_recovers_without_restart(
    own_postgres: EmbeddedPostgres, issuer: LocalIssuer
) -> None:
    admin_url = own_postgres.url()
    await ensure_roles(admin_url)
    await Migrator(admin_url, MIGRATIONS_DIR).up()
    url = own_postgres.url(user=APP_ROLE)
    environ = app_environ(url, issuer, DB_POOL_TIMEOUT_SECONDS=str(POOL_TIMEOUT))
    token = issuer.mint_token("outage-owner", expires_in=600)
    with serve(environ) as server:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as probe:
            org = await create_org(probe, token, "Outage")

            def plan(worker: int, n: int) -> Call:
                if n % 3 == 2:
                    body = {"name": f"Customer {worker}-{n}"}
                    return Call("POST", f"/v1/orgs/{org['id']}/customers", body, bearer(token))
                if n % 3 == 1:
                    return Call("GET", f"/v1/orgs/{org['id']}/customers", None, bearer(token))
                return Call("GET", "/v1/me", None, bearer(token))

            stop, outcomes = asyncio.Event(), list[Outcome]()
            load = asyncio.create_task(
                run_load(server.base_url, plan, stop, outcomes, workers=6, timeout=15)
            )
            await asyncio.sleep(1.5)
            # Requests caught mid-query when the server goes: blocked on a lock.
            blocker = await asyncpg.connect(admin_url)
            await blocker.execute("BEGIN; LOCK TABLE memberships IN ACCESS EXCLUSIVE MODE")
            caught = [
                asyncio.create_task(send(probe, 99, Call("GET", "/v1/me", None, bearer(token))))
                for _ in range(6)
            ]
            await asyncio.sleep(0.3)
            stopped_at = time.monotonic()
            await asyncio.to_thread(own_postgres.stop, "fast")  # sessions end with 57P01
            in_flight = await asyncio.gather(*caught)
            blocker.terminate()
            unready_after = await wait_for_status(probe, "/readyz", 503, timeout=2)
            await asyncio.sleep(3)
            restart_at = time.monotonic()
            await asyncio.to_thread(own_postgres.start)
            back_at = time.monotonic()
            ready_after = await wait_for_status(probe, "/readyz", 200, timeout=10)
            await asyncio.sleep(1.5)
            stop.set()
            await load
            healthz = await probe.get("/healthz")
        errors = server.error_lines()

    kinds = {r["message"] for r in server.records() if r["logger"] == "penvoice.db"}
    print(f"outage: {sorted(kinds)}")
    before = [o for o in outcomes if o.ended < stopped_at]
    down = [o for o in outcomes if stopped_at + 0.2 < o.started and o.ended < restart_at]
    after = [o for o in outcomes if o.started > back_at + ready_after + 0.5]
    first_ok = min(o.ended for o in outcomes if o.started > back_at and o.status < 300)
    print(
        f"outage: {summary(before)} before, {summary(down)} while down "
        f"(max {max(o.elapsed for o in down):.3f}s, "
        f"median {statistics.median(o.elapsed for o in down):.3f}s), "
        f"{summary(after)} after; readyz 503 after {unready_after:.2f}s, "
        f"200 {ready_after:.2f}s after the database accepted again; first 2xx "
        f"{first_ok - back_at:.2f}s after"
    )
    assert before
    assert all(o.status in {200, 201} for o in before), summary(before)
    for outcome in in_flight:
        assert (outcome.status, outcome.content_type) == (503, PROBLEM), outcome
    assert len(down) > 20
    for outcome in down:
        assert outcome.status == 503, outcome
        assert outcome.content_type == PROBLEM, outcome
        assert outcome.retry_after == "1", outcome
        assert outcome.elapsed < POOL_TIMEOUT + 1.0, outcome  # bounded, never a hang
    assert all(o.status in {200, 201, 503} for o in outcomes), summary(outcomes)
    assert after
    assert all(o.status in {200, 201} for o in after), summary(after)
    assert unready_after < 2
    assert ready_after < 5
    assert healthz.status_code == 200
    assert not errors, "\n".join(errors[:10])


Faulty = tuple[httpx.AsyncClient, dict[str, str], dict[str, Any]]


@asynccontextmanager
async def faulty_app(
    database_url: str, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture, **environ: str
) -> AsyncIterator[Faulty]:
    """The app in-process with `environ`, an owner, an organisation with a customer; and
    nothing logged at error level meanwhile."""
    async with running_app(app_environ(database_url, issuer, **environ)) as (_, client):
        headers = bearer(issuer.mint_token("fault-owner"))
        org = await create_org(client, headers["Authorization"].removeprefix("Bearer "), "F")
        customer = await client.post(
            f"/v1/orgs/{org['id']}/customers", json={"name": "C"}, headers=headers
        )
        assert customer.status_code == 201
        org["customer_id"] = customer.json()["id"]
        caplog.clear()
        yield client, headers, org
    errors = [r.getMessage() for r in caplog.records if r.levelname in {"ERROR", "CRITICAL"}]
    assert not errors, errors


async def table_counts(admin_url: str, org_id: str) -> dict[str, int]:
    conn = await asyncpg.connect(admin_url)
    try:
        return {
            table: await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE org_id = $1", uuid.UUID(org_id)
            )
            for table in ("invoices", "invoice_lines", "events")
        } | {"idempotency_keys": await conn.fetchval("SELECT count(*) FROM idempotency_keys")}
    finally:
        await conn.close()


INVOICE_LINES = [
    {"description": f"Line {n}", "quantity": "1", "unit_amount": 100} for n in range(3)
]


async def test_a_statement_over_the_timeout_is_503_and_its_transaction_rolls_back(
    database_url: str,
    admin_database_url: str,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with faulty_app(database_url, issuer, caplog, DB_STATEMENT_TIMEOUT_MS="300") as app:
        await _statement_timeout(app, admin_database_url)


async def _statement_timeout(app: Faulty, admin_database_url: str) -> None:
    client, headers, org = app
    before = await table_counts(admin_database_url, org["id"])
    body = {"customer_id": org["customer_id"], "lines": INVOICE_LINES}
    key = new_key()
    # The draft's rows are inserted first; its event, last, waits on this lock.
    blocker = await asyncpg.connect(admin_database_url)
    lock = blocker.transaction()
    await lock.start()
    await blocker.execute("LOCK TABLE events IN EXCLUSIVE MODE")
    try:
        started = time.monotonic()
        response = await client.post(
            f"/v1/orgs/{org['id']}/invoices", json=body, headers={**headers, **key}
        )
        elapsed = time.monotonic() - started
    finally:
        await lock.rollback()
        await blocker.close()
    print(f"statement timeout: {response.status_code} after {elapsed:.3f}s")
    assert response.status_code in {503, 504}, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "1"
    assert elapsed < 2
    assert await table_counts(admin_database_url, org["id"]) == before
    # The key was not used up: the retry creates the invoice, once.
    retry = await client.post(f"/v1/orgs/{org['id']}/invoices", json=body, headers=headers | key)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    after = await table_counts(admin_database_url, org["id"])
    assert after["invoices"] == before["invoices"] + 1
    assert after["invoice_lines"] == before["invoice_lines"] + 3


async def test_pool_exhaustion_is_a_quick_503_with_retry_after(
    database_url: str,
    admin_database_url: str,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = {"DB_POOL_MAX_SIZE": "2", "DB_POOL_TIMEOUT_SECONDS": "0.5"}
    async with faulty_app(database_url, issuer, caplog, **environ) as app:
        await _pool_exhaustion(app, admin_database_url)


async def _pool_exhaustion(app: Faulty, admin_database_url: str) -> None:
    client, headers, org = app
    blocker = await asyncpg.connect(admin_database_url)
    lock = blocker.transaction()
    await lock.start()
    # Both pooled connections wait on this lock (well inside the statement timeout).
    await blocker.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
    url = f"/v1/orgs/{org['id']}/customers"
    try:
        holders = [asyncio.create_task(client.get(url, headers=headers)) for _ in range(2)]
        await asyncio.sleep(0.1)
        started = time.monotonic()
        refused = await client.get("/v1/me", headers=headers)
        elapsed = time.monotonic() - started
    finally:
        await asyncio.sleep(0.05)
        await lock.rollback()
        await blocker.close()
    held = await asyncio.gather(*holders)
    print(f"pool exhaustion: {refused.status_code} after {elapsed:.3f}s")
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert refused.headers["retry-after"] == "1"
    assert 0.4 < elapsed < 1.5  # the configured 0.5 s wait, then the answer
    assert [r.status_code for r in held] == [200, 200]
    assert (await client.get("/v1/me", headers=headers)).status_code == 200


@pytest.mark.slow
async def test_a_client_hanging_up_mid_create_leaves_all_or_nothing(
    database_url: str, admin_database_url: str, issuer: LocalIssuer
) -> None:
    token = issuer.mint_token("hangup-owner", expires_in=600)
    with serve(app_environ(database_url, issuer)) as server:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            org = await create_org(client, token, "Hangup")
            customer = await client.post(
                f"/v1/orgs/{org['id']}/customers", json={"name": "C"}, headers=bearer(token)
            )
            body = {"customer_id": customer.json()["id"], "lines": INVOICE_LINES}
            keys = []
            for hang_up_after, release_after in [(0.1, 0.3), (0.3, 0.1), (0.2, 0.2)]:
                key = new_key()
                keys.append(key)
                blocker = await asyncpg.connect(admin_database_url)
                lock = blocker.transaction()
                await lock.start()
                await blocker.execute("LOCK TABLE events IN EXCLUSIVE MODE")
                url = f"/v1/orgs/{org['id']}/invoices"
                request = asyncio.create_task(
                    client.post(url, json=body, headers=bearer(token, **key), timeout=30)
                )
                await asyncio.sleep(hang_up_after)
                request.cancel()  # closes the connection mid-request
                with pytest.raises(asyncio.CancelledError):
                    await request
                await asyncio.sleep(release_after)
                await lock.rollback()
                await blocker.close()
            await asyncio.sleep(0.5)
            conn = await asyncpg.connect(admin_database_url)
            try:
                invoices = await conn.fetch(
                    "SELECT id,"
                    " (SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id) AS lines,"
                    " (SELECT count(*) FROM events e WHERE e.subject_id::text = i.id::text)"
                    " AS events FROM invoices i WHERE org_id = $1",
                    uuid.UUID(org["id"]),
                )
            finally:
                await conn.close()
            # Each is whole or absent; retrying each key ends with exactly one invoice each.
            assert all(row["lines"] == 3 and row["events"] == 1 for row in invoices), invoices
            retries = [
                await client.post(url, json=body, headers=bearer(token, **key)) for key in keys
            ]
            listed = await client.get(url, headers=bearer(token))
        errors = server.error_lines()
    print(
        f"hang-ups: {len(invoices)} of 3 committed before the retry; retries "
        f"{[(r.status_code, r.headers.get('idempotent-replayed')) for r in retries]}"
    )
    assert all(r.status_code == 201 for r in retries)
    replayed = sum(1 for r in retries if r.headers.get("idempotent-replayed") == "true")
    assert replayed == len(invoices)
    assert len(listed.json()["items"]) == 3
    assert len({r.json()["id"] for r in retries}) == 3
    assert not errors, "\n".join(errors[:10])


@pytest.mark.slow
async def test_sigterm_during_load_fails_no_request(database_url: str, issuer: LocalIssuer) -> None:
    drain = 2.5
    token = issuer.mint_token("sigterm-owner", expires_in=600)
    environ = app_environ(database_url, issuer, SHUTDOWN_DRAIN_SECONDS=str(drain))
    with serve(environ) as server:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as probe:
            org = await create_org(probe, token, "Sigterm")

            def plan(worker: int, n: int) -> Call:
                if n % 2:
                    body = {"name": f"Customer {worker}-{n}"}
                    return Call("POST", f"/v1/orgs/{org['id']}/customers", body, bearer(token))
                return Call("GET", f"/v1/orgs/{org['id']}/customers", None, bearer(token))

            stop, outcomes = asyncio.Event(), list[Outcome]()
            load = asyncio.create_task(
                run_load(server.base_url, plan, stop, outcomes, workers=8, timeout=30)
            )
            await asyncio.sleep(1.5)
            signalled = time.monotonic()
            server.process.send_signal(15)
            # The endpoint leaves the Service within the drain: clients stop sending then.
            unready_after = await wait_for_status(probe, "/readyz", 503, timeout=2)
            await asyncio.sleep(max(0.0, signalled + drain - 1.0 - time.monotonic()))
            stop.set()
            await load
        exit_code = await asyncio.to_thread(server.process.wait, 30)
        errors = server.error_lines()
    sent_after = [o for o in outcomes if o.started > signalled]
    print(
        f"sigterm: {len(outcomes)} requests, {len(sent_after)} after the signal, "
        f"{summary(outcomes)}; readyz 503 after {unready_after:.2f}s; exit {exit_code}"
    )
    failed = [o for o in outcomes if o.status not in {200, 201}]
    assert not failed, failed[:5]
    assert len(sent_after) > 20
    assert exit_code == 0
    assert not errors, "\n".join(errors[:10])
    statuses = [r["status"] for r in server.records() if r.get("logger") == "penvoice.access"]
    assert statuses.count(201) + statuses.count(200) >= len(outcomes)


async def test_a_session_terminated_mid_query_is_503(
    database_url: str,
    admin_database_url: str,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with faulty_app(database_url, issuer, caplog) as (client, headers, org):
        blocker = await asyncpg.connect(admin_database_url)
        await blocker.execute("BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        request = asyncio.create_task(
            client.get(f"/v1/orgs/{org['id']}/customers", headers=headers)
        )
        await asyncio.sleep(0.2)
        terminated = await blocker.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'penvoice-api' AND wait_event_type = 'Lock'"
        )
        response = await request
        await blocker.close()
        after = await client.get(f"/v1/orgs/{org['id']}/customers", headers=headers)
    assert terminated == 1
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert after.status_code == 200


async def test_a_connection_that_cannot_be_reset_on_release_does_not_turn_a_commit_into_a_500(
    database_url: str,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by the outage test in CI: releasing a connection that broke mid-request raised
    asyncpg's InternalClientError ("cannot switch to state 15; another operation is in
    progress") out of the request, a 500. Here every release fails that way, on purpose."""
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        headers = bearer(issuer.mint_token("release-owner"))
        org = await create_org(client, headers["Authorization"].removeprefix("Bearer "), "R")
        release = asyncpg.Pool.release

        async def release_then_fail(pool: asyncpg.Pool, connection: Any, **kwargs: Any) -> None:
            await release(pool, connection, **kwargs)
            raise asyncpg.InternalClientError("cannot switch to state 15")

        monkeypatch.setattr(asyncpg.Pool, "release", release_then_fail)
        caplog.clear()
        created = await client.post(
            f"/v1/orgs/{org['id']}/customers", json={"name": "Kept"}, headers=headers
        )
        listed = await client.get(f"/v1/orgs/{org['id']}/customers", headers=headers)
    assert created.status_code == 201, created.text
    assert [c["name"] for c in listed.json()["items"]] == ["Kept"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("dropped on release" in r.getMessage() for r in caplog.records)


def end_the_session_then(terminated: list[int], database_url: str) -> Any:
    """Wrap `Transaction.commit` or `.rollback`: the server really ends the session (as a
    stopping PostgreSQL does, 57P01), then the call fails the way asyncpg reports a fatal
    error that arrived while the connection was idle: InternalClientError, nothing sent."""

    async def ended(transaction: Any) -> None:
        pid = transaction._connection.get_server_pid()
        admin = await asyncpg.connect(database_url)
        try:
            terminated.append(await admin.fetchval("SELECT pg_terminate_backend($1)", pid))
        finally:
            await admin.close()
        raise asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        )

    return ended


async def with_the_session_ending_at(
    method: str,
    database_url: str,
    request: Awaitable[httpx.Response],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[httpx.Response, list[int]]:
    """Send `request` while `Transaction.<method>` meets an ended session; the answer and
    what `pg_terminate_backend` returned."""
    terminated: list[int] = []
    with monkeypatch.context() as patch:
        patch.setattr(
            asyncpg.transaction.Transaction, method, end_the_session_then(terminated, database_url)
        )
        caplog.clear()
        response = await request
    return response, terminated


def assert_unavailable_and_nothing_saved(
    created: httpx.Response, listed: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    assert created.status_code == 503, created.text
    assert created.headers["content-type"] == PROBLEM
    assert created.headers["retry-after"] == "1"
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_session_ended_before_commit_is_a_503_and_nothing_is_saved(
    database_url: str,
    admin_database_url: str,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by the outage test in CI: the handler's last query succeeded, then the stopping
    server's fatal message arrived before COMMIT, and the refused commit was a 500."""
    token = issuer.mint_token("commit-owner")
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        org = await create_org(client, token, "C")
        created, terminated = await with_the_session_ending_at(
            "commit",
            admin_database_url,
            client.post(
                f"/v1/orgs/{org['id']}/customers", json={"name": "Lost"}, headers=bearer(token)
            ),
            caplog,
            monkeypatch,
        )
        listed = await client.get(f"/v1/orgs/{org['id']}/customers", headers=bearer(token))
    assert terminated == [True]
    assert_unavailable_and_nothing_saved(created, listed, caplog)


async def test_a_failed_rollback_leaves_the_handlers_own_error_as_the_answer(
    database_url: str,
    admin_database_url: str,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 404 whose rollback meets an ended session is still the 404, not a 500."""
    token = issuer.mint_token("rollback-owner")
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        org = await create_org(client, token, "R")
        missing, terminated = await with_the_session_ending_at(
            "rollback",
            admin_database_url,
            client.get(f"/v1/orgs/{org['id']}/customers/{uuid.uuid4()}", headers=bearer(token)),
            caplog,
            monkeypatch,
        )
        after = await client.get(f"/v1/orgs/{org['id']}/customers", headers=bearer(token))
    assert terminated == [True]
    assert missing.status_code == 404, missing.text
    assert missing.headers["content-type"] == PROBLEM
    assert after.status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("rollback failed" in r.getMessage() for r in caplog.records)


async def test_a_session_ended_between_two_statements_is_a_503_and_nothing_is_saved(
    database_url: str,
    admin_database_url: str,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by the outage test in CI after the commit fix: the stopping server's fatal
    message arrived between two statements of a create, and asyncpg's refusal of the next
    statement (InternalClientError) was a 500. Here the session really ends (and is gone)
    before the insert, which then fails as asyncpg reports it."""
    token = issuer.mint_token("midway-owner")
    ended: list[int] = []

    async def end_the_session_then_insert(conn: Any, *args: Any) -> Any:
        pid = conn.get_server_pid()
        admin = await asyncpg.connect(admin_database_url)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $1"
            while not await admin.fetchval(gone, pid):  # noqa: ASYNC110 - polls the server
                await asyncio.sleep(0.01)
        finally:
            await admin.close()
        ended.append(pid)
        raise asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )

    async with running_app(app_environ(database_url, issuer)) as (_, client):
        org = await create_org(client, token, "M")
        with monkeypatch.context() as patch:
            patch.setattr(customers_repository, "insert_customer", end_the_session_then_insert)
            caplog.clear()
            created = await client.post(
                f"/v1/orgs/{org['id']}/customers", json={"name": "Lost"}, headers=bearer(token)
            )
        listed = await client.get(f"/v1/orgs/{org['id']}/customers", headers=bearer(token))
    assert ended
    assert_unavailable_and_nothing_saved(created, listed, caplog)


async def test_an_internal_client_error_on_a_working_connection_stays_a_500(
    database_url: str, issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 503 is only for a session that is gone: misuse of a live connection is a bug."""
    token = issuer.mint_token("misuse-owner")

    async def misuse(conn: Any, *args: Any) -> Any:
        raise asyncpg.InternalClientError("cannot switch to state 12; another operation (12)")

    async with running_app(app_environ(database_url, issuer)) as (_, client):
        org = await create_org(client, token, "B")
        monkeypatch.setattr(customers_repository, "insert_customer", misuse)
        created = await client.post(
            f"/v1/orgs/{org['id']}/customers", json={"name": "Bug"}, headers=bearer(token)
        )
    assert created.status_code == 500
    assert created.headers["content-type"] == PROBLEM
