"""A process's CPU time and peak memory from /proc (Linux), as the benchmark reports them."""

from __future__ import annotations

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_from_stat(stat: str, ticks_per_s: int = CLOCK_TICKS) -> float:
    """utime + stime of /proc/<pid>/stat (every thread of the process), in seconds."""
    # The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / ticks_per_s


def peak_rss_from_status(status: str) -> int:
    """VmHWM of /proc/<pid>/status (the resident set's high-water mark), in bytes."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(value) * 1024
    raise ValueError("no VmHWM line in the status")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        return cpu_seconds_from_stat(fh.read())


def peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return peak_rss_from_status(fh.read())
