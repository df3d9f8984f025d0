"""The live pipeline: camera -> stylise -> window / virtual camera / stream / recording, latency one frame deep.

Three threads: capture reads the camera as fast as it delivers into a single slot where the newest frame wins
(stale frames are dropped and counted), inference stylises whatever is newest when it is free, and the main
thread (which must own the OpenCV window) shows the result, handles hotkeys and hands frames to the other sinks,
each of which has its own thread so a slow encoder never holds up the preview. Styles are loaded once and cached
(the others preload in the background), so switching is instant. SIGINT/SIGTERM and `q` stop it cleanly:
recordings are finalised, never left half-written.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import signal
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from nstvideo.errors import Interrupted, NstError, OutputError, UsageError
from nstvideo.pipeline.camera import DEFAULT_HEIGHT, DEFAULT_WIDTH, CameraSource
from nstvideo.pipeline.engine import Stylizer, check_size, check_strength
from nstvideo.pipeline.hotkeys import HELP, LiveControls, LiveState
from nstvideo.pipeline.models import StyleModel, is_style_list, list_styles, resolve_style, resolve_styles
from nstvideo.pipeline.post import check_smooth
from nstvideo.pipeline.runner import Stage, StopFlag, as_processing_error, interruptible

log = logging.getLogger("nstvideo")
T = TypeVar("T")

STATUS_EVERY_S = 5.0
RECORD_PRESET = "veryfast"  # live recordings must keep up with the camera
RECORD_CRF = 20
RECORD_QUEUE = 64  # frames a recording may fall behind before it drops some (a stall, not steady state)
LATENCY_SAMPLES = 100_000


# -- plumbing --------------------------------------------------------------------------------------------------------

TIMEOUT = object()
CLOSED = object()


class LatestSlot:
    """A one-item mailbox: `put` replaces what is there (newest wins), `get` waits for something new."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._full = False
        self._closed = False

    def put(self, item: Any) -> bool:
        """Store `item`; True if it replaced one nobody took (a dropped frame)."""
        with self._cond:
            replaced = self._full
            self._item, self._full = item, True
            self._cond.notify()
            return replaced

    def get(self, timeout: float) -> Any:
        """The newest item, or TIMEOUT, or CLOSED once closed and empty."""
        with self._cond:
            if not self._full and not self._closed:
                self._cond.wait(timeout)
            if self._full:
                item, self._item, self._full = self._item, None, False
                return item
            return CLOSED if self._closed else TIMEOUT

    def close(self) -> None:
        """No more items: `get` drains what is left, then returns CLOSED."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class InOrder:
    """Hands the inference lanes' results on to the display's slot in capture order: a result older than one
    already handed on (the other lane was faster with a newer frame) is dropped. The last lane to end closes it."""

    def __init__(self, slot: LatestSlot, stats: LiveStats, lanes: int) -> None:
        self._slot, self._stats, self._running = slot, stats, lanes
        self._lock = threading.Lock()
        self._newest = float("-inf")

    def __call__(self, frame: LiveFrame) -> None:
        with self._lock:
            self._stats.processed += 1
            if frame.t < self._newest:
                self._stats.dropped_output += 1
                return
            self._newest = frame.t
            if self._slot.put(frame):
                self._stats.dropped_output += 1

    def lane_ended(self) -> None:
        with self._lock:
            self._running -= 1
            if not self._running:
                self._slot.close()


@dataclass
class LiveFrame:
    image: np.ndarray
    t: float  # time.monotonic() when the camera delivered it
    style: str = ""
    provider: str = ""


class SinkWorker:
    """One sink in its own thread with a short queue: depth 1 is newest-wins (virtual camera, stream), a deeper
    queue rides out encoder hiccups (recording). The sink is closed by the thread once the queue is drained."""

    def __init__(self, name: str, send: Callable[[LiveFrame], None], close: Callable[[], None], depth: int = 1) -> None:
        self.name = name
        self._send, self._close = send, close
        self._queue: collections.deque[LiveFrame] = collections.deque(maxlen=depth)
        self._cond = threading.Condition()
        self._finishing = False
        self.dropped = 0
        self.sent = 0
        self.error: BaseException | None = None
        self.reported = False  # its error was shown while the others went on
        self._thread = threading.Thread(target=self._run, name=f"nstvideo-{name}", daemon=True)
        self._thread.start()

    def put(self, frame: LiveFrame) -> None:
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(frame)
            self._cond.notify()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._finishing:
                        self._cond.wait()
                    if not self._queue:
                        return
                    frame = self._queue.popleft()
                self._send(frame)
                self.sent += 1
        except BaseException as exc:
            self.error = exc
        finally:
            try:
                self._close()
            except BaseException as exc:
                self.error = self.error or exc

    @property
    def finishing(self) -> bool:
        return self._finishing

    def finish(self) -> None:
        """Send what is queued, then close the sink (in the worker thread, so the caller does not wait)."""
        with self._cond:
            self._finishing = True
            self._cond.notify()

    def join(self, timeout: float | None = None) -> None:
        """Finish and wait: a recording gets two minutes to encode its queue and write its index (4K frames, a slow
        disk), and says so when it takes more than a moment; a newest-wins sink, 15 s."""
        self.finish()
        if timeout is None:
            timeout = 120.0 if self._queue.maxlen and self._queue.maxlen > 1 else 15.0
        self._thread.join(min(timeout, 1.0))
        if self._thread.is_alive():
            log.info("finishing %s (%d frames queued)...", self.name, len(self._queue))
            self._thread.join(max(timeout - 1.0, 0.0))


class Recording:
    """A VideoFileSink fed with live frames, timed from the first frame (temp file until it is finalised)."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction) -> None:
        from nstvideo.pipeline.media import VideoFileSink, VideoInfo

        info = VideoInfo(width, height, fps, Fraction(1, 1000), None, None, 0, "rawvideo", False)
        self.path = path
        self._sink = VideoFileSink(
            path, info, width=width, height=height, encoder="auto", crf=RECORD_CRF, preset=RECORD_PRESET,
            b_frames=False, log=log.info,
        )  # fmt: skip
        self._t0: float | None = None
        self.saved = False

    def send(self, frame: LiveFrame) -> None:
        from nstvideo.pipeline.media import Frame

        if self._t0 is None:
            self._t0 = frame.t
        self._sink.send(Frame(frame.image, int(round((frame.t - self._t0) * 1000))))

    def close(self) -> None:
        """Finalise (rename into place); an empty recording is removed instead."""
        if self._t0 is None:
            self._sink.abort()
            log.info("recording %s had no frames; nothing saved", self.path)
            return
        self._sink.close()
        self.saved = True
        log.info("saved recording %s", self.path)

    def abort(self) -> None:
        self._sink.abort()


