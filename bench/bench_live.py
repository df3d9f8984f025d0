"""Live-path speed: sustained fps and capture->display latency of `nstvideo webcam`, headless, with a generated
clip playing the camera at 30 fps (so no webcam is needed and runs are repeatable).

Usage: python bench/bench_live.py [--style NAME] [--models-dir DIR] [--seconds 10] [--device auto] [--size N]
                                  [--low-latency]
Default style: the fastest installed one (timed on a 640x360 frame). Prints markdown rows for bench/RESULTS.md.
A camera at 30 fps caps the sustained rate at 30; latency is from the frame's arrival to its hand-off for display.
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from nstvideo import Stylizer, list_styles
from nstvideo.pipeline.live import LiveOptions, run_live

SIZES = [(640, 360), (1280, 720)]
FPS = 30
CLIP_SECONDS = 3  # looped: long enough that the loop seam is rare, short enough to generate quickly


def make_camera_clip(path: Path, width: int, height: int, seconds: int = CLIP_SECONDS) -> Path:
    """A moving gradient with a bouncing block, H.264 at 30 fps: something for the model to chew on."""
    y, x = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.time_base = Fraction(1, FPS)
        vs.codec_context.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(seconds * FPS):
            img = np.stack([(x + 4 * i) % 256, (y + 2 * i) % 256, (x + y) % 256], axis=-1).astype(np.uint8)
            bx = int((width - 80) * (0.5 + 0.5 * np.sin(i / 9)))
            img[height // 3 : height // 3 + 80, bx : bx + 80] = 255
            frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return path


def fastest_style(models_dirs: list[str], device: str) -> str:
    """The installed style with the lowest time for one 640x360 frame (after a warm-up call)."""
    styles = list_styles(models_dirs)
    if not styles:
        raise SystemExit("no styles installed: pass --models-dir DIR or --style PATH.onnx")
    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    timings = []
    for model in styles:
        s = Stylizer(model, device=device, size=0)
        s(frame)
        t = time.perf_counter()
        s(frame)
        timings.append((time.perf_counter() - t, model.name))
    return min(timings)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", default=None, help="style name or .onnx (default: the fastest installed)")
    ap.add_argument("--models-dir", action="append", default=[])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=None, help="processing short side (default: the style's)")
    ap.add_argument("--seconds", type=float, default=10.0, help="per camera size")
    ap.add_argument("--low-latency", action="store_true", help="one frame at a time (webcam --low-latency)")
    args = ap.parse_args()
    logging.getLogger("nstvideo").setLevel(logging.WARNING)
    style = args.style or fastest_style(args.models_dir, args.device)
    print(f"style {style}, device {args.device}, --size {args.size or 'style default'}"
          f"{', --low-latency' if args.low_latency else ''}; "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for w, h in SIZES:
            clip = make_camera_clip(Path(d) / f"cam-{w}x{h}.mp4", w, h)
            # Stop after about --seconds: a slow model shows far fewer frames than the camera delivers.
            s = Stylizer(style, size=args.size, device=args.device, models_dirs=args.models_dir)
            frame = np.zeros((h, w, 3), np.uint8)
            s(frame)
            t = time.perf_counter()
            s(frame)
            per_frame = max(time.perf_counter() - t, 1 / FPS)
            frames = max(10, min(int(args.seconds / per_frame), int(args.seconds * FPS)))
            opts = LiveOptions(
                camera=str(clip), style=style, size=args.size, device=args.device, models_dirs=args.models_dir,
                window=False, loop=True, max_frames=frames, preload=False, low_latency=args.low_latency,
            )  # fmt: skip
            stats = run_live(opts)
            skip = min(len(stats.latencies_ms) // 10, FPS)  # leave out the warm-up frames
            lat = sorted(list(stats.latencies_ms)[skip:]) or [0.0]
            rows.append(
                f"| {w}x{h} @ {FPS} | {stats.fps:.1f} | {lat[len(lat) // 2]:.0f} | {lat[int(len(lat) * 0.95)]:.0f} "
                f"| {stats.captured} | {stats.processed} | {stats.dropped} |"
            )
    print("| camera | sustained fps | latency median ms | latency p95 ms | captured | processed | dropped |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
