"""Runtime speed: model fps on frames of common sizes, and the whole `file` pipeline on the demo clip.

Usage: python bench/bench_runtime.py [--style mosaic] [--device auto] [--runs 20]
Prints markdown rows for bench/RESULTS.md (median of --runs after warm-up).
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


def bench_file(style: str, device: str, size: str) -> None:
    clip = HERE.parent / "samples" / "big-buck-bunny-12s.mp4"
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.mp4"
        cmd = [sys.executable, "-m", "nstvideo", "-q", "file", str(clip), str(out), "--style", style,
               "--device", device, "--size", size]  # fmt: skip
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t
    print(f"`nstvideo file` demo clip (288 frames, 640x360, 12 s) --size {size}: {wall:.1f} s wall, "
          f"{288 / wall:.1f} fps, {12 / wall:.2f}x real time")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", default="mosaic")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--file-size", default="360", help="--size for the file benchmark")
    args = ap.parse_args()
    bench_model(args.style, args.device, args.runs)
    bench_file(args.style, args.device, args.file_size)


if __name__ == "__main__":
    main()
