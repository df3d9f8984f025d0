"""Runtime half: load exported ONNX styles and stylise frames from sources to sinks. Never imports torch."""

from __future__ import annotations

import logging

_said: set[str] = set()


def log_once(line: str, level: int = logging.INFO) -> None:
    """Log a line once per process: the webcam loads every style (each would repeat the provider lines), a job reads
    its input to check it and again to stylise it (each would repeat its notes)."""
    if line not in _said:
        _said.add(line)
        logging.getLogger("nstvideo").log(level, line)
