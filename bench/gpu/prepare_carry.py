"""Here, before a GPU session: pack what a studio run on the lent GPU machine needs into .carry/studio/ (ignored).

The device gets no ../shared and at most 64 MiB per call, checkout included, so this copies the style images, the
loss network as a 20 MB fp16 file that remembers it is CRAFT's VGG-16-BN, and as many training photos as fit beside
the checkout (a fixed random subset when not all do; the held-out 50 stay behind). `--vgg
.carry/studio/vgg16_bn-craft-fp16.pth` then records CRAFT in each model's metadata.
Then: `run` with carry [".carry/studio"] and the command `python3 bench/gpu/train_styles.py ...` (see that file).
Usage: python bench/gpu/prepare_carry.py [--shared ../shared/data] [--out .carry/studio] [--limit-mb 63]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
from pathlib import Path

import cv2

from nstvideo.export.vgg import save_loss_network

ROOT = Path(__file__).resolve().parents[2]
LIMIT_MB = 64
MIN_PHOTOS = 400  # a floor chosen, not measured: below it, slim the checkout rather than train on fewer photos


def size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 2**20


def checkout_mb() -> float:
    """What every call carries before its carry paths: the tracked files."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return size_mb([ROOT / f for f in tracked.decode().split("\0") if f])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / ".carry" / "studio")
    ap.add_argument("--limit-mb", type=float, default=LIMIT_MB - 1, help="checkout + carry, MiB (1 MiB spare)")
    args = ap.parse_args()
    if not (args.shared / "content").is_dir():
        raise SystemExit(f"error: {args.shared / 'content'} not found\nhint: pass --shared PATH/TO/shared/data")
    holdout = set((ROOT / "bench" / "holdout.txt").read_text().split())
    content, styles = args.out / "content", args.out / "styles"
    for d in (content, styles):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for p in sorted((args.shared / "styles").glob("*.jpg")):
        shutil.copyfile(p, styles / p.name)
    samples = args.out / "samples"  # previews while training, and the Gatys keyframe
    shutil.rmtree(samples, ignore_errors=True)
    samples.mkdir()
    for name in ("amber.jpg", "tubingen.jpg"):
        shutil.copyfile(args.shared / "samples" / name, samples / name)
    # A 1920x1080 photo for the 1080p keyframe bar (no sample is that large: tubingen, upscaled and cropped to 16:9)
    photo = cv2.imread(str(samples / "tubingen.jpg"))
    photo = cv2.resize(photo, (1920, round(photo.shape[0] * 1920 / photo.shape[1])), interpolation=cv2.INTER_CUBIC)
    top = (photo.shape[0] - 1080) // 2
    cv2.imwrite(str(samples / "tubingen-1080p.jpg"), photo[top : top + 1080], [cv2.IMWRITE_JPEG_QUALITY, 90])
    vgg = save_loss_network(args.out / "vgg16_bn-craft-fp16.pth", "craft", upto="relu5_1")
    checkout = checkout_mb()
    # Photos fill what the checkout, styles and loss network leave: every bundled style makes the checkout bigger.
    room = (args.limit_mb - checkout - size_mb(list(args.out.rglob("*")))) * 2**20
    photos = [p for p in sorted((args.shared / "content").glob("*.jpg")) if p.name not in holdout]
    random.Random(0).shuffle(photos)  # names group photos by source dataset: a cut must not drop whole sources
    taken = 0
    for p in photos:
        room -= p.stat().st_size
        if room < 0:
            break
        shutil.copyfile(p, content / p.name)  # real files: symlinks would not travel
        taken += 1
    if taken < MIN_PHOTOS:
        raise SystemExit(f"error: only {taken} photos fit in {args.limit_mb} MiB\nhint: slim the checkout")
    carry = size_mb(list(args.out.rglob("*")))
    left = f" ({len(photos) - taken} left out to fit)" if taken < len(photos) else ""
    print(f"{taken} photos{left}, {len(list(styles.iterdir()))} styles, {vgg.name} in {args.out}: {carry:.1f} MiB")
    total = checkout + carry
    print(f"checkout {checkout:.1f} MiB + carry {carry:.1f} MiB = {total:.1f} MiB (limit {LIMIT_MB} per call)")


if __name__ == "__main__":
    main()
