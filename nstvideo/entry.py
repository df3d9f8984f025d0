"""The `nstvideo` command. The CLI is imported inside `run`, so a Ctrl-C while Python loads it ends with one line,
as it does later, instead of a traceback."""

from __future__ import annotations

import signal
import sys

#: Signals received while the main thread's handlers below were installed (a job installs its own meanwhile).
received: list[int] = []


class Stop(BaseException):
    """Raised by `on_signal`. Not a KeyboardInterrupt: typer turns that into a silent exit code 130, and CPython
    (under `python -m`) would end the process by SIGINT even after a clean sys.exit(143)."""


def on_signal(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM both stop the run where it is; `received` says which it was."""
    received.append(signum)
    raise Stop


def install() -> dict[int, object]:
    """Install `on_signal` for SIGINT and SIGTERM; returns the handlers it replaced."""
    return {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}


def run() -> None:
    install()
    try:
        from nstvideo.cli import main
    except (Stop, KeyboardInterrupt):
        signum = received[-1] if received else signal.SIGINT
        print(f"error: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        sys.exit(128 + signum)
    code = main()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)  # the work is over: a late signal must not turn its exit code into -2
    sys.exit(code)
