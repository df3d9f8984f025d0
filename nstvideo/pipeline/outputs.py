"""Safe output writing: refuse to clobber, write to a temp file beside the target, rename on success."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from nstvideo.errors import OutputError


def check_output(inp: Path | None, out: Path, overwrite: bool, parent_made: bool = False) -> None:
    """Refuse an output that equals the input, exists without --overwrite, or has no writable dir. `parent_made`:
    `out`'s folder will be made, inside a folder that must exist and be writable."""
    out = Path(out)
    check_name_fits(out.name, f"output name {out.name[:40]}…")
    if inp is not None and _same_file(Path(inp), out):
        raise OutputError(f"output {out} is the input file", "choose another output path; inputs are never overwritten")
    if out.is_dir():
        raise OutputError(f"output {out} is a directory", "give a file name for the output")
    if (out.exists() or out.is_symlink()) and not overwrite:  # a dangling link is something of the user's too
        raise OutputError(f"output {out} already exists", "pass --overwrite to replace it, or choose another name")
    check_parent(out.parent if parent_made else out)


def check_parent(out: Path) -> None:
    """The folder `out` goes into must exist, be a folder, and be writable."""
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"output path's parent {parent} is not a directory", "choose an output inside a directory")
    if not parent.is_dir():
        raise OutputError(f"output directory {parent} does not exist", f"create it first: mkdir -p {parent}")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output directory {parent} is not writable", "choose a directory you can write to")


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


#: Bytes in one file name on Linux, macOS and Windows filesystems.
NAME_MAX = 255


def check_name_fits(name: str, what: str = "", hint: str = "choose a shorter name") -> None:
    """A name longer than file systems hold is refused, saying what it is (`what`: whose output, which folder;
    default: the name's start) and how to fix it; the system's own error (ENAMETOOLONG) would come later, mid-run,
    or as a crash."""
    if (size := len(os.fsencode(name))) > NAME_MAX:
        what = what or f"name {name[:40]}…"
        raise OutputError(f"{what} is {size} bytes long; file names hold {NAME_MAX}", hint)


#: Temp files made and not yet renamed into place or removed: what a hard stop (runner.StopFlag) deletes.
_unfinished: set[Path] = set()


def forget_temp(tmp: Path) -> None:
    """`tmp` was renamed into place or removed."""
    _unfinished.discard(Path(tmp))


#: Folders made for outputs during a run, in the order made: what a hard stop removes when they are left empty.
made_folders: list[Path] = []


def remove_unfinished() -> None:
    """Delete every temp file still being written (the process is about to end without finishing them), and the
    folders made for outputs that are left empty."""
    for tmp in list(_unfinished):
        with contextlib.suppress(OSError):
            tmp.unlink()
        _unfinished.discard(tmp)
    for folder in reversed(made_folders):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty


def temp_path_for(out: Path) -> Path:
    """A fresh, hidden temp file name beside `out`, keeping its suffix so muxers pick the right format."""
    out = Path(out)
    stem = out.stem
    while len(os.fsencode(f".{stem}.12345678.part{out.suffix}")) > NAME_MAX:  # a long legal name must still fit
        stem = stem[:-1]
    try:
        fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".part{out.suffix}", dir=out.parent or ".")
    except OSError as exc:  # the folder went away (an unplugged drive) or never took files (/proc)
        raise OutputError(
            f"cannot write into {out.parent}: {exc.strerror or exc}", "check that the folder exists and is writable"
        ) from None
    os.close(fd)
    # mkstemp makes the file 0600 and the rename keeps it: give it the mode a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    _unfinished.add(Path(name))
    return Path(name)


#: Called with each output just put in place, while the stop signals are held back: the CLI's way to end its job
#: there when that was its last output (a Ctrl-C landing after it would report a written file as interrupted).
on_commit: Callable[[Path], None] | None = None


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """Yield a temp path; rename it onto `out` if the block succeeds, delete it otherwise."""
    tmp = temp_path_for(out)
    try:
        yield tmp
        with _signals_held():
            os.replace(tmp, out)
            forget_temp(tmp)
            if on_commit is not None:
                on_commit(Path(out))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        forget_temp(tmp)
        raise


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """While the CLI watches its outputs, a stop signal waits until the output is in place (then ends the run, or
    is dropped if that was the last output); elsewhere nothing changes."""
    if on_commit is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    from nstvideo import entry

    with entry.held():
        yield
