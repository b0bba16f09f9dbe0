"""What a process used, read from /proc: CPU seconds (user + sys) and resident memory."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """utime + stime (and the reaped children's, when asked) of every thread of `pid`."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    ticks = utime + stime + (cutime + cstime if children else 0)
    return ticks / CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start or since `reset_peak`) in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            values[name] = int(rest.split()[0])
    return values


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0: `echo 5 > /proc/PID/clear_refs`)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process and its live children, plus what its exited children used (the
    postmaster and its backends: backends that exit are reaped into the postmaster)."""
    total = cpu_seconds(root, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all CPUs, /proc/stat), in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS
