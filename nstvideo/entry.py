"""The `nstvideo` command. The CLI is imported inside `run`, so a Ctrl-C while Python loads it ends with one line,
as it does later, instead of a traceback."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

#: Signals that stop a run cleanly: Ctrl-C, `kill`, and a closed terminal or dropped SSH session (SIGHUP, where the
#: platform has it), which would otherwise end the process on the spot and lose a live recording.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

#: Signals received while the main thread's handlers below were installed (a job installs its own meanwhile).
received: list[int] = []


class Stop(BaseException):
    """Raised by `on_signal`. Not a KeyboardInterrupt: typer turns that into a silent exit code 130, and CPython
    (under `python -m`) would end the process by SIGINT even after a clean sys.exit(143)."""


finished = False  # set by `finish`
_holding = False  # inside `held`
_held: list[int] = []


def on_signal(signum: int, frame: object) -> None:
    """Every stop signal stops the run where it is; `received` says which it was."""
    if finished:
        return
    if _holding:
        _held.append(signum)
        return
    received.append(signum)
    raise Stop


@contextlib.contextmanager
def held() -> Iterator[None]:
    """A stop signal inside waits for the end of the block (an output being put in place), then stops the run —
    unless the block finished the work. (Blocking the signal would not do: any thread of the process may take it.)"""
    global _holding
    _holding = True
    try:
        yield
    finally:
        _holding = False
        late, _held[:] = list(_held), []
        if late and not finished:
            received.append(late[-1])
            raise Stop


def install() -> dict[int, object]:
    """Install `on_signal` for the stop signals; returns the handlers it replaced."""
    return {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}


def finish() -> None:
    """The work is done (its last output is in place): a signal from now on cannot change how it ended."""
    global finished
    finished = True
    if threading.current_thread() is threading.main_thread():  # only it may set handlers (API use elsewhere)
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)


def run() -> None:
    install()
    try:
        from nstvideo.cli import main
    except (Stop, KeyboardInterrupt):
        signum = received[-1] if received else signal.SIGINT
        print(f"error: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        sys.exit(128 + signum)
    code = main()
    finish()  # a late signal must not turn the exit code into -2
    sys.exit(code)
