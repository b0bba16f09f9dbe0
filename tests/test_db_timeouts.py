"""The app's sessions carry PostgreSQL's own bounds: `statement_timeout` and
`idle_in_transaction_session_timeout` (DB_STATEMENT_TIMEOUT_MS,
DB_IDLE_IN_TRANSACTION_TIMEOUT_MS), so a transaction nobody drives ends on the server, with
its locks and its snapshot, whatever the client or the app does."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from penvoice.config import Settings
from penvoice.db import DATABASE_UNAVAILABLE_ERRORS
from penvoice.dev.issuer import LocalIssuer
from tests.conftest import app_environ, running_app

pytestmark = pytest.mark.anyio


def test_defaults_fit_the_routes() -> None:
    settings = Settings.from_environ(
        {"DB_URL": "postgresql://x/y", "KC_ISSUER": "http://x/realms/y", "KC_AUDIENCE": "z"}
    )
    assert settings.db_statement_timeout_ms == 5_000
    assert settings.db_idle_in_transaction_timeout_ms == 15_000


async def test_every_pooled_session_carries_both_timeouts(
    database_url: str, issuer: LocalIssuer
) -> None:
    environ = app_environ(
        database_url,
        issuer,
        DB_STATEMENT_TIMEOUT_MS="1500",
        DB_IDLE_IN_TRANSACTION_TIMEOUT_MS="700",
    )
    async with running_app(environ) as (app, _), app.state.database.connection() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "1500ms"
        assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "700ms"


async def test_a_transaction_left_idle_ends_on_the_server_and_releases_its_locks(
    database_url: str, admin_database_url: str, issuer: LocalIssuer
) -> None:
    environ = app_environ(database_url, issuer, DB_IDLE_IN_TRANSACTION_TIMEOUT_MS="300")
    admin = await asyncpg.connect(admin_database_url)
    try:
        async with running_app(environ) as (app, client):
            async with app.state.database.connection() as conn:
                transaction = conn.transaction()
                await transaction.start()
                await conn.execute("SELECT pg_advisory_xact_lock(17)")
                assert not await admin.fetchval("SELECT pg_try_advisory_lock(17)")
                started = time.monotonic()
                while await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE usename = 'penvoice_app' AND state = 'idle in transaction'"
                ):
                    assert time.monotonic() - started < 3, "still idle in transaction"
                    await asyncio.sleep(0.05)
                ended_after = time.monotonic() - started
                assert await admin.fetchval("SELECT pg_try_advisory_lock(17)")  # released
                # What the request edge then meets is a database-unavailable error (a 503).
                with pytest.raises(DATABASE_UNAVAILABLE_ERRORS):
                    await conn.fetchval("SELECT 1")
            print(f"idle transaction ended after {ended_after:.2f}s (bound 0.3s)")
            assert 0.2 < ended_after < 2.0
            # The pool replaces the ended session: the next request is served.
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await admin.close()
