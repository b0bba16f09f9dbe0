"""Go `flag` package parsing, as golang-migrate's CLI does it.

Single or double dash, `-name value` or `-name=value`, boolean flags take no separate
value; parsing stops at the first non-flag argument (the command) or after `--`. Unlike
Go, a negative number is an argument, so `force -1` works without `force -- -1`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

FlagKind = Literal["bool", "string", "uint", "seconds"]
FlagValue = str | bool
_BOOLS = {
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}
_NUMBER = {"uint": re.compile(r"[0-9]+"), "seconds": re.compile(r"[0-9]+(\.[0-9]+)?")}


class FlagError(Exception):
    """A bad command line: the CLI prints the message and the usage, and exits 2."""


class HelpRequested(Exception):
    """`-h` given but not defined: print the usage and exit 0, like Go."""


def parse_flags(
    args: Sequence[str], spec: Mapping[str, FlagKind]
) -> tuple[dict[str, FlagValue], list[str]]:
    values: dict[str, FlagValue] = {}
    rest = list(args)
    while rest:
        arg = rest[0]
        if len(arg) < 2 or arg[0] != "-" or arg[1:].isdigit():
            break  # a negative number (`force -1`) is an argument, not an unknown flag
        dashes = 2 if arg[1] == "-" else 1
        rest.pop(0)
        if arg == "--":
            break
        name, equals, value = arg[dashes:].partition("=")
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {arg}")
        kind = spec.get(name)
        if kind is None:
            if name in ("help", "h"):
                raise HelpRequested
            raise FlagError(f"flag provided but not defined: -{name}")
        if kind == "bool":
            if equals and value not in _BOOLS:
                raise FlagError(f'invalid boolean value "{value}" for -{name}: parse error')
            values[name] = _BOOLS[value] if equals else True
            continue
        if not equals:
            if not rest:
                raise FlagError(f"flag needs an argument: -{name}")
            value = rest.pop(0)
        if kind in _NUMBER and not _NUMBER[kind].fullmatch(value):
            raise FlagError(f'invalid value "{value}" for flag -{name}: parse error')
        values[name] = value
    return values, rest
