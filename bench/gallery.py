"""Make docs/gallery/: each bundled style on amber.jpg, tubingen.jpg and one Big Buck Bunny frame (small JPEGs).

Usage: python bench/gallery.py [STYLE ...] [--shared ../shared/data] [--size 360] [--models-dir runs/STYLE]
       [--out DIR]  (a candidate style: --models-dir runs/STYLE --out /tmp/look, to look before shipping)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from nstvideo import Stylizer, list_styles
from nstvideo.pipeline.media import FileSource
from nstvideo.pipeline.sources import read_image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WIDTH = 480  # gallery tiles stay small: they live in the repo


def bunny_frame(at: float = 6.0) -> np.ndarray:
    with FileSource(ROOT / "samples" / "big-buck-bunny-12s.mp4", start=at, duration=0.2) as src:
        return next(iter(src.frames())).image


def shrink(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (WIDTH, round(h * WIDTH / w)), interpolation=cv2.INTER_AREA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("styles", nargs="*", help="style names (default: every bundled style)")
    ap.add_argument("--models-dir", type=Path, action="append", default=[])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--size", type=int, default=None, help="processing short side (default: each style's own)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    inputs = {
        "amber": read_image(args.shared / "samples" / "amber.jpg"),
        "tubingen": read_image(args.shared / "samples" / "tubingen.jpg"),
        "bunny": bunny_frame(),
    }
    # Only stylised outputs are written: the source photos are research data and stay out of the repo.
    for m in [m for m in list_styles(args.models_dir) if not args.styles or m.name in args.styles]:
        s = Stylizer(m, size=args.size, device="cpu")
        for name, img in inputs.items():
            path = args.out / f"{m.name}-{name}.jpg"
            cv2.imwrite(str(path), shrink(s(img)), [cv2.IMWRITE_JPEG_QUALITY, 85])
            print(path)


if __name__ == "__main__":
    main()
