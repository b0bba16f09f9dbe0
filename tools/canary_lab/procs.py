"""The lab's child processes: each under coreutils `timeout`, each remembered, none left."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess

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
