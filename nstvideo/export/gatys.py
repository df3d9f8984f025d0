"""Gatys et al. optimisation: stylise one keyframe with any painting, no trained model needed.

The image's pixels are optimised so its VGG-16 features keep the photo's content (relu4_2) and match the painting's
Gram matrices (relu1_1 .. relu5_1). It is solved coarse to fine: a low-resolution solution, upsampled, is a far
better start than the photo for the next level, so a 1080p keyframe needs few full-resolution iterations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from nstvideo.errors import ProcessingError, UsageError
from nstvideo.export.losses import content_loss, style_distance, tv_loss
from nstvideo.export.train import check_device, check_loss_weights, check_seed, pick_device
from nstvideo.export.vgg import gram, load_vgg
from nstvideo.pipeline import post
from nstvideo.pipeline.engine import MAX_SIDE, check_frame_size, scaled_size

log = logging.getLogger("nstvideo")

CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
MIN_LEVEL = 128  # coarsest level's short side
# On a CPU time grows with pixels, so 4 (equal time per level). A GPU spends most of a keyframe starting up and
# little per fine iteration: 2 gives a 1080p keyframe's finest level 13 iterations instead of 2, visibly sharper
# strokes, in the same time (H200: 8.4 s against 10.3 s in-process; bench/RESULTS.md, "Gatys keyframe on the GPU").
LEVEL_RATIO = {"cpu": 4.0, "cuda": 2.0}


@dataclass
class GatysConfig:
    size: int = 512
    iterations: int = 200
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    init: str = "content"
    optimizer: str = "lbfgs"
    preserve_color: bool = False
    style_scale: float = 1.0
    seed: int = 0
    device: str = "auto"
    vgg: str = "imagenet"
    level_ratio: float | None = None  # iterations of a level / the next finer one's; None: the device's default

    def validate(self) -> None:
        if not 32 <= self.size <= MAX_SIDE:
            raise UsageError(f"--size must be 32..{MAX_SIDE}, got {self.size}", "e.g. --size 512")
        if self.iterations < len(levels(self.size)):
            raise UsageError(
                f"--iterations must be at least {len(levels(self.size))} at --size {self.size} (one per level of "
                f"the coarse-to-fine schedule), got {self.iterations}",
                "e.g. --iterations 200",
            )
        check_loss_weights(content_weight=self.content_weight, style_weight=self.style_weight, tv_weight=self.tv_weight)
        check_device(self.device)
        if self.init not in ("content", "noise"):
            raise UsageError(f"--init must be content or noise, got {self.init!r}", "--init content is the default")
        if self.optimizer not in ("lbfgs", "adam"):
            raise UsageError(f"--optimizer must be lbfgs or adam, got {self.optimizer!r}", "lbfgs is the default")
        if not 0.1 <= self.style_scale <= 4:
            raise UsageError(f"--style-scale must be between 0.1 and 4, got {self.style_scale}", "1 is the default")
        check_seed(self.seed)


def painting_scale(image: tuple[int, int], painting: tuple[int, int], style_scale: float) -> float:
    """How much to resize the painting: its long side to the image's, but never to more than twice the image's
    pixels (a panorama would blow the painting up to gigapixels)."""
    (w, h), (sw, sh) = image, painting
    return style_scale * min(max(w, h) / max(sw, sh), (2 * w * h / (sw * sh)) ** 0.5)


def levels(size: int) -> list[int]:
    """Short sides, coarse to fine: halving from `size` down to MIN_LEVEL."""
    out = [size]
    while out[-1] // 2 >= MIN_LEVEL:
        out.append(out[-1] // 2)
    return out[::-1]


def level_iterations(total: int, count: int, ratio: float = 4.0) -> list[int]:
    """Most iterations where they are cheap: at ratio 4 each finer level (4x the pixels) gets a quarter of the
    previous one's, so on a CPU every level costs about the same time; the fine levels only add detail to an
    upsampled solution."""
    weights = [ratio ** (count - 1 - i) for i in range(count)]
    its = [max(1, round(total * w / sum(weights))) for w in weights]
    # Rounding and the one-each floor can miss the total: the coarsest level takes up a shortfall, the largest
    # levels give up an excess.
    its[0] += max(0, total - sum(its))
    while sum(its) > max(total, count):
        its[its.index(max(its))] -= 1
    return its


def level_schedule(cfg: GatysConfig, device: torch.device) -> list[int]:
    """Iterations per level of `levels(cfg.size)`, with the device's ratio unless the config names one."""
    ratio = cfg.level_ratio or LEVEL_RATIO.get(device.type, 4.0)
    return level_iterations(cfg.iterations, len(levels(cfg.size)), ratio)


def _tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0).float().div(255).to(device)


def _luminance(bgr: np.ndarray) -> np.ndarray:
    y = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(y, cv2.COLOR_GRAY2BGR)


def stylize_keyframe(
    content_bgr: np.ndarray,
    style_bgr: np.ndarray,
    cfg: GatysConfig,
    progress: Callable[[int, int, float], None] | None = None,
    should_stop: Callable[[], None] | None = None,
) -> np.ndarray:
    """BGR photo + BGR painting -> stylised BGR image whose short side is `cfg.size`."""
    cfg.validate()
    h, w = content_bgr.shape[:2]
    check_frame_size(scaled_size(w, h, cfg.size), "keyframe size", "--size", (w, h))  # a strip at --size is huge
    device = pick_device(cfg.device)
    try:
        with reproducible(device):
            return _optimise(content_bgr, style_bgr, cfg, device, progress, should_stop)
    except (RuntimeError, MemoryError) as exc:
        if not isinstance(exc, MemoryError) and "alloc" not in str(exc) and "out of memory" not in str(exc):
            raise
        raise ProcessingError(
            f"out of memory optimising a {cfg.size} px keyframe on {device.type}", "use a smaller --size"
        ) from exc


