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
    # Per style layer, median (photo, stylised) distance: shows which scale of the painting a net fails to reach.
    layers: dict[str, tuple[float, float]]

    @property
    def ships(self) -> bool:
        return self.ratio_median <= SHIP_RATIO

    def as_dict(self) -> dict[str, object]:
        return self.__dict__ | {"ships": self.ships}


def _layer_distances(feats: dict[str, torch.Tensor], style_grams: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(style_distance({k: gram(feats[k])}, {k: g})) for k, g in style_grams.items()}


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
    per_layer: dict[str, list[tuple[float, float]]] = {k: [] for k in style_grams}
    for path in list_images(photos)[:limit]:
        rgb = read_rgb(path)
        out = stylizer(np.ascontiguousarray(rgb[:, :, ::-1]))[:, :, ::-1]
        x = to_tensor(rgb).unsqueeze(0) / 255
        y = to_tensor(out).unsqueeze(0) / 255
        fx = net(x, STYLE_LAYERS)
        fy = net(y, STYLE_LAYERS)
        lx, ly = _layer_distances(fx, style_grams), _layer_distances(fy, style_grams)
        dx, dy = sum(lx.values()), sum(ly.values())
        for k in per_layer:
            per_layer[k].append((lx[k], ly[k]))
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
        layers={
            k: (statistics.median(x for x, _ in v), statistics.median(y for _, y in v)) for k, v in per_layer.items()
        },
    )
