"""Runtime speed: model fps on frames of common sizes, and the whole `file` pipeline on the demo clip.

Usage: python bench/bench_runtime.py [--style mosaic] [--device auto] [--runs 20] [--file-size 360 ...]
       [--clip-height 1080] [--file-batch 1 4] [--encoder auto prores]
Prints markdown rows for bench/RESULTS.md (median of --runs after warm-up). --clip-height H runs the file pipeline
on the demo clip scaled to H lines first (a 1080p source for "faster than real time at 1080p"); --file-size 0 is
the clip's own size.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import onnxruntime as ort

from nstvideo import Stylizer

HERE = Path(__file__).resolve().parent
SIZES = [(640, 360), (1280, 720), (1920, 1080)]


def bench_model(style: str, device: str, runs: int) -> None:
    s = Stylizer(style, device=device, size=0)
    print(f"style {s.model.name} ({s.model.architecture}) on {s.provider}; onnxruntime {ort.__version__}; "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")  # fmt: skip
    print("| frame | batch | median ms/frame | fps |")
    print("| --- | ---: | ---: | ---: |")
    rng = np.random.default_rng(0)
    for w, h in SIZES:
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for batch in (1, 4) if s.provider != "cpu" else (1,):
            frames = [frame] * batch
            s.stylize_batch(frames)  # warm-up (TensorRT builds or loads its engine here)
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                s.stylize_batch(frames)
                times.append((time.perf_counter() - t) / batch)
            ms = statistics.median(times) * 1000
            print(f"| {w}x{h} | {batch} | {ms:.1f} | {1000 / ms:.1f} |", flush=True)


def scaled_clip(src: Path, height: int, dest: Path) -> Path:
    """The clip at `height` lines (video only, near-lossless x264): a larger source than the demo clip."""
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        vin = inp.streams.video[0]
        width = round(vin.width * height / vin.height / 2) * 2
        vout = out.add_stream("libx264", rate=vin.average_rate, options={"crf": "12", "preset": "ultrafast"})
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        for frame in inp.decode(vin):
            big = cv2.resize(frame.to_ndarray(format="bgr24"), (width, height), interpolation=cv2.INTER_CUBIC)
            out.mux(vout.encode(av.VideoFrame.from_ndarray(big, format="bgr24")))
        out.mux(vout.encode())
    return dest


def bench_file(style: str, device: str, size: str, clip: Path, batch: int, encoder: str = "auto") -> None:
    with av.open(str(clip)) as c:
        v = c.streams.video[0]
        frames, seconds, dims = v.frames, float(c.duration or 0) / av.time_base, f"{v.width}x{v.height}"
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / ("out.mov" if encoder == "prores" else "out.mp4")
        cmd = [sys.executable, "-m", "nstvideo", "-q", "file", str(clip), str(out), "--style", style,
               "--device", device, "--size", size, "--batch-size", str(batch), "--encoder", encoder]  # fmt: skip
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t
        mb = out.stat().st_size / 1e6
    print(
        f"`nstvideo file` {clip.name} ({frames} frames, {dims}, {seconds:.0f} s) --size {size} --batch-size "
        f"{batch} --encoder {encoder}: {wall:.1f} s wall, {frames / wall:.1f} fps, {seconds / wall:.2f}x real time, "
        f"{mb:.1f} MB",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", default="mosaic")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--runs", type=int, default=10, help="model calls per frame size (0: skip the model benchmark)")
    ap.add_argument("--file-size", nargs="+", default=["360"], help="--size for the file benchmark (0: native)")
    ap.add_argument("--file-batch", nargs="+", type=int, default=[1], help="--batch-size for the file benchmark")
    ap.add_argument("--clip-height", type=int, default=0, help="scale the demo clip to this height first")
    ap.add_argument("--encoder", nargs="+", default=["auto"], help="--encoder for the file benchmark")
    args = ap.parse_args()
    if args.runs:
        bench_model(args.style, args.device, args.runs)
    demo = HERE.parent / "samples" / "big-buck-bunny-12s.mp4"
    with tempfile.TemporaryDirectory() as d:
        clip = demo
        if args.clip_height:
            clip = scaled_clip(demo, args.clip_height, Path(d) / f"bunny-{args.clip_height}p.mp4")
        for size in args.file_size:
            for batch in args.file_batch:
                for encoder in args.encoder:
                    bench_file(args.style, args.device, size, clip, batch, encoder)


if __name__ == "__main__":
    main()
