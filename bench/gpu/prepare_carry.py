"""Here, before a GPU session: pack what a studio run on the lent GPU machine needs into .carry/studio/ (ignored).

The device gets no ../shared and at most 64 MiB per call, checkout included, so this copies the training photos
(the held-out 50 stay behind), the style images, and the loss network as a 20 MB fp16 file that remembers it is
CRAFT's VGG-16-BN (`--vgg .carry/studio/vgg16_bn-craft-fp16.pth` records that in each model's metadata).
Then: `run` with carry [".carry/studio"] and the command `bash bench/gpu/train_styles.sh` (see that file).
Usage: python bench/gpu/prepare_carry.py [--shared ../shared/data] [--out .carry/studio]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from nstvideo.export.vgg import save_loss_network

ROOT = Path(__file__).resolve().parents[2]
LIMIT_MB = 64


def size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / ".carry" / "studio")
    args = ap.parse_args()
    if not (args.shared / "content").is_dir():
        raise SystemExit(f"error: {args.shared / 'content'} not found\nhint: pass --shared PATH/TO/shared/data")
    holdout = set((ROOT / "bench" / "holdout.txt").read_text().split())
    content, styles = args.out / "content", args.out / "styles"
    for d in (content, styles):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    photos = [p for p in sorted((args.shared / "content").glob("*.jpg")) if p.name not in holdout]
    for p in photos:
        shutil.copyfile(p, content / p.name)  # real files: symlinks would not travel
    for p in sorted((args.shared / "styles").glob("*.jpg")):
        shutil.copyfile(p, styles / p.name)
    vgg = save_loss_network(args.out / "vgg16_bn-craft-fp16.pth", "craft", upto="relu5_1")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    checkout = size_mb([ROOT / f for f in tracked.decode().split("\0") if f])
    carry = size_mb(list(args.out.rglob("*")))
    print(f"{len(photos)} photos, {len(list(styles.iterdir()))} styles, {vgg.name} in {args.out}: {carry:.1f} MiB")
    total = checkout + carry
    print(f"checkout {checkout:.1f} MiB + carry {carry:.1f} MiB = {total:.1f} MiB (limit {LIMIT_MB} per call)")
    if total > LIMIT_MB:
        raise SystemExit("error: over the per-call limit\nhint: leave some photos out, or slim the checkout")


if __name__ == "__main__":
    main()
