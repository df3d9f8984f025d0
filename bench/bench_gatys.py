"""Where a Gatys keyframe's time goes: seconds per coarse-to-fine level, for choosing the default schedule.

`nstvideo keyframe` wall time is the user's figure; this splits it (loss-network load, then each level).
Usage: python bench/bench_gatys.py PHOTO PAINTING [--size 512] [--iterations 200] [--vgg craft] [--device auto]
       [--level-ratio 4] [--out result.png]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
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
    args = ap.parse_args()
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

    started = time.perf_counter()
    stamps[0] = started  # replaced below by the first iteration's start, once the loss network is loaded
    result = stylize_keyframe(photo, painting, cfg, progress=progress)
    total = time.perf_counter() - started
    print(f"{args.photo.name} x {args.painting.name}, short side {cfg.size}, {cfg.iterations} iterations, "
          f"level ratio {cfg.level_ratio or LEVEL_RATIO.get(device.type, 4.0)}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads: {total:.1f} s in all")  # fmt: skip
    print("| level (short side) | iterations | seconds | s / iteration |")
    print("| ---: | ---: | ---: | ---: |")
    prev = 0
    for size, end in zip(sizes, bounds, strict=True):
        # level 1 includes loading the loss network and the first level's setup; later ones their own setup
        seconds = stamps[end] - stamps[prev]
        print(f"| {size} | {end - prev} | {seconds:.1f} | {seconds / max(1, end - prev):.2f} |")
        prev = end
    if args.out:
        cv2.imwrite(str(args.out), result)


if __name__ == "__main__":
    main()
