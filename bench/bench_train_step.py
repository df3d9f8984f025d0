"""Training speed per precision: milliseconds per step of the real Trainer on random batches (no data loading).

`nstvideo train` logs its own it/s; this isolates the step so fp32 and bf16 compare on the same machine.
Usage: python bench/bench_train_step.py PAINTING [--size 128] [--batch 2] [--arch johnson-skip] [--vgg craft]
       [--device auto] [--precision fp32 bf16] [--steps 10] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from nstvideo.export.train import TrainConfig, Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("painting", type=Path)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--arch", default="johnson-skip")
    ap.add_argument("--vgg", default="craft")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--temporal-weight", type=float, default=0.0, help="> 0: include the temporal term's extra pass")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "photos"  # the Trainer wants a data folder; the steps below use random batches
        data.mkdir()
        for i in range(8):
            cv2.imwrite(str(data / f"{i}.png"), np.full((args.size, args.size, 3), 32 * i, np.uint8))
        for precision in args.precision:
            cfg = TrainConfig(
                style_image=args.painting, name="bench", data=data, out_dir=Path(tmp) / precision,
                iterations=1, batch_size=args.batch, image_size=args.size, style_size=256, arch=args.arch,
                vgg=args.vgg, device=args.device, precision=precision, workers=0, temporal_weight=args.temporal_weight,
            )  # fmt: skip
            trainer = Trainer(cfg)
            batch = torch.rand(args.batch, 3, args.size, args.size) * 255
            for _ in range(3):  # warm-up: oneDNN picks its kernels on the first calls
                trainer.train_step(batch)
            start = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step(batch)
            ms = (time.perf_counter() - start) / args.steps * 1000
            print(
                f"{precision}: {ms:.0f} ms/step ({1000 / ms:.2f} steps/s) at {args.size}² batch {args.batch}, "
                f"{args.arch}, {trainer.device}, {torch.get_num_threads()} threads, "
                f"temporal weight {args.temporal_weight:g}",
                flush=True,
            )


if __name__ == "__main__":
    main()
