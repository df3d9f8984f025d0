"""Gatys keyframe vs the trained net on the same photo: Gram style distance of each to the painting.

The distance is the studio's (sum over relu1_2..relu4_3 of ‖G(x) − G(style)‖² / ‖G(style)‖², CRAFT VGG-16-BN), with
the painting at the size the style was trained with. The photo's own distance is printed for scale.
Usage: python bench/compare_gatys.py PHOTO GATYS_RESULT --style mosaic [--painting PATH] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import torch

from nstvideo import Stylizer
from nstvideo.export.losses import STYLE_LAYERS, style_distance
from nstvideo.export.train import load_style_tensor, to_tensor
from nstvideo.export.vgg import gram, load_vgg
from nstvideo.pipeline.sources import read_image

HERE = Path(__file__).resolve().parent


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", type=Path)
    ap.add_argument("gatys", type=Path, help="the keyframe `nstvideo keyframe` wrote for PHOTO")
    ap.add_argument("--style", default="mosaic")
    ap.add_argument("--painting", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="also write the trained net's output here")
    ap.add_argument("--models-dir", type=Path, action="append", default=[], help="styles not bundled")
    args = ap.parse_args()
    gatys = read_image(args.gatys)
    net = Stylizer(args.style, device="cpu", size=min(gatys.shape[:2]), models_dirs=args.models_dir)
    painting = args.painting or HERE.parent.parent / "shared" / "data" / "styles" / net.model.get("style_image")
    style_size = json.loads(net.model.get("recipe", "{}")).get("style_size")
    vgg = load_vgg("craft", upto=STYLE_LAYERS[-1])
    target = {k: gram(v) for k, v in vgg(load_style_tensor(painting, style_size), STYLE_LAYERS).items()}
    photo = cv2.resize(read_image(args.photo), (gatys.shape[1], gatys.shape[0]), interpolation=cv2.INTER_AREA)
    trained = net(photo)
    if args.out:
        cv2.imwrite(str(args.out), trained, [cv2.IMWRITE_JPEG_QUALITY, 85])

    def distance(bgr) -> float:
        x = to_tensor(bgr[:, :, ::-1]).unsqueeze(0) / 255
        return float(style_distance({k: gram(v) for k, v in vgg(x, STYLE_LAYERS).items()}, target))

    print(f"| {args.style} | {args.photo.name} {gatys.shape[1]}x{gatys.shape[0]} | photo {distance(photo):.3f} "
          f"| trained net {distance(trained):.3f} | Gatys {distance(gatys):.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
