"""Runtime half: load exported ONNX styles and stylise frames from sources to sinks. Never imports torch."""

from __future__ import annotations

import logging
import os

_said: set[str] = set()


def log_once(line: str, level: int = logging.INFO) -> None:
    """Log a line once per process: the webcam loads every style (each would repeat the provider lines), a job reads
    its input to check it and again to stylise it (each would repeat its notes)."""
    if line not in _said:
        _said.add(line)
        logging.getLogger("nstvideo").log(level, line)


def usable_cores() -> int:
    """The CPUs this process may run on (taskset, a container's cpuset), not all the host's."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
