"""The migrations directory, read like golang-migrate's `file://` source.

Names follow `{version}_{title}.{up|down}.{ext}` (regex `^([0-9]+)_(.*)\\.(down|up)\\.(.*)$`,
version a uint64). Other files and sub-directories are skipped silently; a second file for
the same version and direction is an error. Versions are the sorted union of the versions
that have an up or a down file (a version may have only one of them).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from penvoice.migrate.errors import DuplicateMigrationError, SourceError

FILE_NAME = re.compile(r"([0-9]+)_(.*)\.(down|up)\.(.*)")
MAX_VERSION = 2**64 - 1

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class MigrationFile:
    version: int
    identifier: str
    direction: Direction
    path: Path

    def read(self) -> str:
        return self.path.read_text(encoding="utf-8")


def parse_file_name(name: str) -> tuple[int, str, Direction] | None:
    """`(version, identifier, direction)`, or None when golang-migrate would skip the file."""
    match = FILE_NAME.fullmatch(name)
    if match is None:
        return None
    version = int(match.group(1))
    if version > MAX_VERSION:
        return None
    direction: Direction = "up" if match.group(3) == "up" else "down"
    return version, match.group(2), direction


@dataclass(frozen=True)
class MigrationSource:
    directory: Path
    up: dict[int, MigrationFile]
    down: dict[int, MigrationFile]
    versions: tuple[int, ...]

    @classmethod
    def load(cls, directory: Path) -> MigrationSource:
        try:
            entries = sorted(directory.iterdir(), key=lambda entry: entry.name)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise SourceError(f"open {directory}: {reason.lower()}") from exc
        found: dict[Direction, dict[int, MigrationFile]] = {"up": {}, "down": {}}
        for entry in entries:
            parsed = parse_file_name(entry.name)
            if parsed is None or entry.is_dir():
                continue
            version, identifier, direction = parsed
            if version in found[direction]:
                raise DuplicateMigrationError(entry.name)
            found[direction][version] = MigrationFile(version, identifier, direction, entry)
        versions = tuple(sorted(found["up"].keys() | found["down"].keys()))
        return cls(directory, found["up"], found["down"], versions)

    def exists(self, version: int) -> bool:
        return version in self.up or version in self.down

    def first(self) -> int | None:
        return self.versions[0] if self.versions else None

    def next(self, version: int) -> int | None:
        """The version after `version`, which must be a known version (else None)."""
        position = bisect.bisect_left(self.versions, version)
        if position >= len(self.versions) or self.versions[position] != version:
            return None
        return self.versions[position + 1] if position + 1 < len(self.versions) else None

    def prev(self, version: int) -> int | None:
        position = bisect.bisect_left(self.versions, version)
        if position >= len(self.versions) or self.versions[position] != version:
            return None
        return self.versions[position - 1] if position > 0 else None


def latest_version(migrations_dir: Path) -> int:
    """The highest version with an up migration: the schema version a build expects."""
    source = MigrationSource.load(migrations_dir)
    if not source.up:
        raise SourceError(f"no up migrations in {migrations_dir}")
    return max(source.up)


def source_directory(source: str) -> Path:
    """The directory of a `file://` source URL: `file:///abs`, `file://./rel`, `file://rel`."""
    if not source:
        raise SourceError("no migrations source: pass -path DIR or -source file://DIR")
    parts = urlsplit(source)
    if parts.scheme != "file":
        raise SourceError(
            f'failed to open source, "{source}": unsupported source driver '
            f'"{parts.scheme}" (only file:// is supported)'
        )
    return Path(unquote(parts.netloc + parts.path) or ".").absolute()
