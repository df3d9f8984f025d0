"""The `keyframe` job: pick a frame (or take a photo), stylise it with Gatys, write it atomically."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from nstvideo.errors import InputError, UsageError
from nstvideo.export.gatys import GatysConfig, stylize_keyframe
from nstvideo.export.train import pick_device
from nstvideo.export.vgg import SOURCES
from nstvideo.pipeline.outputs import check_output
from nstvideo.pipeline.runner import ProgressReporter, interruptible, write_styled
from nstvideo.pipeline.sinks import write_image
from nstvideo.pipeline.sources import IMAGE_SUFFIXES, is_image_path, read_image, read_painting

log = logging.getLogger("nstvideo")


def pick_frame(path: Path, at: float | None, index: int | None) -> tuple[np.ndarray, str]:
    """The frame at `at` seconds or number `index` (0-based) of a video; default the middle one.

    A time is sought to (a film's middle frame is not decoded from its start); a frame number is counted.
    """
    from nstvideo.pipeline.media import FileSource

    if at is not None and index is not None:
        raise UsageError("give --at or --frame, not both", "--at takes seconds, --frame a 0-based frame number")
    if at is not None and not (math.isfinite(at) and at >= 0):
        raise UsageError(f"--at must be 0 or more seconds, got {at}", "give seconds from the start, e.g. --at 12.5")
    if index is not None and index < 0:
        raise UsageError(f"--frame must not be negative, got {index}", "frames count from 0")
    with FileSource(path) as src:
        info = src.info
    length = f"{info.duration:.2f} s" if info.duration else "unknown length"
    if at is None and index is None:
        if info.duration:
            at = info.duration / 2
        else:
            index = (info.frame_count or 1) // 2
    if at is not None:
        if info.duration is not None and at >= info.duration:
            raise InputError(f"--at {at:g} is beyond the end of {path} ({length})", "pick an earlier time")
        # The frame on screen at `at`: the last that starts by then. Seek a second early (a frame there may last
        # long: a slide in a screen recording) and walk to it.
        begin = max(at - 1.0, 0.0)
        chosen: np.ndarray | None = None
        try:
            with FileSource(path, start=begin) as src:
                for note in src.notes:
                    log.info(note)
                for frame in src.frames():
                    t = begin + float(frame.pts * src.info.time_base)
                    if t > at + 1e-6 and chosen is not None:
                        break
                    chosen = frame.image
                    if t > at:  # the video starts after `at`: its first frame
                        break
        except InputError as exc:
            if "beyond the end" not in exc.message and "last frame" not in exc.message:
                raise
        if chosen is None:
            raise InputError(f"--at {at:g} is beyond the end of {path} ({length})", "pick an earlier time")
        return chosen, f"the frame on screen at {round(at, 3):g} s"
    assert index is not None
    with FileSource(path) as src:
        for note in src.notes:
            log.info(note)
        for i, frame in enumerate(src.frames()):
            if i == index:
                return frame.image, f"frame {i} (t={float(frame.pts * info.time_base):.3f} s)"
    raise InputError(f"--frame {index} is beyond the end of {path} ({i + 1} frames, {length})", "pick an earlier frame")


def run_keyframe(
    inp: Path,
    out: Path,
    style_image: Path,
    cfg: GatysConfig,
    at: float | None = None,
    frame: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Stylise a photo or one video frame with any painting; writes nothing unless it completes."""
    cfg.validate()
    if Path(out).suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"output {out} must be an image", f"use one of: {', '.join(IMAGE_SUFFIXES)}")
    if is_image_path(inp):
        if at is not None or frame is not None:
            raise UsageError("--at and --frame apply to videos only", "drop them for a photo")
        content, what = read_image(inp), Path(inp).name
    else:
        content, frame_said = pick_frame(Path(inp), at, frame)
        what = f"{frame_said} of {Path(inp).name}"
    painting = read_painting(style_image)
    check_output(Path(inp), Path(out), overwrite)
    cfg.validate()  # before the start line: a bad --device or --vgg is refused as a refusal, not mid-job
    pick_device(cfg.device)
    if cfg.vgg not in SOURCES and not Path(cfg.vgg).is_file():
        raise InputError(f"VGG weights file {cfg.vgg} not found", f"--vgg takes {', '.join(SOURCES)} or a .pth path")
    log.info("keyframe: %s in the style of %s, short side %d", what, style_image.name, cfg.size)
    bar = ProgressReporter("optimising", cfg.iterations, unit="iterations", interval=10)
    with interruptible() as stop:
        try:
            result = stylize_keyframe(
                content, painting, cfg, progress=lambda i, n, loss: bar.update(i), should_stop=stop.check
            )
        finally:
            bar.close()
    if is_image_path(inp):
        write_styled(Path(inp), Path(out), result)  # transparency kept, depth and animation noted, as for `image`
    else:
        write_image(out, result)
    log.info("wrote %s (%dx%d)", out, result.shape[1], result.shape[0])
    return Path(out)
