import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import EmbeddedPostgres, free_port
from penvoice.dev.roles import ensure_roles
from penvoice.migrate.runner import Migrator
from penvoice.schema import SCHEMA_VERSION
from penvoice.web.edge import Edge
from tests.conftest import MIGRATIONS_DIR, app_environ, running_app

pytestmark = pytest.mark.anyio


async def test_ready_when_database_schema_and_keys_are_fine(
    database_url: str, issuer: LocalIssuer
) -> None:
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "issuer_keys": "ok"}}


async def test_schema_behind_is_not_ready(empty_database_url: str, issuer: LocalIssuer) -> None:
    async with running_app(app_environ(empty_database_url, issuer)) as (_, client):
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["failing"] == ["database"]
    assert f"this build needs {SCHEMA_VERSION}" in body["checks"]["database"]


async def test_dirty_schema_is_not_ready(
    database_url: str, admin_database_url: str, issuer: LocalIssuer
) -> None:
    conn = await asyncpg.connect(admin_database_url)  # the app's role may only read it
    await conn.execute("UPDATE schema_migrations SET dirty = true")
    await conn.close()
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        body = (await client.get("/readyz")).json()
    assert body["failing"] == ["database"]
    assert "dirty" in body["checks"]["database"]


async def test_newer_schema_is_ready_for_the_previous_release_during_a_canary(
    database_url: str, admin_database_url: str, issuer: LocalIssuer
) -> None:
    conn = await asyncpg.connect(admin_database_url)
    await conn.execute("UPDATE schema_migrations SET version = $1", SCHEMA_VERSION + 1)
    await conn.close()
    async with running_app(app_environ(database_url, issuer)) as (_, client):
        assert (await client.get("/readyz")).status_code == 200


async def test_unreachable_issuer_at_start_is_not_ready(database_url: str) -> None:
    environ = {
        "DB_URL": database_url,
        "KC_ISSUER": f"http://127.0.0.1:{free_port()}/realms/penvoice",
        "KC_AUDIENCE": "penvoice-api",
    }
    async with running_app(environ) as (_, client):
        started = time.perf_counter()
        response = await client.get("/readyz")
        elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert response.json()["failing"] == ["issuer_keys"]
    assert elapsed < 1.0


async def test_client_credentials_are_checked_when_a_secret_is_set(
    database_url: str, issuer: LocalIssuer
) -> None:
    good = app_environ(database_url, issuer, KC_API_CLIENT_SECRET=issuer.client_secret)
    async with running_app(good) as (app, client):
        await _wait_for(lambda: _credentials_checked(app))
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"]["client_credentials"] == "ok"
    bad = app_environ(database_url, issuer, KC_API_CLIENT_SECRET="not-the-secret")
    async with running_app(bad) as (app, client):
        await _wait_for(lambda: _credentials_checked(app))
        body = (await client.get("/readyz")).json()
    assert body["failing"] == ["client_credentials"]
    assert "rejected" in body["checks"]["client_credentials"]


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A server of this test's own, so stopping it disturbs no other test."""
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    yield server
    server.stop(mode="immediate")


@pytest.mark.slow
async def test_database_outage_is_not_ready_and_recovers_without_restart(
    own_postgres: EmbeddedPostgres, issuer: LocalIssuer
) -> None:
    url = own_postgres.url()
    await ensure_roles(url)
    await Migrator(url, MIGRATIONS_DIR).up()
    async with running_app(app_environ(url, issuer)) as (_, client):
        assert (await client.get("/readyz")).status_code == 200
        own_postgres.stop(mode="immediate")
        started = time.perf_counter()
        down = await client.get("/readyz")
        assert time.perf_counter() - started < 1.0
        assert down.status_code == 503
        assert down.json()["failing"] == ["database"]
        assert (await client.get("/healthz")).status_code == 200  # liveness ignores the DB
        own_postgres.start()
        assert (await client.get("/readyz")).status_code == 200


def _credentials_checked(app: Edge) -> bool:
    result = app.state.readiness.client_credentials
    return result is not None and result.detail not in {
        "not checked yet",
        "waiting for the issuer's discovery",
    }


async def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_ready_with_an_ed25519_realm_and_client_secret_basic(database_url: str) -> None:
    """A realm whose active key is Ed25519 and whose token endpoint takes the client's
    secret only in the Authorization header (`client_secret_basic`)."""
    with LocalIssuer(key_type="Ed25519", client_auth_methods=("client_secret_basic",)) as realm:
        environ = app_environ(
            database_url,
            realm,
            KC_API_CLIENT_SECRET=realm.client_secret,
            KC_API_CLIENT_AUTH_METHOD="client_secret_basic",
        )
        async with running_app(environ) as (app, client):
            await _wait_for(lambda: _credentials_checked(app))
            response = await client.get("/readyz")
            assert response.status_code == 200, response.text
            assert response.json()["checks"] == {
                "database": "ok",
                "issuer_keys": "ok",
                "client_credentials": "ok",
            }
            me = await client.get(
                "/v1/me", headers={"Authorization": f"Bearer {realm.mint_token('ed-user')}"}
            )
            assert me.status_code == 200, me.text
