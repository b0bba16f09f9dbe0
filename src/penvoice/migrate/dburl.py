"""The `-database` URL: golang-migrate's `x-*` options, the advisory lock key, redaction.

golang-migrate strips every `x-*` query parameter before connecting. Of its PostgreSQL
options this runner honours `x-migrations-table`, `x-migrations-table-quoted` and
`x-statement-timeout` (milliseconds, per migration file), refuses `x-multi-statement=true`
(it would change what a file means) and ignores the others.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from penvoice.migrate.errors import DatabaseError

DEFAULT_TABLE = "schema_migrations"
LOCK_SALT = 1486364155
SCHEMES = ("postgres", "postgresql")
MASK = "xxxxxx"
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def advisory_lock_key(database_name: str, *names: str) -> int:
    """golang-migrate's GenerateAdvisoryLockId: crc32(names... NUL database_name) * salt, uint32.

    The runner passes (schema, table): the key hashes `schema\\0table\\0database_name`.
    """
    data = "\x00".join([*names, database_name]).encode()
    return (zlib.crc32(data) * LOCK_SALT) & 0xFFFFFFFF


def _parse_bool(name: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DatabaseError(f"Unable to parse option {name}: invalid syntax {value!r}")


@dataclass(frozen=True)
class DatabaseConfig:
    url: str
    connect_dsn: str
    database_name: str  # URL path with its leading slash ("/app"), as golang-migrate keys the lock
    table: str
    schema: str | None  # None: the connection's current_schema()
    statement_timeout: float | None  # seconds

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)


def parse_database_url(url: str) -> DatabaseConfig:
    if not url:
        raise DatabaseError("no database URL: pass -database postgres://user:pass@host:5432/db")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise DatabaseError(
            f"unsupported database URL scheme {parts.scheme!r} in {mask_url(url)}: "
            "use postgres:// or postgresql://"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {key: value for key, value in query if key.startswith("x-")}
    kept = [(key, value) for key, value in query if not key.startswith("x-")]
    dsn = urlunsplit(parts._replace(query=urlencode(kept))) if options else url
    if _parse_bool("x-multi-statement", options.get("x-multi-statement", "false")):
        raise DatabaseError("x-multi-statement=true is not supported: each file runs as one unit")
    table, schema = _migrations_table(options)
    timeout_ms = options.get("x-statement-timeout", "")
    if timeout_ms and not timeout_ms.isdigit():
        raise DatabaseError(f'strconv.Atoi: parsing "{timeout_ms}": invalid syntax')
    return DatabaseConfig(
        url=url,
        connect_dsn=dsn,
        database_name=unquote(parts.path),
        table=table,
        schema=schema,
        statement_timeout=int(timeout_ms) / 1000 if timeout_ms and int(timeout_ms) else None,
    )


def _migrations_table(options: dict[str, str]) -> tuple[str, str | None]:
    table = options.get("x-migrations-table", "") or DEFAULT_TABLE
    if not _parse_bool("x-migrations-table-quoted", options.get("x-migrations-table-quoted", "0")):
        return table, None
    if not (table.startswith('"') and table.endswith('"') and len(table) > 1):
        raise DatabaseError(
            'x-migrations-table must be quoted (for instance \'"migrate"."schema_migrations"\') '
            f"when x-migrations-table-quoted is enabled, current value is: {table}"
        )
    names = re.findall(r'"(.*?)"', table)
    if len(names) > 2:
        raise DatabaseError(f'"{table}" MigrationsTable contains too many dot characters')
    return names[-1], names[0] if len(names) == 2 else None


def mask_url(url: str) -> str:
    """The URL with its password (in the authority or a `password=` parameter) masked."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable database URL>"
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}"
    query = re.sub(r"(^|&)(password=)[^&]*", rf"\1\2{MASK}", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact(text: str, url: str) -> str:
    """Remove every form of the URL's password from `text` (for error messages)."""
    if not url:
        return text
    text = text.replace(url, mask_url(url))
    try:
        parts = urlsplit(url)
        secrets = [parts.password or "", *(v for k, v in parse_qsl(parts.query) if k == "password")]
    except ValueError:
        return text
    raw = [s for s in secrets if s]
    for secret in {*raw, *(unquote(s) for s in raw)}:
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text
