"""golang-migrate's stderr output: plain lines, or Go `log` lines with -verbose."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

Log = Callable[[str], None]


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String(): 850ns, 12.5µs, 3.25ms, 1.5s, 2m3s, 1h0m0s."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    if nanos < 1_000:
        return f"{nanos}ns"
    if nanos < 1_000_000:
        return _fraction(nanos, 1_000) + "µs"
    if nanos < 1_000_000_000:
        return _fraction(nanos, 1_000_000) + "ms"
    hours, rest = divmod(nanos, 3_600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    prefix = f"{hours}h" if hours else ""
    if hours or minutes:
        prefix += f"{minutes}m"
    return prefix + _fraction(rest, 10**9) + "s"


def _fraction(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def stderr_log(verbose: bool, stream: TextIO | None = None) -> Log:
    """Lines to stderr; with -verbose prefixed like Go's `log` ("2006/01/02 15:04:05 ")."""

    def write(message: str) -> None:
        out = stream or sys.stderr
        prefix = time.strftime("%Y/%m/%d %H:%M:%S ") if verbose else ""
        out.write(prefix + message.rstrip("\n") + "\n")
        out.flush()

    return write
