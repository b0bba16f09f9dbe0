"""`migrate OPTIONS COMMAND [arg...]`: golang-migrate's CLI for this runner.

`main(argv)` (argv without the program name) returns the exit code: 0 success or
`no change`, 1 any error (`error: ...` on stderr), 2 a bad command line. See `usage.py`.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from penvoice import __version__
from penvoice.migrate.dburl import redact
from penvoice.migrate.errors import MigrateError, NoChange, NoMigration
from penvoice.migrate.files import source_directory
from penvoice.migrate.flags import FlagError, FlagKind, HelpRequested, parse_flags
from penvoice.migrate.output import Log, go_duration, stderr_log
from penvoice.migrate.runner import Migrator
from penvoice.migrate.usage import SUBCOMMAND_USAGE, USAGE

TOP_FLAGS: dict[str, FlagKind] = {
    "help": "bool",
    "version": "bool",
    "verbose": "bool",
    "prefetch": "uint",
    "lock-timeout": "seconds",
    "path": "string",
    "database": "string",
    "source": "string",
}
Operation = Callable[[Migrator], Awaitable[str | None]]


class _Exit(Exception):
    """Control flow: print `text` (if any) and exit with `code`."""

    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def _write(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


def _number(text: str, what: str, signed: bool = False) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+" if signed else "[0-9]+", text):
        raise _Exit(1, f"error: can't read {what}")
    return int(text)


def _sub_usage(name: str) -> str:
    defaults = "  -all\n    \tApply all down migrations\n" if name == "down" else ""
    return f"{SUBCOMMAND_USAGE[name]}\n{defaults}  -help\n    \tPrint help information\n"


def _down(args: list[str], all_: bool) -> Operation:
    if all_:
        if args:
            raise _Exit(1, "error: -all cannot be used with other arguments")
        return lambda migrator: _none(migrator.down(None))
    if not args:
        raise _Exit(
            2,
            "error: down needs N or -all: this migrate never prompts (it runs "
            "unattended); use `down N` to apply N down migrations or `down -all`",
        )
    if len(args) > 1:
        raise _Exit(1, "error: too many arguments")
    limit = _number(args[0], "limit argument N")
    return lambda migrator: _none(migrator.down(limit))


async def _none(awaitable: Awaitable[None]) -> str | None:
    await awaitable
    return None


async def _version(migrator: Migrator) -> str:
    version, dirty = await migrator.version()
    if version is None:
        raise NoMigration
    return f"{version} (dirty)" if dirty else str(version)


def _command(name: str, args: list[str]) -> Operation:
    if name not in SUBCOMMAND_USAGE:
        raise _Exit(2, USAGE)
    spec: dict[str, FlagKind] = {"help": "bool", **({"all": "bool"} if name == "down" else {})}
    try:
        flags, rest = parse_flags(args, spec)
    except HelpRequested:
        raise _Exit(0, _sub_usage(name)) from None
    except FlagError as exc:
        raise _Exit(2, f"{exc}\nUsage of {name}:\n{_sub_usage(name)}") from None
    if flags.get("help") is True:
        raise _Exit(0, _sub_usage(name))
    if name == "up":
        limit = _number(rest[0], "limit argument N") if rest else None
        return lambda migrator: _none(migrator.up(limit))
    if name == "down":
        return _down(rest, flags.get("all") is True)
    if name == "version":
        return _version
    if not rest:
        raise _Exit(1, "error: please specify version argument V")
    version = _number(rest[0], "version argument V", signed=name == "force")
    if name == "goto":
        return lambda migrator: _none(migrator.goto(version))
    if version < -1:
        raise _Exit(1, "error: argument V must be >= -1")
    return lambda migrator: _none(migrator.force(version))


def _source_dir(flags: dict[str, str | bool]) -> Path:
    """-source wins over -path (the shorthand for -source=file://path), as in golang-migrate."""
    source = str(flags.get("source") or "")
    if not source and flags.get("path"):
        source = f"file://{flags['path']}"
    return source_directory(source)


async def _run(migrator: Migrator, operation: Operation) -> str | None:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, migrator.request_stop, signum.name)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        return await operation(migrator)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _execute(name: str, operation: Operation, flags: dict[str, str | bool], log: Log) -> int:
    started = time.monotonic()
    try:
        migrations = _source_dir(flags) if name != "version" else Path(".")
        migrator = Migrator(
            str(flags.get("database") or ""),
            migrations,
            lock_timeout=float(flags.get("lock-timeout") or 15),
            log=log,
            verbose=flags.get("verbose") is True,
        )
        result = asyncio.run(_run(migrator, operation))
    except NoChange as exc:
        log(str(exc))
        return 0
    except MigrateError as exc:
        log(f"error: {exc}")
        return 1
    except Exception as exc:  # never a traceback with connection details
        log(f"error: {type(exc).__name__}: {exc}")
        return 1
    if result is not None:
        log(result)
    if flags.get("verbose") is True and name != "version":
        log(f"Finished after {go_duration(time.monotonic() - started)}")
    return 0


def main(argv: list[str]) -> int:
    try:
        flags, args = parse_flags(argv, TOP_FLAGS)
    except HelpRequested:
        _write(USAGE)
        return 0
    except FlagError as exc:
        _write(f"{exc}\n{USAGE}")
        return 2
    if flags.get("version") is True:
        _write(__version__)
        return 0
    if flags.get("help") is True or not args:
        _write(USAGE)
        return 0 if args or flags.get("help") is True else 2
    database_url = str(flags.get("database") or "")
    base = stderr_log(flags.get("verbose") is True)

    def log(message: str) -> None:
        base(redact(message, database_url))

    try:
        operation = _command(args[0], args[1:])
    except _Exit as exc:
        if exc.text:
            (log if exc.text.startswith("error:") else _write)(exc.text)
        return exc.code
    return _execute(args[0], operation, flags, log)
