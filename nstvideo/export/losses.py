"""Perceptual losses (Johnson et al.): content at relu2_2, Gram style at relu1_2..relu4_3, total variation,
and an optional temporal-stability term that needs no video.

Each term is normalised by the size of its target (‖target‖²), so the same weights work whatever the scale
of the loss network's activations — the ImageNet VGG-16 and CRAFT's VGG-16-BN differ by orders of magnitude
at relu4_3, and raw Gram MSE would silently ignore the deep layers of the latter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nstvideo.export.vgg import VGG16Features, gram

CONTENT_LAYERS = ("relu2_2",)
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
EPS = 1e-12


def content_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Feature reconstruction error relative to the target's energy."""
    return ((out - target) ** 2).mean() / (target.pow(2).mean() + EPS)


def style_distance(out_grams: dict[str, torch.Tensor], style_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per image: sum over layers of ‖G(out) − G(style)‖² / ‖G(style)‖² — also the shipping quality metric."""
    total = 0.0
    for name, g_style in style_grams.items():
        g_out = out_grams[name]
        num = ((g_out - g_style) ** 2).flatten(1).sum(1)
        total = total + num / (g_style.pow(2).flatten(1).sum(1) + EPS)
    return total


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Mean absolute neighbour difference on images in [0, 1]: a mild smoothness prior."""
    dh = (img[:, :, 1:, :] - img[:, :, :-1, :]).abs().mean()
    dw = (img[:, :, :, 1:] - img[:, :, :, :-1]).abs().mean()
    return dh + dw


# Simulated camera motion between two frames for the temporal term: a small random shift, turn and zoom of a crop,
# plus sensor noise (sigma in [0, 1] units) — the frame-to-frame changes a per-frame net turns into flicker.
MOTION_SHIFT = 4.0  # pixels, uniform in +-
MOTION_TURN = 2.0  # degrees, uniform in +-
MOTION_ZOOM = 0.03  # relative, uniform in +-
MOTION_NOISE = 0.02


def random_motion(n: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """[n, 2, 3] affine matrices (F.affine_grid convention) for a small random camera move per image."""
    u = torch.rand(n, 4, generator=generator) * 2 - 1
    angle = torch.deg2rad(u[:, 0] * MOTION_TURN)
    scale = 1 + u[:, 1] * MOTION_ZOOM
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    tx, ty = u[:, 2] * MOTION_SHIFT * 2 / width, u[:, 3] * MOTION_SHIFT * 2 / height
    return torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)


def move(img: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample images along the motion (bilinear; outside the frame is 0)."""
    grid = F.affine_grid(theta.to(img.device, img.dtype), list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def temporal_loss(out_of_moved: torch.Tensor, moved_out: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Stylising the moved frame should equal moving the stylised frame (Wang et al.'s compound regularisation),
    mean squared error over the pixels that stay inside the frame; images in [0, 1]."""
    ones = torch.ones_like(moved_out[:, :1])
    inside = (move(ones, theta) > 0.999).to(moved_out.dtype)
    err = ((out_of_moved - moved_out) ** 2).mean(1, keepdim=True)
    return (err * inside).sum() / (inside.sum() + EPS)


@dataclass
class LossWeights:
    content: float = 1.0
    style: float = 4.0
    tv: float = 1.0


class PerceptualLoss(torch.nn.Module):
    """Loss for a batch of stylised images given the content batch; the style Grams are computed once."""

    def __init__(
        self,
        vgg: VGG16Features,
        style_image: torch.Tensor,
        weights: LossWeights,
        content_layers: Sequence[str] = CONTENT_LAYERS,
        style_layers: Sequence[str] = STYLE_LAYERS,
    ) -> None:
        super().__init__()
        self.vgg = vgg
        self.weights = weights
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        with torch.no_grad():
            feats = vgg(style_image, self.style_layers)
            self.style_grams = {k: gram(v.float()) for k, v in feats.items()}

    def forward(self, out: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """`out` and `content` are RGB in [0, 1]."""
        layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        with torch.no_grad():
            target = self.vgg(content, self.content_layers)
        feats = self.vgg(out, layers)
        c = sum(content_loss(feats[k].float(), target[k].float()) for k in self.content_layers)
        grams = {k: gram(feats[k].float()) for k in self.style_layers}
        s = style_distance(grams, self.style_grams).mean()
        t = tv_loss(out.float())
        w = self.weights
        total = w.content * c + w.style * s + w.tv * t
        return {"total": total, "content": c.detach(), "style": s.detach(), "tv": t.detach()}
