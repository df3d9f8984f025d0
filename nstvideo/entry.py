"""The `nstvideo` command. The CLI is imported inside `run`, so a Ctrl-C while Python loads it ends with one line,
as it does later, instead of a traceback."""

from __future__ import annotations

import signal
import sys

#: Signals that stop a run cleanly: Ctrl-C, `kill`, and a closed terminal or dropped SSH session (SIGHUP, where the
#: platform has it), which would otherwise end the process on the spot and lose a live recording.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

#: Signals received while the main thread's handlers below were installed (a job installs its own meanwhile).
received: list[int] = []


class Stop(BaseException):
    """Raised by `on_signal`. Not a KeyboardInterrupt: typer turns that into a silent exit code 130, and CPython
    (under `python -m`) would end the process by SIGINT even after a clean sys.exit(143)."""


def on_signal(signum: int, frame: object) -> None:
    """Every stop signal stops the run where it is; `received` says which it was."""
    received.append(signum)
    raise Stop


def install() -> dict[int, object]:
    """Install `on_signal` for the stop signals; returns the handlers it replaced."""
    return {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}


def run() -> None:
    install()
    try:
        from nstvideo.cli import main
    except (Stop, KeyboardInterrupt):
        signum = received[-1] if received else signal.SIGINT
        print(f"error: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        sys.exit(128 + signum)
    code = main()
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)  # the work is over: a late signal must not turn its exit code into -2
    sys.exit(code)
