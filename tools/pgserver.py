"""A PostgreSQL server for tests and the canary lab: databases per test, the app's role.

Shared by `tests/conftest.py` (its fixtures) and `tools/canary_lab` (`make canary-lab`
outside pytest), so that neither imports the other's fixtures nor copies them.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from penvoice.dev.postgres import EmbeddedPostgres

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"

APP_ROLE = "penvoice"
APP_ROLE_PASSWORD = "penvoice-test"  # noqa: S105 - a test role on loopback servers only


@dataclass
class PostgresServer:
    admin_url: str
    embedded: EmbeddedPostgres | None

    def url_for(self, database: str) -> str:
        """Superuser URL: seeding and inspecting behind row-level security's back."""
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def app_url_for(self, database: str) -> str:
        """The API's URL: a plain role that owns the tables, as on the platform (CNPG's owner)."""
        parts = urlsplit(self.admin_url)
        host = parts.hostname or "127.0.0.1"
        netloc = f"{APP_ROLE}:{APP_ROLE_PASSWORD}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))

    def ensure_app_role(self) -> None:
        execute_sql(
            self.admin_url,
            f"""DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                    CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS
                        PASSWORD '{APP_ROLE_PASSWORD}';
                END IF;
            END $$""",
        )

    def create_database(self, template: str | None = None, owner: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        clause += f' OWNER "{owner}"' if owner else ""
        execute_sql(self.admin_url, f'CREATE DATABASE "{name}"{clause}')
        return name

    def drop_database(self, name: str) -> None:
        execute_sql(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def migrated_template(self) -> str:
        """A database with every migration applied by the app's role (a template for more)."""
        from penvoice.migrate.runner import Migrator  # noqa: PLC0415 - only when migrating

        self.ensure_app_role()
        name = self.create_database(owner=APP_ROLE)
        asyncio.run(Migrator(self.app_url_for(name), MIGRATIONS_DIR).up())
        return name


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def execute_sql(url: str, sql: str) -> None:
    """Run a (multi-statement) SQL string on its own connection."""
    asyncio.run(_execute(url, sql))
