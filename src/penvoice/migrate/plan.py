"""Which files `up`, `down` and `goto` run: golang-migrate's readUp, readDown and read.

Pure functions over the directory and the current version, so the edge cases (and their
errors: `no change`, `file does not exist`, `limit N short`, `no migration found for
version V`) are tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from penvoice.migrate.errors import (
    FileNotExistError,
    MigrateError,
    NoChange,
    ShortLimitError,
    VersionNotFoundError,
)
from penvoice.migrate.files import MigrationFile, MigrationSource


@dataclass(frozen=True)
class Step:
    version: int  # the version whose file runs
    target: int | None  # the version once it ran (None: no migration applied)
    file: MigrationFile | None  # None: no file for this direction, only the version moves

    @property
    def is_up(self) -> bool:
        return self.target is not None and self.target >= self.version

    def log_string(self) -> str:
        identifier = self.file.identifier if self.file else "<empty>"
        return f"{self.version}/{'u' if self.is_up else 'd'} {identifier}"


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    error: MigrateError | None = None  # raised once the steps ran (`limit N short`)


def _up(source: MigrationSource, version: int) -> Step:
    return Step(version, version, source.up.get(version))


def _down(source: MigrationSource, version: int, target: int | None) -> Step:
    return Step(version, target, source.down.get(version))


def _first(source: MigrationSource) -> int:
    first = source.first()
    if first is None:
        raise FileNotExistError(f"first {source.directory}")
    return first


def _require(source: MigrationSource, version: int | None) -> None:
    if version is not None and not source.exists(version):
        raise VersionNotFoundError(version)


def plan_up(source: MigrationSource, current: int | None, limit: int | None) -> Plan:
    _require(source, current)
    if limit == 0:
        raise NoChange
    steps: list[Step] = []
    position = current
    while limit is None or len(steps) < limit:
        if position is None:
            position = _first(source)
            steps.append(_up(source, position))
            continue
        following = source.next(position)
        if following is None:
            if not steps:
                raise NoChange if limit is None else FileNotExistError()
            if limit is not None:
                return Plan(tuple(steps), ShortLimitError(limit - len(steps)))
            break
        steps.append(_up(source, following))
        position = following
    return Plan(tuple(steps))


def plan_down(source: MigrationSource, current: int | None, limit: int | None) -> Plan:
    _require(source, current)
    if limit == 0:
        raise NoChange
    if current is None:
        raise NoChange if limit is None else FileNotExistError()
    steps: list[Step] = []
    position = current
    while limit is None or len(steps) < limit:
        previous = source.prev(position)
        steps.append(_down(source, position, previous))
        if previous is None:
            break
        position = previous
    short = 0 if limit is None else limit - len(steps)
    return Plan(tuple(steps), ShortLimitError(short) if short > 0 else None)


def plan_goto(source: MigrationSource, current: int | None, target: int) -> Plan:
    _require(source, current)
    _require(source, target)
    if current == target:
        raise NoChange
    steps: list[Step] = []
    if current is None or current < target:
        position = _first(source) if current is None else current
        if current is None:
            steps.append(_up(source, position))
        while position < target:
            following = source.next(position)
            if following is None:
                raise FileNotExistError(f"next for version {position} {source.directory}")
            steps.append(_up(source, following))
            position = following
    else:
        position = current
        while position > target:
            previous = source.prev(position)
            if previous is None:
                raise FileNotExistError(f"prev for version {position} {source.directory}")
            steps.append(_down(source, position, previous))
            position = previous
    return Plan(tuple(steps))
