"""Split ../shared/data/content into training and held-out folders (symlinks), by the names in bench/holdout.txt.

The 50 held-out photos are never trained on; the quality bar and the model card's loss terms are measured on them.
Usage: python bench/split_data.py [--shared ../shared/data] [--out runs/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=HERE.parent / "runs" / "data")
    args = ap.parse_args()
    content = args.shared.resolve() / "content"
    if not content.is_dir():
        raise SystemExit(f"error: {content} not found\nhint: pass --shared PATH/TO/shared/data")
    holdout = set((HERE / "holdout.txt").read_text().split())
    for sub in ("train", "holdout"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "holdout": 0}
    for photo in sorted(content.glob("*.jpg")):
        sub = "holdout" if photo.name in holdout else "train"
        link = args.out / sub / photo.name
        if not link.exists():
            link.symlink_to(photo)
        counts[sub] += 1
    print(f"{counts['train']} training photos in {args.out / 'train'}, {counts['holdout']} held out")


if __name__ == "__main__":
    main()
