"""Stylizer: BGR frames in, stylised BGR frames out, at the processing size the user asked for."""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from nstvideo.errors import InputError, ProcessingError, UsageError
from nstvideo.pipeline import post, usable_cores
from nstvideo.pipeline.models import INPUT_NAME, MAX_SIDE, MIN_SIDE, OUTPUT_NAME, StyleModel, resolve_style
from nstvideo.pipeline.session import create_session, ort_module, trt_profile_problem

log = logging.getLogger("nstvideo")

MAX_PIXELS = 7680 * MAX_SIDE  # 8K UHD: a larger frame (--size 0 on a big photo) runs a machine out of memory
MAX_LONG_SIDE = 16384  # a panorama or a strip: its short side alone says nothing of its size


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) with the short side set to `short_side`, aspect kept; 0 keeps the size."""
    if short_side <= 0 or min(width, height) == short_side:
        return width, height
    f = short_side / min(width, height)
    return max(MIN_SIDE, round(width * f)), max(MIN_SIDE, round(height * f))


def check_frame_size(size: tuple[int, int], what: str, option: str, picture: tuple[int, int] | None = None) -> None:
    """Refuse a frame the nets cannot hold: the kernel would kill the process before any error could be shown.
    `picture`: the input's own size, in which a crop is said."""
    w, h = size
    if w * h <= MAX_PIXELS and max(w, h) <= MAX_LONG_SIDE:
        return
    short, long = min(w, h), max(w, h)
    fits = int(min((MAX_PIXELS * short / long) ** 0.5, MAX_LONG_SIDE * short / long))
    limits = f"at most {MAX_PIXELS / 1e6:.0f} megapixels, 8K, and {MAX_LONG_SIDE} px a side"
    if fits < MIN_SIDE:  # a strip so long that even its smallest size is too long
        p_short, p_long = (min(picture), max(picture)) if picture else (short, long)
        raise UsageError(
            f"{what} {w}x{h} is too large ({limits}), and no {option} fits: at {MIN_SIDE} px its long side is "
            f"{round(MIN_SIDE * long / short)}",
            f"crop the picture to at most {int(MAX_LONG_SIDE * p_short / MIN_SIDE)} px of {p_long} along its long side",
        )
    raise UsageError(f"{what} {w}x{h} is too large ({limits})", f"give a smaller {option}: {fits} or less")


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area filter to shrink (no aliasing), bicubic to enlarge."""
    h, w = img.shape[:2]
    if (w, h) == size:
        return img
    interp = cv2.INTER_AREA if size[0] * size[1] < w * h else cv2.INTER_CUBIC
    return cv2.resize(img, size, interpolation=interp)


def check_size(size: int | None) -> None:
    """--size: None (the style's own), 0 (the frame's own) or a short side the nets can take."""
    bad = size is not None and not post.is_number(size, integer=True)
    if bad or size is not None and size != 0 and not MIN_SIDE <= size <= MAX_SIDE:
        raise UsageError(f"--size must be 0 (native) or {MIN_SIDE}-{MAX_SIDE}, got {size!r}", "e.g. --size 512")


def check_strength(strength: float) -> float:
    if not post.is_number(strength) or not 0.0 <= strength <= 1.0:
        raise UsageError(f"--strength must be between 0 and 1, got {strength!r}", "e.g. --strength 0.7")
    return float(strength)


def check_batch_size(batch_size: int) -> int:
    """Frames per model call: a whole number, 1 or more (refused before a model loads)."""
    if not post.is_number(batch_size, integer=True) or batch_size < 1:
        raise UsageError(
            f"--batch-size (batch_size) must be a whole number, 1 or more, got {batch_size!r}", "e.g. 4 on a GPU"
        )
    return int(batch_size)


def _conversion(f: object) -> str:
    """The line that turns what the caller has into an HxWx3 uint8 BGR frame."""
    if not isinstance(f, np.ndarray):
        if hasattr(f, "convert") and hasattr(f, "size"):  # a PIL image
            return "from PIL: np.asarray(img.convert('RGB'))[..., ::-1]"
        return "read frames with cv2.imread / cv2.VideoCapture, or pass a NumPy array"
    if f.ndim == 2 or (f.ndim == 3 and f.shape[2] == 1):
        return "grey: cv2.cvtColor(f, cv2.COLOR_GRAY2BGR)"
    if f.ndim == 3 and f.shape[2] == 4:
        return "with alpha: cv2.cvtColor(f, cv2.COLOR_BGRA2BGR)"
    if f.ndim == 3 and f.shape[0] == 3 and f.shape[2] != 3:
        return "channels first: np.ascontiguousarray(f.transpose(1, 2, 0))"
    if f.dtype == np.uint16:
        return "16-bit: (f >> 8).astype(np.uint8)"
    if f.dtype.kind == "f":
        return "floats in 0..1: (f * 255).clip(0, 255).round().astype(np.uint8)"
    return "convert it to HxWx3 uint8, colours in BGR order (OpenCV's)"


def _check_frame(f: object) -> np.ndarray:
    """An HxWx3 uint8 BGR array, or an InputError saying what it is instead and how to convert it."""
    if f is None:  # what cv2.imread returns for a missing or unreadable file
        raise InputError("a frame is None (did cv2.imread fail to read the file?)", "check the image path")
    if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
        what = f"{f.dtype} {f.shape}" if isinstance(f, np.ndarray) else type(f).__name__
        raise InputError(f"frames must be HxWx3 uint8 BGR arrays, got {what}", _conversion(f))
    if f.size == 0:
        raise InputError(f"a frame is empty ({f.shape})", "check where the frames come from")
    return f


class Stylizer:
    """Apply one style to frames: `Stylizer("mosaic")(frame_bgr)`.

    `size` is the processing short side in pixels (None: the model's recommended size, 0: the frame's own);
    output frames keep the input's size unless `output_size` (a short side) is given. With `smooth` > 0 the frames
    are one sequence in call order (post.TemporalSmoother, at the processing size: cheap, and the upscale stays
    sharp); `reset()` at a cut. `threads` caps ONNX Runtime's CPU threads (0: its default, all cores).

    Threads: with `smooth` 0 one Stylizer may be called from several threads at once (ONNX Runtime sessions are
    thread-safe); with `smooth` > 0 it holds one sequence's state, so use one Stylizer per stream. `close()` (or a
    `with` block) frees the model's memory now rather than when the object is collected.
    """

    def __init__(
        self,
        style: str | Path | StyleModel = "mosaic",
        *,
        device: str = "auto",
        size: int | None = None,
        output_size: int | None = None,
        strength: float = 1.0,
        preserve_color: bool = False,
        smooth: float = 0.0,
        models_dirs: Sequence[str | Path] = (),
        threads: int = 0,
    ) -> None:
        if isinstance(models_dirs, (str, Path)):  # one folder, not a sequence of characters
            models_dirs = [models_dirs]
        if not isinstance(style, (str, Path, StyleModel)):
            raise UsageError(
                f"style must be a name, a path or a StyleModel, got {type(style).__name__}", "e.g. 'mosaic'"
            )
        if not isinstance(preserve_color, (bool, np.bool_)):  # "no" would be truthy and turn it on
            raise UsageError(f"preserve_color must be True or False, got {preserve_color!r}", "e.g. True")
        if not post.is_number(threads, integer=True) or threads < 0:
            raise UsageError(f"threads must be a whole number, 0 (all cores) or more, got {threads!r}", "e.g. 2")
        self.model = style if isinstance(style, StyleModel) else resolve_style(style, models_dirs)
        check_size(size)
        if output_size is not None and (
            not post.is_number(output_size, integer=True) or not MIN_SIDE <= output_size <= MAX_SIDE
        ):
            raise UsageError(
                f"--output-size must be {MIN_SIDE}-{MAX_SIDE}, got {output_size}", "e.g. --output-size 720"
            )
        self.size = self.model.recommended_size if size is None else size
        self.output_size = output_size
        self.strength = check_strength(strength)
        self.preserve_color = bool(preserve_color)
        self.smoother = post.TemporalSmoother(smooth)
        self.session, self.session_info = create_session(self.model.path, device, int(threads))
        self._threads = int(threads)
        self._lanes: queue.Queue | None = None  # sessions for frames in parallel (parallel_lanes)
        self._in_lanes = False  # whether infer uses them (else the all-cores session)
        self._splitting = threading.Lock()
        self._run_options = ort_module().RunOptions()
        self._run_options.log_severity_level = 4  # a failed run raises, and becomes our one error line; no ORT log

    def reset(self) -> None:
        """Start a new sequence: the next frame is not blended with anything before it."""
        self.smoother.reset()

    def close(self) -> None:
        """Free the model's session (GPU memory, TensorRT engine) now; the Stylizer cannot be used after."""
        self.session, self._lanes, self._in_lanes = None, None, False

    def parallel_lanes(self, width: int = 0, height: int = 0) -> int:
        """How many frames a pipeline should stylise at once from now on, with the sessions for them. On the CPU,
        two frames on half the cores each make 26 % more frames a second than one frame on all of them (a small
        net's convs split poorly over threads: bench/RESULTS.md, "Parallel frames on the CPU"); a GPU, a smoothed
        sequence (frames in order), a thread count the caller chose, one core, or frames (`width` x `height`)
        processed above 1080p (two in flight double the memory; measured up to 720p) keep one, on all the cores.
        While it is 2, a lone frame runs on half the cores: for pipelines that keep two in flight."""
        cores = usable_cores()
        big = bool(width and height) and math.prod(scaled_size(width, height, self.size)) > 1920 * 1088
        one = self.session is None or self.provider != "cpu" or self.smoother.weight > 0 or self._threads
        if one or big or cores < 2:
            self._in_lanes = False
        else:
            with self._splitting:
                if self._lanes is None:
                    lanes: queue.Queue = queue.Queue()
                    for share in ((cores + 1) // 2, cores // 2):  # an odd core to the first
                        lanes.put(create_session(self.model.path, "cpu", share)[0])
                    self._lanes = lanes
            self._in_lanes = True
        return 2 if self._in_lanes else 1

    def __enter__(self) -> Stylizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def provider(self) -> str:
        return self.session_info.device

    def output_shape(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) of the frames this Stylizer returns for input frames of (width, height)."""
        return scaled_size(width, height, self.output_size) if self.output_size else (width, height)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw model call on an [N, H, W, 3] uint8 BGR batch."""
        if self.session is None:
            raise UsageError("this Stylizer is closed", "make a new one")
        lanes = self._lanes
        if not self._in_lanes or lanes is None:
            return self.session.run([OUTPUT_NAME], {INPUT_NAME: batch}, self._run_options)[0]
        session = None
        try:
            session = lanes.get()  # a free one of the parallel sessions
            return session.run([OUTPUT_NAME], {INPUT_NAME: batch}, self._run_options)[0]
        finally:
            if session is not None:
                lanes.put(session)

    def stylize_batch(
        self, frames: Sequence[np.ndarray], *, strength: float | None = None, preserve_color: bool | None = None
    ) -> list[np.ndarray]:
        """Stylise same-sized frames in one model call (a GPU is faster on batches). `strength`/`preserve_color`:
        this call's, instead of the Stylizer's (the webcam's lanes each take them from the hotkeys' state)."""
        strength = self.strength if strength is None else check_strength(strength)
        preserve_color = self.preserve_color if preserve_color is None else bool(preserve_color)
        if isinstance(frames, np.ndarray) and frames.ndim == 4:  # an N x H x W x 3 batch
            frames = list(frames)
        elif isinstance(frames, np.ndarray):  # iterating one frame would give its rows
            raise InputError(
                f"stylize_batch takes a list of frames, got one array {frames.shape}", "one frame: call the Stylizer"
            )
        if len(frames) == 0:
            return []
        h, w = _check_frame(frames[0]).shape[:2]
        for f in frames:
            if _check_frame(f).shape[:2] != (h, w):
                raise InputError("frames in one batch must share a size", "stylise them one by one")
        proc = scaled_size(w, h, self.size)
        out_size = self.output_shape(w, h)
        if min(proc) < MIN_SIDE:  # only at size 0: any other size scales the frame up to at least 16
            raise InputError(
                f"frame {w}x{h} is smaller than {MIN_SIDE} px a side", "give a size (16 or more) to scale it up"
            )
        check_frame_size(proc, "processing size", "--size", (w, h))
        if self.output_size:  # the input's own size costs only a resize; a chosen one may be absurd (a strip)
            check_frame_size(out_size, "output size", "--output-size")
        if self.provider == "tensorrt" and (problem := trt_profile_problem(len(frames), proc[1], proc[0])):
            raise UsageError(problem, "use a smaller --size (or --batch-size), or --device cuda")
        try:
            small = np.stack([resize(f, proc) for f in frames])
            styled = self.infer(small)
        except Exception as exc:
            if not _out_of_memory(exc):
                raise
            raise ProcessingError(
                f"out of memory stylising {len(frames)} frame(s) at {proc[0]}x{proc[1]} on {self.provider}",
                "use a smaller --size" + (" or --batch-size" if len(frames) > 1 else ""),
            ) from exc
        results = []
        for original, little, s in zip(frames, small, styled, strict=True):
            s = resize(self.smoother(little, s), out_size)
            if strength < 1.0 or preserve_color:
                s = post.apply(resize(original, out_size), s, strength, preserve_color)
            results.append(np.ascontiguousarray(s))
        return results

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.stylize_batch([frame])[0]

    def stream(self, frames: Iterable[np.ndarray], batch_size: int = 1) -> Iterator[np.ndarray]:
        """Lazily stylise an iterable of frames, `batch_size` at a time."""
        check_batch_size(batch_size)
        batch: list[np.ndarray] = []
        for f in frames:
            _check_frame(f)
            if batch and f.shape != batch[0].shape:
                yield from self.stylize_batch(batch)
                batch = []
            batch.append(f)
            if len(batch) >= batch_size:
                yield from self.stylize_batch(batch)
                batch = []
        if batch:
            yield from self.stylize_batch(batch)


def _out_of_memory(exc: Exception) -> bool:
    """An allocation failure in NumPy, OpenCV or ONNX Runtime (CPU arena or CUDA), which each report differently."""
    if isinstance(exc, MemoryError) or (isinstance(exc, cv2.error) and exc.code == cv2.Error.StsNoMem):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("failed to allocate", "bad_alloc", "out of memory"))