# -- styles ----------------------------------------------------------------------------------------------------------


class StyleBank:
    """One Stylizer per style, built on first use (or by `preload`) and kept, so switching styles is instant."""

    def __init__(self, models: Sequence[StyleModel], make: Callable[[StyleModel], Stylizer]) -> None:
        self.models = list(models)
        self._make = make
        self._cache: dict[int, Stylizer] = {}
        self._locks = [threading.Lock() for _ in self.models]
        self.failed: dict[int, NstError] = {}

    def get(self, index: int) -> Stylizer:
        """The Stylizer for style `index`; raises the NstError that made it unusable."""
        with self._locks[index]:
            if index in self.failed:
                raise self.failed[index]
            if index not in self._cache:
                try:
                    self._cache[index] = self._make(self.models[index])
                except NstError as exc:
                    self.failed[index] = exc
                    raise
            return self._cache[index]

    def preload(self, halt: threading.Event) -> None:
        """Build every style's session now (in a background thread), so a later switch does not stall."""
        for i in range(len(self.models)):
            if halt.is_set():
                return
            with contextlib.suppress(NstError):
                self.get(i)


def style_models(style: str, models_dirs: Sequence[str | Path]) -> tuple[list[StyleModel], int]:
    """All installed styles for switching, and the index of `style` among them (added if it is a lone file); or,
    for `--style a,b,c`, those styles alone, starting at the first (a stream's set, in the order given)."""
    if is_style_list(style):
        return resolve_styles(style, models_dirs), 0
    current = resolve_style(style, models_dirs)
    models = list_styles(models_dirs)
    for i, m in enumerate(models):
        if m.path.resolve() == current.path.resolve():
            return models, i
    return [current, *models], 0


# -- stats and overlay -----------------------------------------------------------------------------------------------


