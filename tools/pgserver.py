"""A PostgreSQL server for tests and the canary lab: databases per test, the platform's roles.

Shared by `tests/conftest.py` (its fixtures) and `tools/canary_lab` (`make canary-lab`
outside pytest), so that neither imports the other's fixtures nor copies them.

As on the platform (`penvoice.dev.roles`): the migrations run as the role that owns the
database and its tables (CNPG's owner); the API connects as a role that owns nothing and holds
only the grants of migration 000006 (a CNPG managed role), so it cannot change a table or its
row-level security.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from penvoice.dev.postgres import EmbeddedPostgres
from penvoice.dev.roles import APP_ROLE, OWNER_ROLE, create_roles_sql

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"

ROLE_PASSWORD = "penvoice-test"  # noqa: S105 - test roles on loopback servers only

__all__ = ["APP_ROLE", "OWNER_ROLE", "PostgresServer", "execute_sql"]


@dataclass
class PostgresServer:
    admin_url: str
    embedded: EmbeddedPostgres | None

    def url_for(self, database: str) -> str:
        """Superuser URL: seeding and inspecting behind row-level security's back."""
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def role_url_for(self, database: str, role: str) -> str:
        parts = urlsplit(self.admin_url)
        host = parts.hostname or "127.0.0.1"
        netloc = f"{role}:{ROLE_PASSWORD}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))

    def app_url_for(self, database: str) -> str:
        """The API's URL: the role that owns nothing (CNPG's managed role on the platform)."""
        return self.role_url_for(database, APP_ROLE)

    def owner_url_for(self, database: str) -> str:
        """The migrations' URL: the plain role that owns the tables (CNPG's owner)."""
        return self.role_url_for(database, OWNER_ROLE)

    def ensure_roles(self) -> None:
        """Both roles, cluster-wide; migration 000006 refuses to run without the app's."""
        execute_sql(self.admin_url, create_roles_sql(ROLE_PASSWORD))

    def create_database(self, template: str | None = None, owner: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        clause += f' OWNER "{owner}"' if owner else ""
        execute_sql(self.admin_url, f'CREATE DATABASE "{name}"{clause}')
        return name

    def drop_database(self, name: str) -> None:
        execute_sql(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def migrated_template(self) -> str:
        """A database with every migration applied by the owner role (a template for more)."""
        from penvoice.migrate.runner import Migrator  # noqa: PLC0415 - only when migrating

        self.ensure_roles()
        name = self.create_database(owner=OWNER_ROLE)
        asyncio.run(Migrator(self.owner_url_for(name), MIGRATIONS_DIR).up())
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
