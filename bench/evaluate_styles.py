"""The shipping bar for styles: Gram style distance of stylised held-out photos to the painting, relative to the
photos' own distance (median over photos; a style ships at <= 0.5), plus the loss terms for the model card.

Usage: python bench/evaluate_styles.py [STYLE ...] [--shared ../shared/data] [--holdout runs/data/holdout] [--layers]
Needs the train and craft extras; runs on the CPU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nstvideo.export.evaluate import SHIP_RATIO, evaluate_style
from nstvideo.pipeline.models import list_styles

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("styles", nargs="*", help="style names (default: every bundled style)")
    ap.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--holdout", type=Path, default=HERE.parent / "runs" / "data" / "holdout")
    ap.add_argument("--models-dir", type=Path, action="append", default=[])
    ap.add_argument("--vgg", default="craft")
    ap.add_argument("--layers", action="store_true", help="also each layer's median distance, photo -> stylised")
    args = ap.parse_args()
    styles = [m for m in list_styles(args.models_dir) if not args.styles or m.name in args.styles]
    print(f"| style | photos | D(stylised) | D(photo) | ratio (median) | content | tv | ships (<= {SHIP_RATIO}) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    reports = {}
    for m in styles:
        painting = args.shared / "styles" / m.get("style_image")
        t = time.time()
        r = reports[m.name] = evaluate_style(m.path, painting, args.holdout, vgg=args.vgg)
        print(
            f"| {m.name} | {r.photos} | {r.distance_stylised:.3f} | {r.distance_photo:.3f} | {r.ratio_median:.3f} "
            f"| {r.content:.3f} | {r.tv:.4f} | {'yes' if r.ships else 'NO'} |",
            flush=True,
        )
        print(f"<!-- {m.name}: evaluated in {time.time() - t:.0f} s -->", flush=True)
    if args.layers and reports:
        names = list(next(iter(reports.values())).layers)
        print("\n| style | " + " | ".join(f"{k} photo → out" for k in names) + " |")
        print("| --- |" + " --- |" * len(names))
        for name, r in reports.items():
            print(f"| {name} | " + " | ".join(f"{x:.3f} → {y:.3f}" for x, y in r.layers.values()) + " |")


if __name__ == "__main__":
    main()