@dataclass
class LiveStats:
    """Counters and latencies of one live run (each counter has one writing thread, or a lock: InOrder)."""

    captured: int = 0
    dropped_capture: int = 0  # overwritten before inference took them
    processed: int = 0
    dropped_output: int = 0  # stylised but overwritten before the display loop took them
    shown: int = 0
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    # the last LATENCY_SAMPLES latencies (about an hour at 30 fps), so a long session's memory stays bounded
    latencies_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=LATENCY_SAMPLES))
    _recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=120))
    _recent_latency: collections.deque = field(default_factory=lambda: collections.deque(maxlen=10))

    @property
    def dropped(self) -> int:
        return self.dropped_capture + self.dropped_output

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def fps(self) -> float:
        """Average displayed frames per second over the whole run."""
        return self.shown / self.seconds if self.seconds > 0 else 0.0

    def record_shown(self, latency_s: float) -> None:
        now = time.monotonic()
        self.shown += 1
        self.latencies_ms.append(latency_s * 1000)
        self._recent_latency.append(latency_s * 1000)
        self._recent.append(now)

    @property
    def current_fps(self) -> float:
        """Displayed frames per second over about the last second."""
        now = time.monotonic()
        recent = [t for t in self._recent if now - t <= 1.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0]) if recent[-1] > recent[0] else 0.0

    @property
    def current_latency_ms(self) -> float:
        return statistics.median(self._recent_latency) if self._recent_latency else 0.0

    def latency_percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        return (
            f"live: {self.shown} frames shown, {self.dropped} dropped ({self.captured} captured, "
            f"{self.processed} processed) in {self.seconds:.1f} s: {self.fps:.1f} fps, latency capture->display "
            f"{self.latency_percentile(0.5):.0f} ms median, {self.latency_percentile(0.95):.0f} ms p95"
        )


def draw_text(image: np.ndarray, rows: Sequence[str | Sequence[str]], origin: tuple[int, int] = (8, 8)) -> np.ndarray:
    """White text with a dark box behind it, scaled to the frame, so it reads on any style. A row may be a tuple of
    columns: OpenCV's font is proportional, so columns are aligned by measured width, not by padding."""
    h, w = image.shape[:2]
    scale = max(0.35, min(0.8, w / 1600))
    thick = 1 if scale < 0.6 else 2

    def width(text: str) -> int:
        return cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0]

    table = [(row,) if isinstance(row, str) else tuple(row) for row in rows]
    n_cols = max((len(r) for r in table), default=0)
    gap = width("  ")
    col_w = [max((width(r[c]) for r in table if len(r) > c), default=0) for c in range(n_cols)]
    col_x = [sum(col_w[:c]) + gap * c for c in range(n_cols)]
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    step = th + base + 6
    x, y = origin
    box_w = max((col_x[len(r) - 1] + width(r[-1]) for r in table if r), default=0) + 12
    box_h = step * len(table) + 6
    region = image[y : min(h, y + box_h), x : min(w, x + box_w)]
    region[:] = (region * 0.4).astype(np.uint8)
    for i, row in enumerate(table):
        for c, text in enumerate(row):
            cv2.putText(image, text, (x + 6 + col_x[c], y + 4 + th + i * step), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (255, 255, 255), thick, cv2.LINE_AA)  # fmt: skip
    return image


def overlay_lines(frame: LiveFrame, state: LiveState, stats: LiveStats, recording: bool) -> list[str]:
    """The status shown over the preview: style, provider, fps, capture->display latency, toggles."""
    n = len(state.style_names)
    first = f"{frame.style} ({state.style_index + 1}/{n})  {frame.provider}  {stats.current_fps:.1f} fps  "
    first += f"{stats.current_latency_ms:.0f} ms"
    flags = [f"strength {state.strength:.1f}"]
    if state.preserve_color:
        flags.append("colours kept")
    if state.show_original:
        flags.append("ORIGINAL")
    if state.mirror:
        flags.append("mirrored")
    if recording:
        flags.append("REC")
    return [first, "  ".join(flags) + "   h: help"]


# -- the run ---------------------------------------------------------------------------------------------------------


@dataclass
class LiveOptions:
    """Everything `nstvideo webcam` takes (see README)."""

    camera: str = "0"
    style: str | None = None  # none given: mosaic, or on a CPU its lite net (_default_on_cpu)
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    size: int | None = None
    strength: float = 1.0
    preserve_color: bool = False
    smooth: float = 0.0
    device: str = "auto"
    models_dirs: Sequence[str | Path] = ()
    max_frames: int | None = None
    max_fps: float | None = None
    low_latency: bool = False  # one inference lane: the least latency, fewer frames a second on a CPU
    window: bool = True
    mirror: bool = False
    mirror_output: bool = False
    virtual_cam: bool = False
    virtual_cam_device: str | None = None
    stream: str | None = None
    record: Path | None = None
    output_dir: Path = Path(".")
    overwrite: bool = False
    loop: bool = False
    preload: bool = True


