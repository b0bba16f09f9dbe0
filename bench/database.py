"""The benchmark's PostgreSQL: embedded, kept in `.local/bench/`, seeded once, reused.

The data directory and a `seed.json` describing what was seeded live in the bench
directory; `--reuse` keeps both when the seed version and scale still match, and applies
any newer migration to the seeded data (migrations only add, so that is what a deploy does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench import seed
from penvoice.dev.postgres import EmbeddedPostgres
from penvoice.dev.roles import APP_ROLE, OWNER_ROLE, create_roles_sql
from penvoice.migrate.errors import NoChange
from penvoice.migrate.runner import Migrator

REPO = Path(__file__).resolve().parent.parent
MIGRATIONS = REPO / "migrations"
DATABASE = "penvoice_bench"


class BenchDatabase:
    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root
        self.pg = EmbeddedPostgres(root / "pg", port=port)
        self.seed_file = root / "seed.json"

    @property
    def admin_url(self) -> str:
        return self.pg.url(DATABASE)

    @property
    def app_url(self) -> str:
        return self.pg.url(DATABASE, user=APP_ROLE)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pid_file = self.pg.data_dir / "postmaster.pid"
        if pid_file.exists() and self.pg.is_running():  # left running: use its port
            self.pg.port = int(pid_file.read_text().splitlines()[3])
        self.pg.start()

    def stop(self) -> None:
        self.pg.stop()

    def postmaster_pid(self) -> int:
        return int((self.pg.data_dir / "postmaster.pid").read_text().split()[0])

    def version(self) -> str:
        return self.pg.psql("SHOW server_version")

    def prepare(
        self, *, reuse: bool, scale: float, log: Callable[[str], None] = print
    ) -> dict[str, Any]:
        """A migrated, seeded, verified database; returns the seed report."""
        if reuse and self.seed_file.exists():
            info: dict[str, Any] = json.loads(self.seed_file.read_text())
            if info.get("seed_version") == seed.SEED_VERSION and info.get("scale") == scale:
                applied = asyncio.run(self._migrate())
                log(
                    f"reusing the seeded database ({info['rows']['invoices']:,} invoices)"
                    + (f"; applied migrations up to {applied}" if applied else "")
                )
                info["reused"] = True
                return info
            log("seed.json does not match this seed version or scale: seeding again")
        self.pg.stop()
        shutil.rmtree(self.pg.data_dir, ignore_errors=True)
        self.seed_file.unlink(missing_ok=True)
        self.pg.start()
        asyncio.run(self._create())
        asyncio.run(self._migrate())
        log(f"seeding (scale {scale}) ...")
        info = asyncio.run(seed.seed(self.admin_url, scale, log))
        log(f"seeded in {info['seconds']}s: {info['database_size']}")
        info["verification"] = asyncio.run(seed.verify(self.admin_url, log=log))
        if not info["verification"]["ok"]:
            raise RuntimeError(f"seeded data failed verification: {info['verification']}")
        info.update(seed_version=seed.SEED_VERSION, scale=scale, reused=False)
        self.seed_file.write_text(json.dumps(info, indent=2, default=str))
        return info

    async def _create(self) -> None:
        conn = await asyncpg.connect(self.pg.url())
        try:
            await conn.execute(create_roles_sql())
            await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
            await conn.execute(f'CREATE DATABASE "{DATABASE}" OWNER {OWNER_ROLE}')
        finally:
            await conn.close()

    async def _migrate(self) -> int | None:
        """Apply pending migrations as the owner role; the version reached, or None. The
        roles first: a database seeded before the role split (000006) has no `penvoice_app`."""
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(create_roles_sql())
        finally:
            await admin.close()
        owner_url = self.pg.url(DATABASE, user=OWNER_ROLE)
        with contextlib.suppress(NoChange):
            await Migrator(owner_url, MIGRATIONS).up()
            conn = await asyncpg.connect(owner_url)
            try:
                version: int = await conn.fetchval("SELECT version FROM schema_migrations")
                await conn.execute("ANALYZE invoices")
            finally:
                await conn.close()
            return version
        return None
