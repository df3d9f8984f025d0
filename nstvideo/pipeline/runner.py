"""Threads joined by bounded queues: decode -> stylise -> encode overlap, files never drop a frame."""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from nstvideo.entry import STOP_SIGNALS
from nstvideo.errors import EXIT_REFUSED, Interrupted, NstError, OutputError, ProcessingError
from nstvideo.pipeline import outputs
from nstvideo.pipeline.outputs import check_name_fits, check_output, check_parent, remove_unfinished

log = logging.getLogger("nstvideo")

_DONE = object()
QUEUE_SIZE = 8


class StopFlag:
    """Set by a stop signal (entry.STOP_SIGNALS); every stage polls it so shutdown is prompt and clean."""

    #: Stop signals after which a shutdown still finishing (a long recording's index) is abandoned, as FFmpeg does.
    HARD_STOP = 3

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self.count = 0

    def set(self, signum: int) -> None:
        self.signum = signum
        self.count += 1
        self.event.set()
        if self.count == 2:
            print(f"stopping: finishing the outputs (press Ctrl-C {self.HARD_STOP - 2} more to give them up)",
                  file=sys.stderr, flush=True)  # fmt: skip
        elif self.count >= self.HARD_STOP:
            remove_unfinished()
            print(f"error: interrupted by {signal.Signals(signum).name} {self.count} times; gave up the outputs not "
                  "yet finished", file=sys.stderr, flush=True)  # fmt: skip
            os._exit(128 + signum)

    def check(self) -> None:
        if self.event.is_set():
            raise Interrupted(self.signum or signal.SIGINT)