def _one_lane(opts: LiveOptions) -> bool:
    """--max-fps paces one lane; --low-latency asks for one (a frame waits for no other)."""
    return bool(opts.max_fps) or opts.low_latency


class LiveInterrupted(Interrupted):
    """Stopped by a signal; unlike a file run, recordings are kept (finalised), so the message says that."""

    def __init__(self, signum: int, saved: Sequence[Path]) -> None:
        super().__init__(signum, f"saved {', '.join(map(str, saved))}" if saved else "")


DEFAULT_STYLE = "mosaic"


def _lite_twin(model: Any, provider: str) -> str | None:
    """The name of a full-size net's lite twin when it runs on the CPU, where the full net gives a few fps on 2
    cores (bench/RESULTS.md); None on a GPU or for a lite net."""
    if provider != "cpu" or model.architecture.startswith("lite"):
        return None
    return f"{model.name}-lite"


def _default_on_cpu(first: Stylizer, models: Sequence[StyleModel]) -> int | None:
    """No --style given and no GPU: the default's lite net, if installed, so a first try runs fluidly. Its index
    among `models`, or None."""
    twin = _lite_twin(first.model, first.provider)
    lite = next((i for i, m in enumerate(models) if m.name == twin), None)
    if lite is not None:
        log.info("no --style given and no GPU: %s, %s's net built for CPUs (--style %s for the full one)",
                 models[lite].name, first.model.name, first.model.name)  # fmt: skip
    return lite


def _cpu_speed_hint(model: Any, provider: str, names: Sequence[str]) -> str:
    """A full-size net on the CPU runs a camera at 5-8 fps on 2 cores: say what is faster."""
    if (lite := _lite_twin(model, provider)) is None:
        return ""
    better = f"--style {lite} (built for CPUs, ~3x faster)" if lite in names else "a lite style or a smaller --size"
    return f"note: full-size nets are slow on a CPU (a few fps); for a fluid camera use {better}"


def _check_options(opts: LiveOptions) -> None:
    """Refuse bad values before a camera or model is touched."""
    from nstvideo.pipeline.media import check_encode_options
    from nstvideo.pipeline.outputs import check_output
    from nstvideo.pipeline.sinks import check_stream_url

    check_size(opts.size)
    check_strength(opts.strength)
    check_smooth(opts.smooth)
    if opts.max_frames is not None and opts.max_frames < 1:
        raise UsageError(f"--max-frames must be at least 1, got {opts.max_frames}", "e.g. --max-frames 300")
    if opts.max_fps is not None and not (math.isfinite(opts.max_fps) and opts.max_fps > 0):
        raise UsageError(f"--max-fps must be a positive number, got {opts.max_fps}", "e.g. --max-fps 15")
    for name, value in (("--width", opts.width), ("--height", opts.height)):
        if value is not None and not 16 <= value <= 8192:
            raise UsageError(f"{name} must be 16..8192 pixels, got {value}", "e.g. --width 1280 --height 720")
    if opts.fps is not None and not (math.isfinite(opts.fps) and 0 < opts.fps <= 1000):
        raise UsageError(f"--fps must be a positive number up to 1000, got {opts.fps}", "e.g. --fps 30")
    if opts.stream:
        check_stream_url(opts.stream)
    if opts.record is not None:
        # A video file played as the camera is an input like any other: a recording never replaces it.
        camera_file = _camera_path(str(opts.camera))
        check_output(camera_file if camera_file.is_file() else None, opts.record, opts.overwrite)
        check_encode_options(opts.record, "auto", RECORD_CRF, RECORD_PRESET)
    if opts.window:
        d = Path(opts.output_dir)
        if not d.is_dir():
            raise OutputError(f"--output-dir {d} is not a directory", f"create it first: mkdir -p {d}")


def _camera_path(camera: str) -> Path:
    """The file a camera spec reads: a path, or FFmpeg's file: URL of one (file:///x.mp4, file:x.mp4), which FFmpeg
    reads as the path after "file:", as it is."""
    return Path(camera[5:] if camera.lower().startswith("file:") else camera)