@contextmanager
def reproducible(device: torch.device) -> Iterator[None]:
    """Deterministic cuDNN kernels while optimising: with cuDNN's default choice two CUDA runs with one seed differed
    by 17-20 grey levels on average (H200, 1080p) — L-BFGS amplifies the varying order of additions."""
    if device.type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    before = cudnn.deterministic, cudnn.benchmark
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = before


def _optimise(
    content_bgr: np.ndarray,
    style_bgr: np.ndarray,
    cfg: GatysConfig,
    device: torch.device,
    progress: Callable[[int, int, float], None] | None,
    should_stop: Callable[[], None] | None,
) -> np.ndarray:
    torch.manual_seed(cfg.seed)
    # Luminance-only transfer (Gatys et al. 2016, "Preserving colour"): optimise on grey images, then put the
    # photo's chroma back, so the painting's palette never leaks in.
    photo = _luminance(content_bgr) if cfg.preserve_color else content_bgr
    painting = _luminance(style_bgr) if cfg.preserve_color else style_bgr
    vgg = load_vgg(cfg.vgg, upto="relu5_1", device=device)
    sizes = levels(cfg.size)
    its = level_schedule(cfg, device)
    total, done = sum(its), 0
    image: torch.Tensor | None = None
    h0, w0 = photo.shape[:2]
    for size, n_iter in zip(sizes, its, strict=True):
        w, h = scaled_size(w0, h0, size)
        content = _tensor(cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)[:, :, ::-1], device)
        sh, sw = painting.shape[:2]
        f = painting_scale((w, h), (sw, sh), cfg.style_scale)
        style_img = cv2.resize(painting, (max(16, round(sw * f)), max(16, round(sh * f))), interpolation=cv2.INTER_AREA)
        style = _tensor(style_img[:, :, ::-1], device)
        with torch.no_grad():
            target = vgg(content, CONTENT_LAYERS)
            style_grams = {k: gram(v) for k, v in vgg(style, STYLE_LAYERS).items()}
        if image is None:
            start = content if cfg.init == "content" else torch.rand_like(content)
        else:
            start = F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
        x = start.clone(memory_format=torch.contiguous_format).requires_grad_(True)
        if cfg.optimizer == "lbfgs":
            # one iteration per step() so progress and Ctrl-C are per iteration; no early stop on flat gradients
            opt = torch.optim.LBFGS(
                [x], lr=1.0, max_iter=1, history_size=50, line_search_fn="strong_wolfe",
                tolerance_grad=0.0, tolerance_change=0.0,
            )  # fmt: skip
        else:
            opt = torch.optim.Adam([x], lr=0.02)

        def closure(x: torch.Tensor = x, target=target, style_grams=style_grams, opt=opt) -> torch.Tensor:
            opt.zero_grad()
            feats = vgg(x, CONTENT_LAYERS + STYLE_LAYERS)
            c = sum(content_loss(feats[k], target[k]) for k in CONTENT_LAYERS)
            s = style_distance({k: gram(feats[k]) for k in STYLE_LAYERS}, style_grams).sum()
            loss = cfg.content_weight * c + cfg.style_weight * s + cfg.tv_weight * tv_loss(x)
            loss.backward()
            return loss

        for _ in range(n_iter):
            if should_stop:
                should_stop()
            loss = float(opt.step(closure).detach())  # where this iteration started (line-search trials aside)
            if cfg.optimizer == "adam":
                with torch.no_grad():
                    x.clamp_(0, 1)
            done += 1
            if progress:
                progress(done, total, loss)
        # L-BFGS keeps a curvature history of x, so clamping between its steps would corrupt it: clamp once per level.
        image = x.detach().clamp(0, 1)
    assert image is not None
    out = (image[0].permute(1, 2, 0).cpu().numpy() * 255).round().clip(0, 255).astype(np.uint8)[:, :, ::-1]
    out = np.ascontiguousarray(out)
    if cfg.preserve_color:
        original = cv2.resize(content_bgr, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
        out = post.preserve_color(original, out)
    return out


def final_loss(content_bgr: np.ndarray, result_bgr: np.ndarray, style_bgr: np.ndarray, vgg_source: str) -> float:
    """Style distance of `result` to the painting at the result's scale (for tests and reports)."""
    vgg = load_vgg(vgg_source, upto="relu5_1")
    h, w = result_bgr.shape[:2]
    sh, sw = style_bgr.shape[:2]
    f = max(w, h) / max(sh, sw)
    style = cv2.resize(style_bgr, (round(sw * f), round(sh * f)), interpolation=cv2.INTER_AREA)
    with torch.no_grad():
        sg = {k: gram(v) for k, v in vgg(_tensor(style[:, :, ::-1], "cpu"), STYLE_LAYERS).items()}
        rg = {k: gram(v) for k, v in vgg(_tensor(result_bgr[:, :, ::-1], "cpu"), STYLE_LAYERS).items()}
    return float(style_distance(rg, sg).sum())
