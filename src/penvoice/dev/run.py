"""`penvoice dev`: the API on this machine with nothing else installed.

Starts an embedded PostgreSQL in a local data directory (kept between runs), applies the
migrations, starts a local OIDC issuer on loopback whose key and port are kept in
`.local/issuer` (so a printed token outlives restarts), prints a ready-to-paste `curl` with
a valid token, then serves through exactly the same code path as `penvoice serve`.

`penvoice dev token --sub SUBJECT [--email EMAIL] [--name NAME] [--hours H]` prints a token
of that issuer for any user (a second user, to try invitations and roles); it reads the
key and port from the same directory and needs no running server.
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
from penvoice.dev.issuer import STATE_FILE, LocalIssuer, load_state, persistent_issuer
from penvoice.dev.mailbox import LocalMailbox
from penvoice.dev.postgres import EmbeddedPostgres
from penvoice.dev.roles import APP_ROLE, OWNER_ROLE, ensure_roles
from penvoice.jobs.registry import job_kinds, periodic_tasks
from penvoice.jobs.worker import BackgroundWorker
from penvoice.migrate.errors import NoChange
from penvoice.migrate.runner import Migrator
from penvoice.server import run

DEV_DATABASE = "penvoice"
DEV_SUBJECT = "dev-user"
DEV_EMAIL = "dev@penvoice.local"
TOKEN_LIFETIME_SECONDS = 12 * 3600
ISSUER_DIR = Path(".local/issuer")


def default_migrations_dir() -> Path:
    override = os.environ.get("PENVOICE_MIGRATIONS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "migrations"


async def _prepare_database(pg: EmbeddedPostgres, migrations: Path) -> str:
    """As on the platform: the database owned by a plain role that runs the migrations, and
    the API's URL as the role that owns nothing (so it meets every row-level policy)."""
    await ensure_roles(pg.url())
    conn = await asyncpg.connect(pg.url())
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DEV_DATABASE):
            await conn.execute(f'CREATE DATABASE "{DEV_DATABASE}" OWNER {OWNER_ROLE}')
    finally:
        await conn.close()
    with contextlib.suppress(NoChange):  # already at the newest version
        await Migrator(pg.url(DEV_DATABASE, user=OWNER_ROLE), migrations).up()
    return pg.url(DEV_DATABASE, user=APP_ROLE)


def main(argv: Sequence[str]) -> int:
    if list(argv[:1]) == ["token"]:
        return token_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="penvoice dev",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".local/pg"),
        help="embedded PostgreSQL data directory (default .local/pg)",
    )
    parser.add_argument("--pg-port", type=int, default=0, help="PostgreSQL port (default: free)")
    parser.add_argument(
        "--issuer-port", type=int, default=0, help="issuer port (default: the saved one)"
    )
    parser.add_argument(
        "--issuer-dir",
        type=Path,
        default=ISSUER_DIR,
        help=f"the issuer's key and port, kept between runs (default {ISSUER_DIR})",
    )
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
    issuer = persistent_issuer(args.issuer_dir, port=args.issuer_port)
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
            DEV_SUBJECT, email=DEV_EMAIL, name="Dev User", expires_in=TOKEN_LIFETIME_SECONDS
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


def token_main(argv: Sequence[str]) -> int:
    """`penvoice dev token`: print a token of the dev issuer for any subject and email."""
    parser = argparse.ArgumentParser(
        prog="penvoice dev token",
        description="Print an access token of the `penvoice dev` issuer for any user, e.g. "
        "export BOB=$(penvoice dev token --sub bob --email bob@example.com)",
    )
    parser.add_argument("--sub", required=True, help="the token's subject (the user id)")
    parser.add_argument("--email", help="the user's email (verified, so invitations to it work)")
    parser.add_argument("--name", help="the user's display name")
    parser.add_argument(
        "--unverified", action="store_true", help="email_verified false (invitations refuse it)"
    )
    parser.add_argument(
        "--hours", type=float, default=TOKEN_LIFETIME_SECONDS / 3600, help="lifetime (default 12)"
    )
    parser.add_argument("--issuer-dir", type=Path, default=ISSUER_DIR, help=f"default {ISSUER_DIR}")
    args = parser.parse_args(list(argv))
    if not (args.issuer_dir / STATE_FILE).exists():
        parser.error(f"no dev issuer in {args.issuer_dir}: run `make run` (penvoice dev) first")
    kid, key, port = load_state(args.issuer_dir)
    if not port:
        parser.error(f"the dev issuer in {args.issuer_dir} never ran: run `make run` first")
    issuer = LocalIssuer(port=port, key=(kid, key))  # not started: only its URL and key
    token = issuer.mint_token(
        args.sub,
        email=args.email,
        email_verified=not args.unverified,
        name=args.name,
        expires_in=round(args.hours * 3600),
    )
    print(token)
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
            "Another user: penvoice dev token --sub bob --email bob@example.com "
            "(the issuer's key and port are kept in .local/issuer, so tokens outlive restarts)",
            f"OpenAPI: {base}/docs   metrics: {base}/metrics   Ctrl-C stops everything.",
            f"Job worker in this process: http://127.0.0.1:{worker_port}/metrics"
            if worker_port
            else "Job worker in this process (no probe port).",
            f"Invoices sent by email land in {mail}/ (a local SMTP server, nothing leaves).",
            "",
        ]
    )