def run_live(opts: LiveOptions) -> LiveStats:
    """Run the live pipeline until q/Esc, --max-frames, the end of a file source, or a signal."""
    _check_options(opts)
    with interruptible() as stop, contextlib.ExitStack() as stack:
        return _setup_and_run(opts, stop, stack)


def _setup_and_run(opts: LiveOptions, stop: StopFlag, stack: contextlib.ExitStack) -> LiveStats:
    from nstvideo.pipeline.sinks import PreviewWindow, StreamSink, VirtualCameraSink

    # Cheap refusals first (window, style names, camera, sinks), the slow model load last.
    models, index = style_models(opts.style or DEFAULT_STYLE, opts.models_dirs)
    window = PreviewWindow("nstvideo") if opts.window else None
    if window is not None:
        stack.callback(window.close)
    source = stack.enter_context(
        _while_stoppable(
            lambda: CameraSource(opts.camera, width=opts.width, height=opts.height, fps=opts.fps, loop=opts.loop),
            stop,
        )
    )
    fourcc = f", {source.fourcc}" if source.fourcc else ""
    log.info("%s: %dx%d at %.3g fps%s", source.description, source.width, source.height, source.fps, fourcc)
    asked = (opts.width or DEFAULT_WIDTH, opts.height or DEFAULT_HEIGHT)
    if source.kind == "device" and (source.width, source.height) != asked:
        log.info("note: asked for %dx%d; the camera gives %dx%d", *asked, source.width, source.height)
    w, h = source.width, source.height
    workers: list[SinkWorker] = []
    recordings: list[Recording] = []

    def add_recording(path: Path) -> SinkWorker:
        rec = Recording(path, w, h, source.frame_rate)
        recordings.append(rec)
        worker = SinkWorker(f"recording {path}", rec.send, rec.close, depth=RECORD_QUEUE)
        workers.append(worker)
        return worker

    try:
        if opts.virtual_cam:
            cam = VirtualCameraSink(w, h, source.fps, opts.virtual_cam_device)
            workers.append(SinkWorker("virtual camera", lambda f: cam.send(f.image), cam.close))
            log.info("virtual camera: %s (%dx%d)", cam.device, w, h)
        if opts.stream:
            stream = StreamSink(opts.stream, w, h, source.fps)
            t0 = time.monotonic()
            workers.append(SinkWorker("stream", lambda f: stream.send(f.image, f.t - t0), stream.close))
            log.info("streaming H.264 in MPEG-TS to %s", opts.stream)

        def make(model: StyleModel) -> Stylizer:
            stylizer = Stylizer(model, device=opts.device, size=opts.size, strength=opts.strength,
                                preserve_color=opts.preserve_color, smooth=opts.smooth,
                                models_dirs=opts.models_dirs)  # fmt: skip
            if not _one_lane(opts):  # every style alike, for this camera's frames: _run runs that many lanes
                stylizer.parallel_lanes(w, h)
            return stylizer

        bank = StyleBank(models, make)
        first = _while_stoppable(lambda: bank.get(index), stop)  # a TensorRT engine build takes minutes
        if opts.style is None and (lite := _default_on_cpu(first, models)) is not None:
            try:
                index, first = lite, _while_stoppable(lambda: bank.get(lite), stop)
            except NstError as exc:  # the full net loaded: better than no run
                log.warning("warning: %s cannot be used (%s); staying on %s", models[lite].name, exc.message,
                            first.model.name)  # fmt: skip
        log.info("style %s on %s, processing short side %s", first.model.name, first.provider,
                 f"{first.size} px" if first.size else "native")  # fmt: skip
        if hint := _cpu_speed_hint(first.model, first.provider, [m.name for m in models]):
            log.info(hint)
        recorder = add_recording(Path(opts.record)) if opts.record is not None else None
        if recorder is not None:
            log.info("recording to %s", opts.record)
        stop.check()  # a signal during the model load: stop before any frame flows
    except BaseException:
        for worker in workers:
            worker.join()
        for rec in recordings:
            rec.abort()
        raise

    state = LiveState([m.name for m in models], style_index=index, strength=opts.strength,
                      preserve_color=opts.preserve_color, mirror=opts.mirror)  # fmt: skip
    if window is not None:
        log.info("preview window open: h for help, q or Esc to quit")
    return _run(opts, source, bank, state, window, workers, recordings, add_recording, recorder, stop)


