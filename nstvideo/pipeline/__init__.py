"""Runtime half: load exported ONNX styles and stylise frames from sources to sinks. Never imports torch."""

from __future__ import annotations

import functools
import logging
import os

_said: set[str] = set()


def log_once(line: str, level: int = logging.INFO) -> None:
    """Log a line once per process: the webcam loads every style (each would repeat the provider lines), a job reads
    its input to check it and again to stylise it (each would repeat its notes)."""
    if line not in _said:
        _said.add(line)
        logging.getLogger("nstvideo").log(level, line)


@functools.cache  # read once: every session and every clip of a folder run asks
def usable_cores(cgroup: str = "/sys/fs/cgroup") -> int:
    """The CPUs this process may use — its affinity (taskset, a cpuset) and a container's CPU quota (`docker
    --cpus 2` on a 64-core host is 2) — not all the host's: threads beyond them only fight over the same cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cpu_quota(cgroup)
    return max(1, min(cores, quota) if quota else cores)


def _cpu_quota(cgroup: str) -> int | None:
    """cgroup v2's cpu.max ("200000 100000") or v1's cfs quota and period, rounded up; None without a limit."""
    import math

    try:
        with open(f"{cgroup}/cpu.max") as f:
            fields = f.read().split()
    except OSError:
        try:
            with open(f"{cgroup}/cpu/cpu.cfs_quota_us") as q, open(f"{cgroup}/cpu/cpu.cfs_period_us") as p:
                fields = [q.read().strip(), p.read().strip()]
        except OSError:
            return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except (ValueError, IndexError):  # "max": no limit
        return None
    return math.ceil(quota / period) if quota > 0 and period > 0 else None
