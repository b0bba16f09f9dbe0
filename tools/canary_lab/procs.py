"""The lab's child processes: each under coreutils `timeout`, each remembered, none left."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
from pathlib import Path

TIMEOUT = shutil.which("timeout") or "/usr/bin/timeout"  # coreutils: bounds every lifetime

# Every process the lab spawns, so that nothing outlives it even when the event loop dies.
SPAWNED: list[subprocess.Popen[bytes]] = []


def stop_spawned() -> None:
    """Stop whatever the lab started and is still running (the last line of defence)."""
    while SPAWNED:
        process = SPAWNED.pop()
        if process.poll() is None:
            stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, to the process group `timeout` made (it and the program)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def reserved_port(taken: set[int] | None = None) -> int:
    """A free loopback port *below* the kernel's ephemeral range.

    A port from `bind(("127.0.0.1", 0))` is an ephemeral one: while a pre-warmed pod waits
    minutes to start listening on it, any outgoing connection (a scrape, a probe, a test's
    client) may take it as its source port, and the pod's bind then fails. Ports below the
    range are never handed out that way."""
    low, _ = _ephemeral_range()
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates:
        if taken and port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port below {low}")
