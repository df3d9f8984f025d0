"""Where a Gatys keyframe's time goes: seconds per coarse-to-fine level, for choosing the default schedule.

`nstvideo keyframe` wall time is the user's figure; this splits it (loss-network load, then each level).
Usage: python bench/bench_gatys.py PHOTO PAINTING [--size 512] [--iterations 200] [--vgg craft] [--device auto]
       [--level-ratio 4] [--out result.png] [--repeat 2] [--strict]
--repeat N runs it N times in this process and says whether the images are identical; --strict also turns on
torch.use_deterministic_algorithms (and a deterministic cuBLAS workspace), to tell whether anything beyond cuDNN's
kernel choice varies between runs on a GPU.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from nstvideo.export.gatys import LEVEL_RATIO, GatysConfig, level_schedule, levels, stylize_keyframe
from nstvideo.export.train import pick_device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", type=Path)
    ap.add_argument("painting", type=Path)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iterations", type=int, default=GatysConfig.iterations)
    ap.add_argument("--vgg", default="craft")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--level-ratio", type=float, default=None, help="default: the device's (gatys.LEVEL_RATIO)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=1, help="runs in this process, compared pixel by pixel")
    ap.add_argument("--strict", action="store_true", help="torch.use_deterministic_algorithms while it runs")
    args = ap.parse_args()
    if args.strict:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts: before any CUDA work
        torch.use_deterministic_algorithms(True)
    cfg = GatysConfig(
        size=args.size, iterations=args.iterations, vgg=args.vgg, device=args.device, level_ratio=args.level_ratio
    )
    photo, painting = cv2.imread(str(args.photo)), cv2.imread(str(args.painting))
    sizes = levels(cfg.size)
    device = pick_device(cfg.device)
    its = level_schedule(cfg, device)
    bounds = [sum(its[: i + 1]) for i in range(len(sizes))]
    stamps: dict[int, float] = {}

    def progress(done: int, total: int, loss: float) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        stamps[done] = time.perf_counter()

    results = []
    for run in range(args.repeat):
        started = time.perf_counter()
        stamps.clear()
        stamps[0] = started  # level 1's time includes loading the loss network
        results.append(stylize_keyframe(photo, painting, cfg, progress=progress))
        total = time.perf_counter() - started
        print(f"run {run + 1}: {args.photo.name} x {args.painting.name}, short side {cfg.size}, {cfg.iterations} "
              f"iterations, level ratio {cfg.level_ratio or LEVEL_RATIO.get(device.type, 4.0)}, torch "
              f"{torch.__version__}, {torch.get_num_threads()} threads{', strict' if args.strict else ''}: "
              f"{total:.1f} s in all")  # fmt: skip
        print("| level (short side) | iterations | seconds | s / iteration |")
        print("| ---: | ---: | ---: | ---: |")
        prev = 0
        for size, end in zip(sizes, bounds, strict=True):
            # level 1 includes loading the loss network and the first level's setup; later ones their own setup
            seconds = stamps[end] - stamps[prev]
            print(f"| {size} | {end - prev} | {seconds:.1f} | {seconds / max(1, end - prev):.2f} |")
            prev = end
    for run, other in enumerate(results[1:], start=2):
        d = np.abs(results[0].astype(int) - other.astype(int))
        verdict = "identical" if d.max() == 0 else "DIFFERENT"
        print(f"run 1 vs run {run} in one process: max {d.max()}, mean {d.mean():.3f} grey levels: {verdict}")
    result = results[0]
    if args.out:
        cv2.imwrite(str(args.out), result)


if __name__ == "__main__":
    main()
