"""Errors that reach the user as one line plus a hint, each with its exit code (see DESIGN.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class NstError(Exception):
    """Base error: `message` says what is wrong, `hint` says how to fix it."""

    exit_code = EXIT_REFUSED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(NstError):
    """A bad flag or value."""


class InputError(NstError):
    """A missing, unreadable or unsupported input."""


class StyleNotFoundError(NstError):
    """No style by that name or path."""


class ModelError(NstError):
    """A model file that breaks the contract or cannot be loaded."""


class DeviceUnavailableError(NstError):
    """A requested device, provider, encoder or backend is not available."""


class OutputError(NstError):
    """The output cannot be written where asked (exists, equals the input, unwritable dir)."""


class ProcessingError(NstError):
    """Failed while working: decode error mid-file, disk full, provider crash."""

    exit_code = EXIT_FAILED


class Interrupted(NstError):
    """Stopped by a signal; partial output has been removed."""

    def __init__(self, signum: int, detail: str = "partial output removed") -> None:
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}" + (f"; {detail}" if detail else ""))
        self.exit_code = 128 + int(signum)  # as a shell reports a process a signal ended: 130, 143, 129 (SIGHUP)


class MissingDependencyError(NstError):
    """An optional dependency (onnxruntime, torch) is not installed."""


def one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception from a library as one short line for an `error:` message: no terminal colours (torch), no status
    codes, source paths or C++ signatures (ONNX Runtime), the part that says what is wrong."""
    import re

    text = re.sub(
        r"\x1b\[[0-9;]*m|\[ONNXRuntimeError\] : \d+ : \w+ : |/\S*onnxruntime_src\S*\s*|onnxruntime::\S*\([^)]*\)\s*",
        "",
        str(exc),
    )
    line = next((t.strip() for t in text.splitlines() if t.strip()), type(exc).__name__)
    return line if len(line) <= limit else line[: limit - 1] + "…"