def _run(opts: LiveOptions, source: CameraSource, bank: StyleBank, state: LiveState, window: Any,
         workers: list[SinkWorker], recordings: list[Recording], add_recording: Callable[[Path], SinkWorker],
         recorder: SinkWorker | None, stop: StopFlag) -> LiveStats:  # fmt: skip
    """Start the capture and inference threads, run the display loop here, then shut everything down in order."""
    stats = LiveStats()
    halt = threading.Event()
    captured, stylised = LatestSlot(), LatestSlot()
    controls = LiveControls(state)

    def capture() -> None:
        try:
            while not halt.is_set():
                image = source.read(halt)
                if image is None:
                    return
                stats.captured += 1
                if captured.put(LiveFrame(image, time.monotonic())):
                    stats.dropped_capture += 1
        finally:
            captured.close()

    # On a CPU two lanes stylise two camera frames at once, each on half the cores (26 % more frames a second;
    # Stylizer.parallel_lanes); a result older than one already shown is dropped. --max-fps paces one lane.
    lanes = 1 if _one_lane(opts) else bank.get(state.style_index).parallel_lanes(source.width, source.height)
    if lanes > 1:
        log.info("two frames at once, each on half the cores (more fps; --low-latency: one, for less latency)")
    hand_on = InOrder(stylised, stats, lanes)

    def infer() -> None:
        interval = 1.0 / opts.max_fps if opts.max_fps else 0.0
        next_start = 0.0
        current = state.style_index
        try:
            while not halt.is_set():
                wait = next_start - time.monotonic()
                if wait > 0 and halt.wait(wait):  # --max-fps: the camera overwrites stale frames meanwhile
                    return
                item = captured.get(0.1)
                if item is TIMEOUT:
                    continue
                if item is CLOSED:
                    return
                next_start = time.monotonic() + interval
                with state.lock:
                    index, strength, keep, original = (state.style_index, state.strength, state.preserve_color,
                                                       state.show_original)  # fmt: skip
                try:
                    stylizer = bank.get(index)
                except NstError as exc:
                    log.warning("warning: style %s cannot be used (%s); staying on %s",
                                bank.models[index].name, exc.message, bank.models[current].name)  # fmt: skip
                    with state.lock:
                        state.style_index = index = current
                    stylizer = bank.get(index)
                if index != current or original:
                    stylizer.reset()  # --smooth: never blend in what this style showed before a switch
                current = index
                if original:
                    out = item.image
                else:
                    out = stylizer.stylize_batch([item.image], strength=strength, preserve_color=keep)[0]
                hand_on(LiveFrame(out, item.t, stylizer.model.name, stylizer.provider))
        finally:
            hand_on.lane_ended()

    threads = [Stage("nstvideo-capture", capture)]
    threads += [Stage("nstvideo-infer" + (f"-{i}" if lanes > 1 else ""), infer) for i in range(lanes)]
    preloader = Stage("nstvideo-preload", lambda: bank.preload(halt))
    error: BaseException | None = None
    signum: int | None = None
    for t in threads:
        t.start()
    try:
        signum = _display_loop(opts, state, controls, stats, stylised, threads, workers, add_recording, recorder,
                               window, stop, preloader)  # fmt: skip
    except BaseException as exc:
        error = exc
    finally:
        halt.set()
        stats.ended = time.monotonic()
        for t in threads:
            t.join(timeout=5)
        for worker in workers:  # finalises recordings, closes the virtual camera and the stream
            worker.join()
        if preloader.is_alive():
            preloader.join(timeout=5)
        if window is not None:
            window.close()
    for worker in workers:
        if worker.dropped:
            log.info("%s fell behind and dropped %d frames", worker.name, worker.dropped)
        if worker.error is not None and error is None:
            error = worker.error
    print(stats.summary(), flush=True)
    if error is None:
        error = next((t.error for t in threads if t.error is not None), None)
    if error is not None:
        raise as_processing_error(error) from error
    if signum is not None:
        raise LiveInterrupted(signum, [r.path for r in recordings if r.saved])
    return stats


