"""Errors of the migration runner, worded exactly like golang-migrate's where it has one.

The CLI prints `error: <message>` and exits 1 for every `MigrateError` except `NoChange`,
which golang-migrate prints without the prefix and treats as success.
"""

from __future__ import annotations


class MigrateError(Exception):
    """Base class: the message is what the CLI prints after `error: `."""


class NoChange(MigrateError):
    def __init__(self) -> None:
        super().__init__("no change")


class NoMigration(MigrateError):
    """`version` when no migration is applied (golang-migrate's ErrNilVersion)."""

    def __init__(self) -> None:
        super().__init__("no migration")


class DirtyError(MigrateError):
    def __init__(self, version: int | None) -> None:
        self.version = -1 if version is None else version
        super().__init__(f"Dirty database version {self.version}. Fix and force version.")


class LockTimeoutError(MigrateError):
    def __init__(self) -> None:
        super().__init__("timeout: can't acquire database lock")


class InvalidVersionError(MigrateError):
    def __init__(self) -> None:
        super().__init__("version must be >= -1")


class FileNotExistError(MigrateError):
    """golang-migrate's os.ErrNotExist, e.g. `up N` when already at the latest version."""

    def __init__(self, context: str = "") -> None:
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}file does not exist")


class ShortLimitError(MigrateError):
    """`up N` / `down N` ran out of migrations after applying some of them."""

    def __init__(self, short: int) -> None:
        self.short = short
        super().__init__(f"limit {short} short")


class VersionNotFoundError(MigrateError):
    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(f"no migration found for version {version}")


class SourceError(MigrateError):
    """The migrations directory cannot be read (missing, duplicate file, ...)."""


class DuplicateMigrationError(SourceError):
    def __init__(self, filename: str) -> None:
        self.filename = filename
        super().__init__(f"duplicate migration file: {filename}")


class DatabaseError(MigrateError):
    """Bad database URL, connection failure, or a failing bookkeeping query."""


class MigrationFailedError(MigrateError):
    """A migration body failed; the database is left dirty at the target version."""


class MigrationInterrupted(MigrateError):
    """SIGTERM/SIGINT stopped the run; the database was left clean (see the message)."""
