"""`penvoice dev`: the API on this machine with nothing else installed.

Starts an embedded PostgreSQL in a local data directory (kept between runs), applies the
migrations, starts a local OIDC issuer on loopback, prints a ready-to-paste `curl` with a
valid token, then serves through exactly the same code path as `penvoice serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from penvoice.access import configure_logging
from penvoice.app import create_app
from penvoice.config import Settings, WorkerSettings
from penvoice.dev.issuer import LocalIssuer
from penvoice.dev.mailbox import LocalMailbox
from penvoice.dev.postgres import EmbeddedPostgres
from penvoice.jobs.registry import job_kinds, periodic_tasks
from penvoice.jobs.worker import BackgroundWorker
from penvoice.migrate.errors import NoChange
from penvoice.migrate.runner import Migrator
from penvoice.server import run

DEV_DATABASE = "penvoice"
DEV_ROLE = "penvoice"
DEV_SUBJECT = "dev-user"
TOKEN_LIFETIME_SECONDS = 12 * 3600


def default_migrations_dir() -> Path:
    override = os.environ.get("PENVOICE_MIGRATIONS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "migrations"


async def _prepare_database(pg: EmbeddedPostgres, migrations: Path) -> str:
    """A database owned by a plain role, as on the platform, so row-level security applies."""
    conn = await asyncpg.connect(pg.url())
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", DEV_ROLE):
            await conn.execute(f"CREATE ROLE {DEV_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DEV_DATABASE):
            await conn.execute(f'CREATE DATABASE "{DEV_DATABASE}" OWNER {DEV_ROLE}')
    finally:
        await conn.close()
    url = pg.url(DEV_DATABASE, user=DEV_ROLE)
    with contextlib.suppress(NoChange):  # already at the newest version
        await Migrator(url, migrations).up()
    return url


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="penvoice dev", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".local/pg"),
        help="embedded PostgreSQL data directory (default .local/pg)",
    )
    parser.add_argument("--pg-port", type=int, default=0, help="PostgreSQL port (default: free)")
    parser.add_argument("--issuer-port", type=int, default=0, help="issuer port (default: free)")
    parser.add_argument(
        "--worker-port",
        type=int,
        default=8081,
        help="the in-process job worker's probes and metrics (default 8081; 0: none)",
    )
    args = parser.parse_args(list(argv))

    configure_logging("info")
    pg = EmbeddedPostgres(args.data_dir, port=args.pg_port)
    pg.start()
    issuer = LocalIssuer(port=args.issuer_port)
    issuer.start()
    mailbox = LocalMailbox(args.data_dir.parent / "mail")
    mailbox.start()
    try:
        db_url = asyncio.run(_prepare_database(pg, default_migrations_dir()))
        settings = Settings.from_environ(
            {
                "DB_URL": db_url,
                "KC_ISSUER": issuer.issuer_url,
                "KC_AUDIENCE": "penvoice-api",
                "KC_API_CLIENT_SECRET": issuer.client_secret,
                "CORS_ORIGINS": "http://localhost:5173,http://localhost:3000",
                "HOST": "127.0.0.1",
                "PORT": str(args.port),
                "SHUTDOWN_DRAIN_SECONDS": "0",
            }
        )
        token = issuer.mint_token(
            DEV_SUBJECT,
            email="dev@penvoice.local",
            name="Dev User",
            expires_in=TOKEN_LIFETIME_SECONDS,
        )
        worker = BackgroundWorker(
            WorkerSettings.from_environ(
                {
                    "DB_URL": db_url,
                    "WORKER_HOST": "127.0.0.1",
                    "WORKER_PORT": str(args.worker_port),
                    "JOB_RETRY_FIRST_DELAY_SECONDS": "2",
                    **mailbox.environ(),
                }
            ),
            job_kinds(),
            periodic_tasks(),
        )
        worker.start()
        print(_banner(settings, token, args.worker_port, mailbox.directory), flush=True)
        try:
            run(create_app(settings), settings)
        finally:
            worker.stop()
    finally:
        mailbox.stop()
        issuer.stop()
        pg.stop()
    return 0


def _banner(settings: Settings, token: str, worker_port: int, mail: Path) -> str:
    base = f"http://127.0.0.1:{settings.port}"
    return "\n".join(
        [
            "",
            f"Penvoice API (dev) on {base} — database {DEV_DATABASE} (embedded), "
            f"issuer {settings.kc_issuer}",
            f"Token for subject {DEV_SUBJECT!r}, valid {TOKEN_LIFETIME_SECONDS // 3600} h:",
            f"export PENVOICE_TOKEN={token}",
            f'curl -s -H "Authorization: Bearer $PENVOICE_TOKEN" {base}/v1/me',
            f"OpenAPI: {base}/docs   metrics: {base}/metrics   Ctrl-C stops everything.",
            f"Job worker in this process: http://127.0.0.1:{worker_port}/metrics"
            if worker_port
            else "Job worker in this process (no probe port).",
            f"Invoices sent by email land in {mail}/ (a local SMTP server, nothing leaves).",
            "",
        ]
    )