@contextlib.contextmanager
def interruptible() -> Iterator[StopFlag]:
    """Turn the stop signals into a StopFlag for the duration (main thread only)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {}
    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, lambda signum, _frame: flag.set(signum))
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Stage(threading.Thread):
    """A daemon thread running `body`; an exception is kept for the main thread to raise, never lost."""

    def __init__(self, name: str, body: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.body = body
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.body()
        except BaseException as exc:  # handed to the main thread, never lost
            self.error = exc


def _put(q: queue.Queue, item: Any, stopping: Callable[[], bool]) -> bool:
    """Blocking put that gives up when stopping (so back-pressure never deadlocks shutdown)."""
    while not stopping():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: StopFlag, stages: list[Stage]) -> Any:
    while True:
        stop.check()
        for s in stages:
            if s.error is not None:
                raise s.error
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue


def run_pipeline(
    frames: Iterable[Any],
    process: Callable[[list[Any]], list[Any]],
    emit: Callable[[Any], None],
    stop: StopFlag,
    *,
    batch_size: int = 1,
    on_progress: Callable[[int], None] | None = None,
    lanes: int = 1,
) -> int:
    """Pull `frames` (decode thread), `process` them in batches (`lanes` inference threads: frames in parallel on a
    CPU, Stylizer.parallel_lanes), `emit` each result here, in the frames' order.

    Returns the number of frames emitted. Raises the first stage error, or Interrupted when stopped.
    """
    decoded: queue.Queue = queue.Queue(QUEUE_SIZE)
    processed: queue.Queue = queue.Queue(QUEUE_SIZE)
    # a failure winds this pipeline's stages down without touching `stop`, which says a signal came (and may be a
    # folder run's, going on to its next video)
    failed = threading.Event()

    def stopping() -> bool:
        return stop.event.is_set() or failed.is_set()

    def decode() -> None:
        for item in enumerate(frames):  # numbered: lanes finish out of order
            if not _put(decoded, item, stopping):
                return
        for _ in range(lanes):  # one end mark for each lane
            _put(decoded, _DONE, stopping)

    def infer() -> None:
        done = False
        while not done and not stopping():
            try:
                first = decoded.get(timeout=0.1)
            except queue.Empty:
                continue
            if first is _DONE:
                break
            batch = [first]
            while len(batch) < batch_size:
                try:
                    nxt = decoded.get_nowait()
                except queue.Empty:
                    break
                if nxt is _DONE:
                    done = True
                    break
                batch.append(nxt)
            results = process([item for _, item in batch])
            if not _put(processed, [(n, r) for (n, _), r in zip(batch, results, strict=True)], stopping):
                return
        _put(processed, _DONE, stopping)

    stages = [Stage("nstvideo-decode", decode)]
    stages += [Stage("nstvideo-infer" + (f"-{i}" if lanes > 1 else ""), infer) for i in range(lanes)]
    for s in stages:
        s.start()
    count = 0
    waiting: dict[int, Any] = {}  # results that came before an earlier frame's
    ended = 0
    try:
        while ended < lanes:
            item = _get(processed, stop, stages)
            if item is _DONE:
                ended += 1
                continue
            waiting.update(item)
            while count in waiting:
                emit(waiting.pop(count))
                count += 1
                if on_progress:
                    on_progress(count)
    except BaseException:
        failed.set()  # let the other stages wind down
        raise
    finally:
        for s in stages:
            s.join(timeout=5)
    for s in stages:
        if s.error is not None:
            raise s.error
    return count


class ProgressReporter:
    """A rich progress bar (count, rate, ETA) on a TTY; a plain log line every few seconds otherwise."""

    def __init__(self, description: str, total: int | None, unit: str = "frames", interval: float = 5.0) -> None:
        self.description, self.total, self.unit, self.interval = description, total, unit, interval
        self.rate_unit = {"frames": "fps", "images": "images/s"}.get(unit, "it/s")
        self.started = time.monotonic()
        self.last_log = self.started
        self.count = 0
        self._bar = None
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(f"{{task.fields[fps]:.1f}} {self.rate_unit}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._bar.add_task(description, total=total, fps=0.0)
            self._bar.start()

    @property
    def fps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.count / elapsed if elapsed > 0 else 0.0

    def update(self, count: int) -> None:
        self.count = count
        if self._bar is not None:
            self._bar.update(self._task, completed=count, fps=self.fps)
            return
        now = time.monotonic()
        if now - self.last_log >= self.interval:
            self.last_log = now
            of = f"/{self.total}" if self.total else ""
            eta = ""
            if self.total and self.fps > 0:
                eta = f", ETA {max(0.0, (self.total - count) / self.fps):.0f} s"
            log.info("%s: %d%s %s, %.1f %s%s", self.description, count, of, self.unit, self.fps, self.rate_unit, eta)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def as_processing_error(exc: BaseException) -> NstError:
    """Anything unexpected while working becomes exit code 1 with the original reason."""
    if isinstance(exc, NstError):
        return exc
    return ProcessingError(f"failed while working: {type(exc).__name__}: {exc}", "run again with --debug for details")


def stylize_file(
    inp: str,
    out: str,
    stylizer: Any,
    *,
    start: float = 0.0,
    duration: float | None = None,
    encoder: str = "auto",
    crf: int = 18,
    preset: str = "medium",
    batch_size: int = 1,
    overwrite: bool = False,
    stop: StopFlag | None = None,
) -> int:
    """Stylise a video file into `out` (H.264, audio copied); returns the number of frames written.

    A smoothing Stylizer gets one lane: its frames come in order, from one thread, as one sequence; others may get
    two (Stylizer.parallel_lanes), their results put back in order. `stop`: a flag the caller's signal handlers
    set (a folder run's), instead of this call's own.
    """
    from nstvideo.pipeline.engine import check_batch_size
    from nstvideo.pipeline.media import FileSource, Frame, VideoFileSink

    check_batch_size(batch_size)
    with FileSource(inp, start=start, duration=duration) as source:
        refuse_still(source, inp)
        check_output(Path(inp), Path(out), overwrite)
        info = source.info
        width, height = stylizer.output_shape(info.width, info.height)
        log.info(
            "%s: %dx%d, %s fps, %s frames -> %s at %dx%d, style %s on %s",
            inp, info.width, info.height, f"{float(info.fps):.3g}" if info.fps else "?",
            info.frame_count or "?", out, width, height, stylizer.model.name, stylizer.provider,
        )  # fmt: skip
        for note in source.notes:
            log.info(note)
        stylizer.reset()  # a fresh sequence
        process = lambda batch: [  # noqa: E731
            Frame(img, f.pts, f.duration)
            for f, img in zip(batch, stylizer.stylize_batch([f.image for f in batch]), strict=True)
        ]
        progress = ProgressReporter(f"stylising {Path(inp).name}", info.frame_count)
        with (
            interruptible() if stop is None else contextlib.nullcontext(stop) as stop,
            VideoFileSink(
                out, info, width=width, height=height, source=inp, start=start, duration=duration,
                encoder=encoder, crf=crf, preset=preset, log=log.info, stop_check=stop.check,
            ) as sink,
        ):  # fmt: skip
            try:
                count = run_pipeline(
                    source.frames(), process, sink.send, stop, batch_size=batch_size, on_progress=progress.update,
                    lanes=stylizer.parallel_lanes(info.width, info.height),
                )  # fmt: skip
            finally:
                progress.close()
    log.info("wrote %s: %d frames, %.1f fps", out, count, progress.fps)
    return count


def plural(n: int, noun: str) -> str:
    """ "1 video", "2 videos"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def refuse_still(source: Any, inp: str | Path) -> None:
    """A one-frame "video" (a photo, whatever its name) no player would show: `image` is for those."""
    from nstvideo.errors import InputError

    if source.still:
        raise InputError(f"{inp} is a still image; `file` makes videos", f"for a photo: nstvideo image {inp} OUT")


def video_targets(
    inp: str | Path, out: str | Path, *, overwrite: bool = False, skip_existing: bool = False, recursive: bool = False,
    encoder: str = "auto", exclude: Path | None = None,
) -> list[tuple[Path, Path]]:  # fmt: skip
    """The (input, output) pairs of `file` on a folder: each video under its own name, in .mp4 unless it is an
    .mkv or .mov (whose container is kept), refused now, before a model loads, if any cannot be written.
    `recursive`: the subfolders' videos too, into the same subfolders of OUT. `out` ending in a slash is a folder
    whatever its name. `exclude`: the folder not read as input (default: OUT)."""
    from nstvideo.pipeline.sources import VIDEO_SUFFIXES, list_files

    src, dst = Path(inp), Path(out)
    files = list_files(
        src, VIDEO_SUFFIXES, "video", "one file: nstvideo file IN OUT", recursive=recursive, exclude=exclude or dst
    )
    targets = [(f, dst / video_output_name(f.relative_to(src), encoder)) for f in files]
    named_as_file = dst.suffix.lower() in VIDEO_SUFFIXES and not _ends_in_slash(out)
    return folder_targets(src, dst, targets, overwrite, skip_existing, named_as_file, "a video")


def _ends_in_slash(out: str | Path) -> bool:
    return isinstance(out, str) and out.endswith(("/", os.sep))


def names_folder(out: str) -> bool:
    """OUT as given names a folder: one that is there, or any name ending in a slash (`looks/`, even `a.jpg/`)."""
    return _ends_in_slash(out) or os.path.isdir(out)


def into_folder(inp: Path, out: str, video: bool, encoder: str = "auto") -> tuple[Path, bool]:
    """One input and OUT an existing folder, or a name ending in a slash (a folder made for it, inside an existing
    one): the output goes in it under the input's name, as a folder run names it. Returns the output's path and
    whether its folder is to be made (`output_folder`)."""
    folder = Path(out)
    is_dir = os.path.isdir(folder)  # False for a name too long to be anything (check_output says so), not raised
    if not (_ends_in_slash(out) or is_dir):
        return folder, False
    if not is_dir:
        if os.path.exists(folder):
            raise OutputError(
                f"output {out} names a folder, but {folder} is a file",
                f"name another folder, or drop the {out[-1]} to name a file",
            )
        check_name_fits(folder.name, f"folder name {folder.name[:40]}…")
        check_parent(folder)
    return folder / output_name(inp, video, encoder), not is_dir


def style_targets(
    inp: Path, out: str, styles: list[Any], *, video: bool, overwrite: bool = False, skip_existing: bool = False,
    encoder: str = "auto",
) -> tuple[list[tuple[Any, Path]], bool]:  # fmt: skip
    """One input in several styles (`--style a,b` or `all`): into folder OUT, as `NAME-STYLE.EXT` each, so they
    sort together and compare side by side. Refused now, before a model loads, if any cannot be written. Returns
    the (style, output) pairs to do and whether OUT is to be made (`output_folder`)."""
    from nstvideo.errors import UsageError

    first, new_folder = into_folder(inp, out, video, encoder)
    if first == Path(out):
        named = output_name(inp, video, encoder)
        raise UsageError(
            f"{len(styles)} styles make {len(styles)} files, and {out} is not a folder",
            f"give a folder as OUT, e.g. {Path(out).with_suffix('')}/ (made if missing), to get {named.stem}-STYLE"
            f"{named.suffix} files in it" + ("" if video else ", or an image name for one contact sheet"),
        )
    targets = [(m, first.with_name(f"{first.stem}-{_file_safe(m.name)}{first.suffix}")) for m in styles]
    seen: dict[str, Any] = {}
    for m, t in targets:
        check_name_fits(t.name, f"style {m.name[:40]}'s output name", "give that style alone, with OUT a file name")
        if (twin := seen.setdefault(t.name.lower(), m)) is not m:  # two files whose styles share a name
            raise OutputError(
                f"styles {twin.name} ({twin.path}) and {m.name} ({m.path}) would both be written as {t.name}",
                "give one of them on its own, or rename one (nstvideo export/import --name)",
            )
    there = [t for _, t in targets if skip_existing and t.is_file()]
    if there:
        log.info("%d of %d already there in %s: skipped (--skip-existing)", len(there), len(targets), first.parent)
    for _, t in targets:
        if t not in there:
            check_output(inp, t, overwrite, parent_made=new_folder)
    return [(m, t) for m, t in targets if t not in there], new_folder


def style_folders(
    inp: Path, out: Path, styles: list[Any], *, video: bool, overwrite: bool = False, skip_existing: bool = False,
    recursive: bool = False, encoder: str = "auto",
) -> list[tuple[Any, Path, list[tuple[Path, Path]]]]:  # fmt: skip
    """A folder in several styles: one folder run per style, into OUT/STYLE/. Every style's outputs are checked
    now, before the first model loads; OUT (which must exist by now) is never read as input, whichever style's
    folder is inside it. Returns (style, its folder, its (input, output) pairs to do)."""
    seen: dict[str, Any] = {}
    plans = []
    for m in styles:
        name = _file_safe(m.name)
        check_name_fits(name, f"style {m.name[:40]}'s folder name", "give that style alone")
        if (twin := seen.setdefault(name.lower(), m)) is not m:
            raise OutputError(
                f"styles {twin.name} ({twin.path}) and {m.name} ({m.path}) would both be written into {out / name}",
                "give one of them on its own, or rename one (nstvideo export/import --name)",
            )
        sub = out / name
        targets = (
            video_targets(inp, sub, overwrite=overwrite, skip_existing=skip_existing, recursive=recursive,
                          encoder=encoder, exclude=out)
            if video
            else image_targets(inp, sub, overwrite=overwrite, skip_existing=skip_existing, recursive=recursive,
                               exclude=out)
        )  # fmt: skip
        plans.append((m, sub, targets))
    return plans


def stylize_folder_in_styles(
    inp: Path, out: str, styles: list[Any], make_stylizer: Callable[[Any], Any], *, video: bool,
    overwrite: bool = False, skip_existing: bool = False, recursive: bool = False, **options: Any,
) -> None:  # fmt: skip
    """A folder in several styles: one folder run per style into OUT/STYLE/, every style's outputs checked
    (style_folders) before the first model loads. An input that cannot be read is skipped in every style and every
    style runs; the run then ends with one error (exit 1). `options`: stylize_file's."""
    from nstvideo.errors import UsageError
    from nstvideo.pipeline.sources import IMAGE_SUFFIXES

    dst = Path(out)
    named = (".mp4", ".mkv", ".mov") if video else IMAGE_SUFFIXES
    if dst.suffix.lower() in named and not names_folder(out):
        raise UsageError(
            f"{inp} is a folder: in several styles it needs a folder as OUT, not {out}",
            f"give a folder, e.g. {dst.with_suffix('')}/, to get a folder per style in it"
            + ("" if video else "; a contact sheet takes one photo"),
        )
    if os.path.isdir(dst) and os.path.samefile(dst, inp):
        raise OutputError(f"output directory {dst} is the input directory", "choose another directory")
    skipped: list[str] = []
    with output_folder(dst):  # made if missing (the styles' folders go in it), removed if left empty
        plans = style_folders(inp, dst, styles, video=video, overwrite=overwrite, skip_existing=skip_existing,
                              recursive=recursive, encoder=options.get("encoder", "auto"))  # fmt: skip
        for i, (model, sub, targets) in enumerate(plans, start=1):
            log.info("style %d of %d: %s", i, len(plans), model.name)
            if not targets:
                log.info("every output of %s is in %s already: nothing to do", model.name, sub)
                continue
            try:
                with make_stylizer(model) as s:
                    if video:
                        stylize_videos(inp, sub, s, overwrite=overwrite, targets=targets, **options)
                    else:
                        stylize_images(str(inp), str(sub), s, overwrite=overwrite, targets=targets)
            except SkippedInputs as exc:  # the next styles would skip the same inputs, and do the others
                skipped.append(f"{model.name}: {exc.message}")
            except NstError as exc:
                if isinstance(exc, Interrupted) or (i == 1 and exc.exit_code == EXIT_REFUSED):
                    raise  # its own count says what was written; a bad option (--size, --device) is no one style's
                done = f"{i - 1} of {len(plans)} styles done before it"
                raise type(exc)(f"style {model.name}: {exc.message}; {done}", exc.hint) from exc
    if skipped:
        raise ProcessingError(
            f"{len(skipped)} of {len(plans)} styles skipped inputs ({skipped[0]})",
            "the warnings above say why; every style wrote the others. Once fixed, run again with --skip-existing "
            "to do only those",
        )


#: Width of one picture on a contact sheet, and the height of the label under it.
SHEET_TILE, SHEET_LABEL = 360, 26


def contact_sheet(
    inp: Path, out: Path, styles: list[Any], make_stylizer: Callable[[Any], Any], *, photo: Any = None,
    overwrite: bool = False,
) -> None:  # fmt: skip
    """One photo in several styles as one image (`--style all` with OUT an image name): the photo first, then each
    style, in a grid of labelled tiles, to choose from at a glance or to share. One model at a time."""
    import cv2
    import numpy as np

    from nstvideo.pipeline.sinks import check_image_suffix, write_image
    from nstvideo.pipeline.sources import read_image

    check_output(inp, out, overwrite)
    check_image_suffix(out)
    photo = read_image(inp) if photo is None else photo
    h, w = photo.shape[:2]
    size = (SHEET_TILE, max(1, round(h * SHEET_TILE / w)))

    def tile(image: Any, label: str) -> Any:
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        strip = np.full((SHEET_LABEL, SHEET_TILE, 3), 32, np.uint8)
        cv2.putText(strip, label[:40], (8, SHEET_LABEL - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (235, 235, 235), 1,
                    cv2.LINE_AA)  # fmt: skip
        return np.vstack([small, strip])

    tiles = [tile(photo, "original")]
    for i, model in enumerate(styles, start=1):
        log.info("style %d of %d: %s", i, len(styles), model.name)
        try:
            with make_stylizer(model) as stylizer:
                tiles.append(tile(stylizer(photo), model.name))
        except Exception as exc:  # nothing is written: the sheet is whole or not there
            if i == 1 and isinstance(exc, NstError):
                raise  # a bad option (--size, --device) is no one style's
            error = as_processing_error(exc)
            raise type(error)(f"style {model.name}: {error.message}; no sheet written", error.hint) from exc
    cols = math.ceil(math.sqrt(len(tiles)))
    blank = np.zeros_like(tiles[0])
    rows = [np.hstack((tiles + [blank] * cols)[r * cols : (r + 1) * cols]) for r in range(math.ceil(len(tiles) / cols))]
    write_image(out, np.vstack(rows))
    log.info("wrote %s: %s on %s, %d per row", out, plural(len(styles), "style"), inp.name, cols)


def _file_safe(name: str) -> str:
    """A style's name as part of a file name (an imported file's may hold anything)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def stylize_with_styles(
    inp: Path, targets: list[tuple[Any, Path]], make_stylizer: Callable[[Any], Any], *, video: bool,
    photo: Any = None, overwrite: bool = False, **options: Any,
) -> int:  # fmt: skip
    """One input in each style of `targets` (style_targets'), one model loaded at a time; returns the number
    written. A failure ends the run, naming the style and how many were written; a signal keeps the finished ones."""
    from nstvideo.pipeline.sources import read_image

    written = 0

    def done() -> str:
        return f"{written} of {plural(len(targets), 'style')} written"

    def failed(model: Any, exc: Exception) -> NstError:  # after some were written, the run failed while working
        error = as_processing_error(exc)
        kind = ProcessingError if written else type(error)
        return kind(f"style {model.name}: {error.message}; {done()}", error.hint)

    with interruptible() as stop:
        for i, (model, t) in enumerate(targets, start=1):
            if stop.event.is_set():
                raise Interrupted(stop.signum or signal.SIGINT, done())
            log.info("style %d of %d: %s", i, len(targets), model.name)
            try:
                stylizer = make_stylizer(model)
            except NstError as exc:
                if i == 1:  # a bad option (--size, --device) is no one style's: said as it is
                    raise
                raise failed(model, exc) from exc
            try:
                with stylizer:
                    if video:
                        stylize_file(str(inp), str(t), stylizer, overwrite=overwrite, stop=stop, **options)
                    else:
                        write_styled(inp, t, stylizer(read_image(inp) if photo is None else photo))
                        log.info("wrote %s", t)
                written += 1
            except Interrupted as exc:
                raise Interrupted(exc.exit_code - 128, f"{done()}; {t.name}'s partial output removed") from exc
            except Exception as exc:
                raise failed(model, exc) from exc
    return written


def video_output_name(path: Path, encoder: str = "auto") -> Path:
    """A video's output name: its own, in .mp4 (ProRes: .mov) unless it is an .mkv or .mov, whose container is
    kept (a suffix that is no video's, as in `take.2024.06.01`, is part of the name)."""
    from nstvideo.pipeline.media import CONTAINER_FORMATS, PRORES_CONTAINERS
    from nstvideo.pipeline.sources import VIDEO_SUFFIXES

    kept, new = (PRORES_CONTAINERS, ".mov") if encoder == "prores" else (CONTAINER_FORMATS, ".mp4")
    suffix = path.suffix.lower()
    if suffix in kept:
        return path
    replaced = suffix in VIDEO_SUFFIXES or suffix in (".gif", ".apng", ".webp")  # animations are videos too
    return path.with_suffix(new) if replaced else path.with_name(f"{path.name}{new}")


def output_name(inp: Path, video: bool, encoder: str = "auto") -> Path:
    """The name one input's output gets in a folder: a video's as video_output_name says, an image's its own."""
    return video_output_name(Path(inp.name), encoder) if video else Path(inp.name)


def stylize_videos(
    inp: str | Path, out: str | Path, stylizer: Any, *, overwrite: bool = False, skip_existing: bool = False,
    targets: list[tuple[Path, Path]] | None = None, recursive: bool = False, **options: Any,
) -> int:  # fmt: skip
    """Every video of folder `inp` into folder `out`, the model loaded once; returns the number written.

    A video that cannot be read, ends early, or that the options do not fit (--start beyond its end) is skipped with
    a warning and the others are written; the run then ends with an error (exit 1) counting them. A failure to
    write (a full disk) ends the run: the next videos would fail the same way. `targets`: video_targets', when
    the caller has them (checked before the model loaded). `options`: stylize_file's.
    """
    from nstvideo.errors import InputError, UsageError

    if targets is None:
        targets = video_targets(inp, out, overwrite=overwrite, skip_existing=skip_existing, recursive=recursive,
                                encoder=options.get("encoder", "auto"))  # fmt: skip
    src, dst = Path(inp), Path(out)
    failed: list[str] = []
    written = 0

    def done() -> str:
        return f"{written} of {plural(len(targets), 'video')} written to {dst}"

    with output_folder(dst) as make_folder:
        # one flag for the whole run: a signal between videos, or just after one is renamed into place, is kept
        # for the next check instead of being lost with a per-video handler
        with interruptible() as stop:
            for i, (f, t) in enumerate(targets, start=1):
                if stop.event.is_set():
                    raise Interrupted(stop.signum or signal.SIGINT, done())
                name = str(f.relative_to(src))
                log.info("video %d of %d: %s", i, len(targets), name)
                try:
                    make_folder(t.parent)
                    stylize_file(str(f), str(t), stylizer, overwrite=overwrite, stop=stop, **options)
                    written += 1
                except Interrupted as exc:
                    raise Interrupted(exc.exit_code - 128, f"{done()}; {name}'s partial output removed") from exc
                except (InputError, UsageError, ProcessingError, OutputError) as exc:
                    _ends_the_run(exc, name, done())
                    failed.append(f"{name}: {exc.message}")
                    log.warning("warning: skipped %s: %s%s", name, exc.message, f" ({exc.hint})" if exc.hint else "")
        if written:
            log.info("wrote %s to %s", plural(written, "video"), dst)
        _end_folder_run(failed, len(targets), written, "video",
                        "the warnings above say why; check that the folder holds videos that play elsewhere, and the "
                        "options (--start, --duration, --output-size) against them")  # fmt: skip
    return written


#: A write failing so ends a folder run: a full disk or quota, a folder gone read-only.
WRITE_FAILURES = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS)


def _ends_the_run(exc: NstError, name: str, done: str) -> None:
    """A write that failed (a full disk, a folder gone read-only) ends a folder run: the next outputs would fail
    the same way. Raised with the input's name and the count written."""
    if isinstance(exc, OutputError) or getattr(exc.__cause__, "errno", None) in WRITE_FAILURES:
        raise ProcessingError(f"{name}: {exc.message}; {done}", exc.hint) from exc


@contextlib.contextmanager
def output_folder(dst: Path) -> Iterator[Callable[[Path], None]]:
    """A folder run's OUT, created if missing; yields what makes a subfolder of it (a recursive run's, as each
    output needs it). Folders it made and left empty (every input skipped, a stop before the first was written)
    are removed at the end, however the run ended."""
    made: list[Path] = []  # also in outputs.made_folders, for a hard stop

    def make(folder: Path) -> None:
        for d in [*reversed(folder.relative_to(dst).parents), folder.relative_to(dst)]:
            if not (d := dst / d).is_dir():
                try:
                    d.mkdir()
                except OSError as exc:
                    if isinstance(exc, FileExistsError) and d.is_dir():  # made meanwhile (another run into OUT)
                        continue
                    why = f"cannot create output directory {d}: {exc.strerror}"
                    raise OutputError(why, "choose another OUT") from exc
                made.append(d)
                outputs.made_folders.append(d)

    make(dst)
    try:
        yield make
    finally:
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()  # only if empty
            with contextlib.suppress(ValueError):
                outputs.made_folders.remove(d)


class SkippedInputs(ProcessingError):
    """A folder run that went to its end but skipped inputs it could not read (exit 1): the next style of a run in
    several styles still goes (a failed write, by contrast, ends everything)."""


def _end_folder_run(failed: list[str], total: int, written: int, noun: str, none_written: str) -> None:
    """A folder run that skipped inputs ends with one error counting them (exit 1)."""
    if failed:
        more = f", and {len(failed) - 1} more" if len(failed) > 1 else ""
        raise SkippedInputs(
            f"{len(failed)} of {plural(total, noun)} skipped ({failed[0]}{more})",
            f"the other {written} {'was' if written == 1 else 'were'} written; the warnings above say why each was "
            "skipped. Once fixed, run again with --skip-existing to do only those"
            if written
            else none_written,
        )


def image_targets(
    inp: str | Path, out: str | Path, *, overwrite: bool = False, skip_existing: bool = False, photo: Any = None,
    recursive: bool = False, exclude: Path | None = None,
) -> list[tuple[Path, Path]]:  # fmt: skip
    """The (input, output) pairs of an image job, refused now, before a model loads, if any cannot be written.
    `photo`: the single input, already read (so checked): a big photo is decoded once. `recursive`: a folder's
    subfolders too, into the same subfolders of OUT. `exclude`: the folder not read as input (default: OUT)."""
    from nstvideo.pipeline.sinks import check_image_suffix
    from nstvideo.pipeline.sources import IMAGE_SUFFIXES, is_image_path, list_files, read_image

    src, dst = Path(inp), Path(out)
    if not src.is_dir():
        if photo is None:
            read_image(src)
        if skip_existing and dst.is_file():
            return []
        check_output(src, dst, overwrite)
        check_image_suffix(dst)
        return [(src, dst)]
    files = list_files(src, IMAGE_SUFFIXES, "image", recursive=recursive, exclude=exclude or dst)
    targets = [(f, dst / f.relative_to(src)) for f in files]
    named_as_file = is_image_path(dst) and not _ends_in_slash(out)
    return folder_targets(src, dst, targets, overwrite, skip_existing, named_as_file, "an image")


def folder_targets(
    src: Path,
    dst: Path,
    targets: list[tuple[Path, Path]],
    overwrite: bool,
    skip_existing: bool,
    named_as_file: bool,
    kind: str,
) -> list[tuple[Path, Path]]:
    """A folder job's OUT refused before a model loads — a file, the input folder itself, unwritable, an output
    that cannot be written (a name too long, a folder in its place, any input there, by name or through a link, a
    file or a missing link where its subfolder goes), two outputs on one name, outputs there already without
    --overwrite or --skip-existing — so a run never stops halfway on what could be known at its start.
    `named_as_file`: OUT, not yet there, is named like one output. Returns the pairs to do."""
    check_name_fits(dst.name, f"output folder name {dst.name[:40]}…")  # before the system is asked about it
    if dst.exists() and not dst.is_dir():
        raise OutputError(f"output {dst} is a file but the input is a directory", "give a directory as OUT")
    if not dst.exists() and named_as_file:
        raise OutputError(
            f"input {src} is a directory but output {dst} is {kind} name", f"give a directory as OUT (or {dst}/)"
        )
    if dst.exists() and os.path.samefile(dst, src):  # also through a bind mount or another spelling of it
        raise OutputError(f"output directory {dst} is the input directory", "choose another directory")
    if dst.is_dir():
        if not os.access(dst, os.W_OK):
            raise OutputError(f"output directory {dst} is not writable", "choose a directory you can write to")
    else:
        check_parent(dst)
    _check_names(src, dst, targets)
    from nstvideo.pipeline.sources import identity

    inputs = {identity(f): f for f, _ in targets}
    inputs.pop(None, None)  # a file the system cannot identify is never taken for another
    for f, t in targets:
        name = f.relative_to(src)
        _check_subfolders(dst, t, name)  # first: a folder that cannot be searched says so, not t.is_dir()
        if t.is_dir():
            raise OutputError(f"output {t} (of {name}) is a directory", "move it away, or choose another OUT")
        if t.exists() and (same := inputs.get(identity(t) or ())) is not None:  # by its name or through a link
            if same == f:
                raise OutputError(f"output {t} is the input {name} (a link to it)", "choose another OUT")
            raise OutputError(
                f"output {t} (of {name}) would be the input {same.relative_to(src)}", "choose an OUT outside IN"
            )
    existing = [(f, t) for f, t in targets if t.exists() or t.is_symlink()]
    if existing and skip_existing:
        log.info("%s of %d already written in %s: skipped (--skip-existing)", len(existing), len(targets), dst)
        there = {t for _, t in existing}
        return [(f, t) for f, t in targets if t not in there]
    if existing and not overwrite:
        raise OutputError(
            f"{dst} already holds outputs of this run: {len(existing)} of {len(targets)} "
            f"(e.g. {existing[0][1].relative_to(dst)})",
            "pass --skip-existing to do only the others (an interrupted run's), or --overwrite to replace them",
        )
    return targets


def _check_names(src: Path, dst: Path, targets: list[tuple[Path, Path]]) -> None:
    """Every output name fits, is one output's only (in any case: macOS, Windows and exFAT disks ignore it), and
    is not also a folder other outputs go into."""
    seen: dict[str, Path] = {}
    folders = {str(d).lower() for _, t in targets for d in t.relative_to(dst).parents}
    for f, t in targets:
        name, out = f.relative_to(src), t.relative_to(dst)
        check_name_fits(t.name, f"the output name of {str(name)[:40]}… ({t.suffix})", "rename that input")
        if str(out).lower() in folders:
            raise OutputError(f"the output of {name} would be named {out}, as a folder of outputs", "rename that input")
        if (twin := seen.setdefault(str(out).lower(), f)) is f:
            continue
        a = twin.relative_to(src)
        if str(a).lower() == str(name).lower():
            raise OutputError(
                f"{a} and {name} differ only in case: on macOS, Windows and exFAT disks their outputs would be one "
                "file",
                "rename one of them, or move it out",
            )
        raise OutputError(f"{a} and {name} would both be written as {out}", "rename one of them")


def _check_subfolders(dst: Path, t: Path, name: Path) -> None:
    """The subfolders of OUT an output goes into are folders (not a file, not a link to nowhere), and the deepest
    that exists is writable (the others are made in it)."""
    for d in [dst / d for d in t.relative_to(dst).parents][:-1]:  # deepest first, OUT itself checked already
        if d.is_dir():
            if not os.access(d, os.W_OK | os.X_OK):
                raise OutputError(f"output directory {d} (for {name}) is not writable", "check its permissions")
            return
        if d.exists() or d.is_symlink():
            what = "a file" if d.exists() else "a link to nothing"
            raise OutputError(f"{d}, where {name}'s output goes, is {what}", "move it away, or choose another OUT")


def stylize_images(
    inp: str, out: str, stylizer: Any, *, overwrite: bool = False, skip_existing: bool = False, photo: Any = None,
    targets: list[tuple[Path, Path]] | None = None, recursive: bool = False,
) -> int:  # fmt: skip
    """One image to one image, or a folder of images to a folder; returns the number written. `photo`: the single
    input, already read; `targets`: image_targets', when the caller has them.

    In a folder, an image that cannot be read is skipped with a warning and the rest are written; the run then
    ends with an error (exit 1) naming how many failed. A failed write (a full disk) ends it.
    """
    from nstvideo.errors import InputError
    from nstvideo.pipeline.sources import read_image

    if targets is None:
        targets = image_targets(
            inp, out, overwrite=overwrite, skip_existing=skip_existing, photo=photo, recursive=recursive
        )
    src, dst = Path(inp), Path(out)
    if not src.is_dir():
        if not targets:
            log.info("%s is there already: skipped (--skip-existing)", dst)
            return 0
        write_styled(src, dst, stylizer(read_image(src) if photo is None else photo))
        log.info("wrote %s", dst)
        return 1
    failed: list[str] = []
    written = 0

    def done() -> str:
        return f"{written} of {plural(len(targets), 'image')} written to {dst}"

    progress = ProgressReporter(f"stylising {src.name}/", len(targets), unit="images")
    with output_folder(dst) as make_folder:
        with interruptible() as stop:
            try:
                for i, (f, t) in enumerate(targets, start=1):
                    if stop.event.is_set():
                        raise Interrupted(stop.signum or signal.SIGINT, done())
                    try:
                        make_folder(t.parent)
                        _stylize_image(f, t, stylizer)
                        written += 1
                    except InputError as exc:
                        failed.append(exc.message)
                        log.warning("warning: skipped %s", exc.message)
                    except (ProcessingError, OutputError) as exc:
                        _ends_the_run(exc, str(f.relative_to(src)), done())
                        raise
                    progress.update(i)
            finally:
                progress.close()
        if written:
            log.info("wrote %s to %s", plural(written, "image"), dst)
        _end_folder_run(failed, len(targets), written, "image",
                        "check that the folder holds pictures (jpg, png, webp, bmp) that open elsewhere")  # fmt: skip
    return written


def _stylize_image(src: Path, dst: Path, stylizer: Any) -> None:
    from nstvideo.pipeline.sources import read_image

    write_styled(src, dst, stylizer(read_image(src)))


def write_styled(src: Path, dst: Path, styled: Any) -> None:
    """Write the stylised picture of the photo `src`: its transparency comes along when the output type can hold
    it, and what cannot come along (a 16-bit depth, an animation's other frames) is said."""
    import numpy as np

    from nstvideo.pipeline.engine import resize
    from nstvideo.pipeline.sinks import write_image
    from nstvideo.pipeline.sources import ALPHA_SUFFIXES, read_extras

    extras = read_extras(src)
    alpha = extras.alpha
    if alpha is not None and abs(alpha.shape[0] / alpha.shape[1] - styled.shape[0] / styled.shape[1]) > 0.02:
        alpha = None  # turned by EXIF orientation, which OpenCV applies to the colours only: cannot be matched
    if alpha is not None and dst.suffix.lower() in ALPHA_SUFFIXES:
        styled = np.dstack([styled, resize(alpha, (styled.shape[1], styled.shape[0]))])
    elif alpha is not None:
        log.info("note: %s's transparency is dropped (write .png or .webp to keep it)", src.name)
    if extras.animated:
        log.info("note: %s is animated; only its first frame is stylised", src.name)
    if extras.bits > 8:
        log.info("note: %s has %d bits per channel; the styles work in 8, so %s has 8", src.name, extras.bits, dst.name)
    write_image(dst, styled)
