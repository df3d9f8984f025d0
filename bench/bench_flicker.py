"""Flicker: how much a stylised clip changes between frames beyond what the camera's motion explains.

Usage: python bench/bench_flicker.py [CLIP ...] [--style mosaic ...] [--smooth 0.3 0.5 0.7] [--shared DIR]

The figure is the warping error of Lai et al. (ECCV 2018): the mean absolute difference, in grey levels, between
each output frame and the previous output frame warped along the *input's* optical flow, over pixels that flow
can follow (forward-backward consistent). The flow here is OpenCV's Farneback on full frames, not the DIS flow the
smoother uses, so the smoother is not graded by its own estimate. The input clip's own warping error is the floor.
"Δ per-frame" is how far the smoothed frames move from the per-frame result (grey levels), and "detail" the mean
Laplacian magnitude relative to the per-frame result: the price in look. Warping error alone rewards blur (a blend
that ignores motion scores well on it while it smears moving things), so read the three together.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from nstvideo import Stylizer
from nstvideo.pipeline.media import FileSource
from nstvideo.pipeline.post import inside, pixel_grid

HERE = Path(__file__).resolve().parent
CLIPS = ["davis-car-roundabout.mp4", "davis-dance-twirl.mp4", "davis-parkour.mp4"]


def flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow from grey frame a to grey frame b: a(x) ~ b(x + flow(x))."""
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 21, 5, 7, 1.5, 0)


def followable(where: np.ndarray, back: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    """Pixels whose backward flow, followed forward again, comes home (Sundaram et al.'s consistency check)."""
    there = cv2.remap(fwd, where, None, cv2.INTER_LINEAR)
    err = np.sum((back + there) ** 2, axis=2)
    tol = 0.01 * (np.sum(back**2, axis=2) + np.sum(there**2, axis=2)) + 0.5
    return inside(where) & (err < tol)


def motion(frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each frame after the first, from the input clip: where each pixel was in the previous frame (a remap
    map) and whether that can be trusted. Computed once per clip, used for every output measured on it."""
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    pixels = pixel_grid(*grey[0].shape)
    out = []
    for prev, cur in zip(grey, grey[1:], strict=False):
        back, fwd = flow(cur, prev), flow(prev, cur)
        where = pixels + back
        out.append((where, followable(where, back, fwd)))
    return out


def warping_error(frames: list[np.ndarray], moves: list[tuple[np.ndarray, np.ndarray]]) -> float:
    errs = []
    for prev, cur, (where, ok) in zip(frames, frames[1:], moves, strict=False):
        warped = cv2.remap(prev, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        errs.append(float(cv2.absdiff(cur, warped).mean(axis=2)[ok].mean()))
    return statistics.fmean(errs)


def detail(frames: list[np.ndarray]) -> float:
    return statistics.fmean(float(np.abs(cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.CV_32F)).mean())
                            for f in frames)  # fmt: skip


def timed(stylise: Callable[[np.ndarray], np.ndarray], frames: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """Outputs and ms per frame, after one warm-up call (ONNX Runtime plans its first run)."""
    if hasattr(stylise, "reset"):
        stylise(frames[0])
        stylise.reset()
    t0 = time.perf_counter()
    out = [stylise(f) for f in frames]
    return out, (time.perf_counter() - t0) * 1000 / len(frames)


def smoother_cost(clip: Path, count: int) -> None:
    """ms per frame of TemporalSmoother alone, at a processing size and at common output sizes."""
    from nstvideo.pipeline.post import TemporalSmoother

    with FileSource(str(clip)) as src:
        frames = [f.image for _, f in zip(range(count), src.frames(), strict=False)]
    for w, h in ((455, 256), (1280, 720), (1920, 1080)):
        sized = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]
        smoother = TemporalSmoother(0.5)
        smoother(sized[0], sized[0])
        t0 = time.perf_counter()
        for f in sized[1:]:
            smoother(f, f)
        print(f"{w}x{h}: {(time.perf_counter() - t0) * 1000 / (len(sized) - 1):.1f} ms per frame")


def ema(weight: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The naive alternative: blend with the previous result where it was, ignoring motion."""
    last: list[np.ndarray] = []

    def step(_original: np.ndarray, stylised: np.ndarray) -> np.ndarray:
        out = stylised if not last else cv2.addWeighted(last[0], weight, stylised, 1 - weight, 0)
        last[:] = [out]
        return out

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--style", nargs="+", default=["mosaic", "candy", "starry-night"])
    ap.add_argument("--smooth", nargs="*", type=float, default=[0.3, 0.5, 0.7])
    ap.add_argument("--ema", type=float, default=0.5, help="also show a motion-blind blend at this weight (0: no)")
    ap.add_argument("--size", type=int, default=None, help="processing short side (default: each style's own)")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--cost", action="store_true", help="only time --smooth itself at a few frame sizes")
    args = ap.parse_args()
    clips = args.clips or [args.shared / "video" / c for c in CLIPS]
    if args.cost:
        smoother_cost(clips[0], args.frames)
        return

    print("| clip | style | smoothing | warping error | Δ per-frame | detail | ms/frame |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for clip in clips:
        with FileSource(str(clip)) as src:
            frames = [f.image for _, f in zip(range(args.frames), src.frames(), strict=False)]
        moves = motion(frames)
        h, w = frames[0].shape[:2]
        print(f"| {clip.name} ({w}x{h}, {len(frames)} frames) | input | — | {warping_error(frames, moves):.2f} | | | |")
        for style in args.style:
            plain, ms = timed(Stylizer(style, device="cpu", size=args.size), frames)
            print(f"| | {style} | off (per frame) | {warping_error(plain, moves):.2f} | 0 | 100 % | {ms:.1f} |")
            sharp = detail(plain)
            runs: list[tuple[str, list[np.ndarray], float]] = [
                (f"--smooth {s:g}", *timed(Stylizer(style, device="cpu", size=args.size, smooth=s), frames))
                for s in args.smooth
            ]
            if args.ema > 0:
                blind, t0 = ema(args.ema), time.perf_counter()
                out = [blind(f, s) for f, s in zip(frames, plain, strict=True)]
                extra = (time.perf_counter() - t0) * 1000 / len(out)
                runs.append((f"motion-blind blend {args.ema:g}", out, ms + extra))
            for label, out, cost in runs:
                delta = statistics.fmean(float(cv2.absdiff(a, b).mean()) for a, b in zip(out, plain, strict=True))
                kept, err = 100 * detail(out) / sharp, warping_error(out, moves)
                print(f"| | {style} | {label} | {err:.2f} | {delta:.2f} | {kept:.0f} % | {cost:.1f} |")


if __name__ == "__main__":
    main()
