"""A real server shared by the tests that only send it requests (limits, headers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.roles import OWNER_ROLE
from tests.conftest import PostgresServer, app_environ
from tests.reliability.server import ServerProcess, serve

SHARED_MAX_BODY_BYTES = 65536


@pytest.fixture(scope="session")
def shared_server(
    postgres_server: PostgresServer, migrated_template: str, issuer: LocalIssuer
) -> Iterator[ServerProcess]:
    """`penvoice serve` on its own database; nothing it logs may be an error."""
    name = postgres_server.create_database(template=migrated_template, owner=OWNER_ROLE)
    environ = app_environ(
        postgres_server.app_url_for(name), issuer, MAX_BODY_BYTES=str(SHARED_MAX_BODY_BYTES)
    )
    try:
        with serve(environ) as server:
            yield server
        assert not server.error_lines(), "\n".join(server.error_lines())
    finally:
        postgres_server.drop_database(name)
