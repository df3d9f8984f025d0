"""Quality check for a style: Gram style distance of stylised photos to the painting vs the photos themselves."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nstvideo.export.losses import CONTENT_LAYERS, STYLE_LAYERS, content_loss, style_distance, tv_loss
from nstvideo.export.train import list_images, load_style_tensor, read_rgb, to_tensor
from nstvideo.export.vgg import gram, load_vgg

# The shipping bar: stylised photos must sit at most this fraction of the photos' own distance from the painting.
SHIP_RATIO = 0.5


@dataclass
class StyleReport:
    photos: int
    ratio_median: float  # median over photos of D(stylised) / D(photo)
    distance_stylised: float  # median D(stylised)
    distance_photo: float  # median D(photo)
    content: float  # mean relative content loss (relu2_2)
    tv: float  # mean total variation

    @property
    def ships(self) -> bool:
        return self.ratio_median <= SHIP_RATIO

    def as_dict(self) -> dict[str, float | int | bool]:
        return self.__dict__ | {"ships": self.ships}


@torch.no_grad()
def evaluate_style(model: Path, style_image: Path, photos: Path, vgg: str = "craft", limit: int = 50) -> StyleReport:
    """Run the exported model (real ONNX Runtime) on held-out photos and measure it with the loss network."""
    from nstvideo.pipeline.engine import Stylizer

    stylizer = Stylizer(model, size=0, device="cpu")
    recipe = json.loads(stylizer.model.get("recipe", "{}") or "{}")
    net = load_vgg(vgg, upto=STYLE_LAYERS[-1])
    style_grams = {
        k: gram(v) for k, v in net(load_style_tensor(style_image, recipe.get("style_size")), STYLE_LAYERS).items()
    }
    ratios, d_out, d_in, contents, tvs = [], [], [], [], []
    for path in list_images(photos)[:limit]:
        rgb = read_rgb(path)
        out = stylizer(np.ascontiguousarray(rgb[:, :, ::-1]))[:, :, ::-1]
        x = to_tensor(rgb).unsqueeze(0) / 255
        y = to_tensor(out).unsqueeze(0) / 255
        fx = net(x, STYLE_LAYERS)
        fy = net(y, STYLE_LAYERS)
        dx = float(style_distance({k: gram(v) for k, v in fx.items()}, style_grams))
        dy = float(style_distance({k: gram(v) for k, v in fy.items()}, style_grams))
        ratios.append(dy / dx)
        d_out.append(dy)
        d_in.append(dx)
        contents.append(float(sum(content_loss(fy[k], fx[k]) for k in CONTENT_LAYERS)))
        tvs.append(float(tv_loss(y)))
    return StyleReport(
        photos=len(ratios),
        ratio_median=statistics.median(ratios),
        distance_stylised=statistics.median(d_out),
        distance_photo=statistics.median(d_in),
        content=statistics.fmean(contents),
        tv=statistics.fmean(tvs),
    )
