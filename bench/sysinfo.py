"""CPU accounting from /proc: a process's CPU seconds and the machine's busy fraction."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class MachineSample:
    busy: int
    total: int


def machine() -> MachineSample:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return MachineSample(sum(values) - idle, sum(values))


def machine_busy_cores(a: MachineSample, b: MachineSample) -> float:
    """Cores' worth of CPU busy between two samples (all processes, not just ours)."""
    total = b.total - a.total
    return 0.0 if total <= 0 else (b.busy - a.busy) / total * (os.cpu_count() or 1)


def describe() -> dict[str, object]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            names = (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
            model = next(names, "")
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
    }
