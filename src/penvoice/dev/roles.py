"""The two database roles, as on the platform, for local servers (dev, tests, benches).

`OWNER_ROLE` owns the database and its tables and runs the migrations (CNPG's `owner`).
`APP_ROLE` is what the API connects as: it owns nothing and holds only the privileges that
migration 000006 grants (a CNPG managed role in the cluster), so it cannot alter a table,
change row-level security or read around a policy. Both are plain roles: no superuser, no
BYPASSRLS, no CREATEROLE, no CREATEDB.
"""

from __future__ import annotations

import asyncpg

OWNER_ROLE = "penvoice"
APP_ROLE = "penvoice_app"


def create_roles_sql(password: str | None = None) -> str:
    """Idempotent SQL creating both roles (the password only matters where one is checked)."""
    secret = "" if password is None else " PASSWORD " + _literal(password)
    blocks = [
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB{secret};
            END IF;
        END $$;"""
        for role in (OWNER_ROLE, APP_ROLE)
    ]
    return "\n".join(blocks)


async def ensure_roles(admin_url: str, password: str | None = None) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(create_roles_sql(password))
    finally:
        await conn.close()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