def _while_stoppable(work: Callable[[], T], stop: StopFlag) -> T:
    """Run `work` (a camera or URL that takes seconds to open, a model load) in a thread, so a signal stops the
    run at once rather than when the work gives up; the abandoned thread dies with the process."""
    result: list[T] = []
    stage = Stage("nstvideo-open", lambda: result.append(work()))
    stage.start()
    while stage.is_alive() and not stop.event.is_set():
        stage.join(0.05)
    if stop.event.is_set():
        raise Interrupted(stop.signum or signal.SIGINT, "")  # nothing was written yet
    if stage.error is not None:
        raise stage.error
    return result[0]


def _fresh_path(folder: Path, stem: str, suffix: str) -> Path:
    """folder/stem.suffix, or stem-2, stem-3... so two snapshots or recordings in one second never collide."""
    path, n = folder / f"{stem}{suffix}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}{suffix}"
    return path


def _display_loop(opts: LiveOptions, state: LiveState, controls: LiveControls, stats: LiveStats,
                  stylised: LatestSlot, threads: list[Stage], workers: list[SinkWorker],
                  add_recording: Callable[[Path], SinkWorker], recorder: SinkWorker | None, window: Any,
                  stop: StopFlag, preloader: Stage) -> int | None:  # fmt: skip
    """Show, fan out, handle keys; returns the signal number if a signal stopped it."""
    from nstvideo.pipeline.sinks import write_image

    last_status = time.monotonic()
    while True:
        if stop.event.is_set():
            return stop.signum
        for t in threads:
            if t.error is not None:
                raise t.error
        for worker in workers:
            if worker.error is not None and not worker.reported:
                # One output failing (a full disk under the recording, a stream refused) leaves the others running;
                # the run still ends with its error (exit 1). Headless with nothing else to feed, it stops now.
                if window is None and all(w.error is not None or w.finishing for w in workers):
                    raise worker.error
                worker.reported = True
                message = worker.error.message if isinstance(worker.error, NstError) else str(worker.error)
                log.warning("warning: %s failed (%s); the other outputs go on", worker.name, message)
                if worker is recorder:
                    recorder = None
        if window is not None:
            controls.handle(window.poll_key(1))
            if stats.shown and window.closed:  # closed with its title-bar button
                state.quit = True
            window.set_fullscreen(state.fullscreen)
        if state.quit:
            return None
        item = stylised.get(0.005 if window is not None else 0.1)
        if item is TIMEOUT:
            continue
        if item is CLOSED:
            for t in threads:
                t.join(timeout=1)  # the capture thread closed the pipe: an error, or the end of a file source?
                if t.error is not None:
                    raise t.error
            log.info("the camera source ended")
            return None
        out = cv2.flip(item.image, 1) if opts.mirror_output else item.image
        shared = LiveFrame(out, item.t, item.style, item.provider)
        for worker in workers:
            if not worker.finishing and worker.error is None:
                worker.put(shared)
        if state.take_record_toggle():
            if recorder is not None:
                recorder.finish()  # finalised by its thread; the preview does not wait
                log.info("recording stopped")
                recorder = None
            else:
                path = _fresh_path(Path(opts.output_dir), f"nstvideo-{datetime.now():%Y%m%d-%H%M%S}", ".mp4")
                try:
                    recorder = add_recording(path)
                    recorder.put(shared)
                    log.info("recording to %s", path)
                except NstError as exc:
                    log.warning("warning: cannot record: %s", exc.message)
        if state.take_snapshot_request():
            path = _fresh_path(Path(opts.output_dir), f"nstvideo-{item.style}-{datetime.now():%Y%m%d-%H%M%S}", ".png")
            try:
                write_image(path, out)
                log.info("snapshot saved to %s", path)
            except NstError as exc:
                log.warning("warning: snapshot failed: %s", exc.message)
        if window is not None:
            preview = cv2.flip(item.image, 1) if state.mirror else item.image.copy()  # the preview's own mirror
            if state.show_help:
                draw_text(preview, HELP)
            else:
                draw_text(preview, overlay_lines(item, state, stats, recorder is not None))
            window.send(preview)
        stats.record_shown(time.monotonic() - item.t)
        if stats.shown == 1 and opts.preload and window is not None and len(state.style_names) > 1:
            preloader.start()  # after the first frame, so start-up is not slowed by styles not yet needed
        if opts.max_frames and stats.shown >= opts.max_frames:
            return None
        now = time.monotonic()
        if window is None and now - last_status >= STATUS_EVERY_S:
            last_status = now
            log.info("live: %.1f fps, %.0f ms latency, %d dropped", stats.current_fps, stats.current_latency_ms,
                     stats.dropped)  # fmt: skip
