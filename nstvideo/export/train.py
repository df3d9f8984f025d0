"""Training loop for transform networks: deterministic data per step, checkpoints, exact resume, previews, CSV log."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import random
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from nstvideo.entry import STOP_SIGNALS
from nstvideo.errors import InputError, OutputError, ProcessingError, UsageError
from nstvideo.export.losses import (
    MOTION_NOISE,
    STYLE_LAYERS,
    LossWeights,
    PerceptualLoss,
    move,
    random_motion,
    temporal_loss,
)
from nstvideo.export.nets import ARCHS, build_net
from nstvideo.export.vgg import load_vgg
from nstvideo.pipeline.engine import MAX_SIDE, MIN_SIDE
from nstvideo.pipeline.sources import IMAGE_SUFFIXES, is_hidden, read_painting, to_srgb

log = logging.getLogger("nstvideo.train")

MIN_IMAGES = 8
PRECISIONS = ("auto", "bf16", "fp32")


#: What --name may be: it names files (NAME.onnx, NAME.ckpt) and is typed after --style.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DEVICES = ("auto", "cpu", "cuda")


def check_recommended_size(size: int | None) -> None:
    """The short side a style is run at by default: it must be one the runtime accepts."""
    if size is not None and not MIN_SIDE <= size <= MAX_SIDE:
        raise UsageError(
            f"--recommended-size must be {MIN_SIDE}..{MAX_SIDE}, got {size}", "the short side it looks best at"
        )


def check_device(device: str) -> None:
    """train and keyframe run on PyTorch: auto, cpu or cuda."""
    if device not in DEVICES:
        raise UsageError(f"unknown --device {device!r}", f"choose one of: {', '.join(DEVICES)}")


def check_loss_weights(**weights: float) -> None:
    """Finite and not negative: a NaN weight trains (or optimises) to NaN without a word."""
    for name, value in weights.items():
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"--{name.replace('_', '-')} must be a number, 0 or more", "use 0 to switch a term off")


@dataclass
class TrainConfig:
    style_image: Path
    name: str
    data: Path
    out_dir: Path
    iterations: int = 2000
    batch_size: int = 4
    image_size: int = 256
    style_size: int | None = None
    content_weight: float = 1.0
    style_weight: float = 4.0
    tv_weight: float = 1.0
    temporal_weight: float = 0.0
    lr: float = 1e-3
    arch: str = "johnson"
    seed: int = 0
    device: str = "auto"
    vgg: str = "imagenet"
    precision: str = "auto"
    workers: int = 2
    checkpoint_every: int = 200
    preview_every: int = 200
    preview_images: list[Path] = field(default_factory=list)
    # title, artist, licence, source, recommended size: kept in the checkpoint so a later `nstvideo export` of it
    # does not forget the painting's provenance
    style_info: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not NAME.fullmatch(self.name):
            raise UsageError(
                f"--name {self.name!r} cannot name a style file",
                "use letters, digits, '-', '_' or '.', starting with a letter or digit, e.g. --name my-style",
            )
        check_device(self.device)
        if self.workers < 0:
            raise UsageError(f"--workers must be 0 or more, got {self.workers}", "0 loads data in the training process")
        check_recommended_size(self.style_info.get("recommended_size"))
        if self.arch not in ARCHS:
            raise UsageError(f"unknown --arch {self.arch!r}", f"choose one of: {', '.join(ARCHS)}")
        for name in ("iterations", "batch_size", "image_size", "checkpoint_every", "preview_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1", "give a positive integer")
        if self.image_size < 32:
            raise UsageError("--image-size must be at least 32", "256 is the usual value")
        if self.style_size is not None and self.style_size < 32:
            raise UsageError("--style-size must be at least 32", "leave it out to use the painting's own size")
        check_loss_weights(
            content_weight=self.content_weight, style_weight=self.style_weight, tv_weight=self.tv_weight,
            temporal_weight=self.temporal_weight,
        )  # fmt: skip
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown --precision {self.precision!r}", f"choose one of: {', '.join(PRECISIONS)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UsageError("--lr must be a positive number", "1e-3 is the usual value")
        check_seed(self.seed)


def check_seed(seed: int) -> None:
    """A seed the random generators take (they are 64-bit, and the data order adds to it)."""
    if not 0 <= seed < 2**32:
        raise UsageError(f"--seed must be 0 .. {2**32 - 1}, got {seed}", "e.g. --seed 1")


#: What a resumed run must share with its checkpoint, or the steps after the resume train another recipe than the
#: steps before it (the export would then describe neither). --iterations may grow; device and workers may change.
RECIPE = ("style_image", "data", "batch_size", "image_size", "style_size", "content_weight", "style_weight",
          "tv_weight", "temporal_weight", "lr", "seed", "vgg")  # fmt: skip


def recipe_changes(saved: dict[str, Any], cfg: TrainConfig) -> list[tuple[str, Any, Any]]:
    """(option, the checkpoint's value, this run's value) for each recipe option that differs."""
    changes = []
    for key in RECIPE:
        if key not in saved:
            continue  # a checkpoint from before that option existed
        was, now = saved[key], getattr(cfg, key)
        if key in ("style_image", "data") or (key == "vgg" and {was, now}.isdisjoint(("imagenet", "craft"))):
            same = Path(str(was)).resolve() == Path(str(now)).resolve()
        elif isinstance(now, float) or isinstance(was, float):
            same = was is not None and now is not None and math.isclose(float(was), float(now))
        else:
            same = was == now
        if not same:
            changes.append((key, was, now))
    return changes


STYLE_INFO = ("title", "artist", "style_licence", "style_source", "recommended_size")


def kept_style_info(saved: dict[str, Any] | None, given: dict[str, Any]) -> dict[str, Any]:
    """The painting's metadata: what this command was given, else what the checkpoint kept."""
    return dict(saved or {}) | {k: v for k, v in given.items() if v is not None}


def read_rgb(path: Path, what: str = "image") -> np.ndarray:
    """RGB uint8, or a one-line error naming the file."""
    if Path(path).is_dir():
        raise InputError(f"{what} {path} is a directory", "give one image file (jpg, png, webp or bmp)")
    if not Path(path).is_file():
        raise InputError(f"{what} {path} not found", "check the path")
    data = np.fromfile(str(path), dtype=np.uint8)
    if not data.size:
        raise InputError(f"{what} {path} is empty (0 bytes)", "the file may still be copying or was cut off")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise InputError(f"cannot read {what} {path}: not a supported image", "use a jpg, png, webp, bmp or tiff file")
    return cv2.cvtColor(to_srgb(Path(path), img, quiet=what == "training image"), cv2.COLOR_BGR2RGB)


def list_images(data: Path) -> list[Path]:
    if not Path(data).is_dir():
        raise InputError(f"training data directory {data} not found", "--data takes a folder of photos")
    files = sorted(  # folders linked in are followed (a photo library spread over drives)
        Path(root) / f
        for root, _dirs, names in os.walk(data, followlinks=True)
        for f in names
        if Path(f).suffix.lower() in IMAGE_SUFFIXES and not is_hidden(Path(f)) and (Path(root) / f).is_file()
    )
    if len(files) < MIN_IMAGES:
        raise InputError(
            f"training data directory {data} has {len(files)} image{'' if len(files) == 1 else 's'}; at least "
            f"{MIN_IMAGES} are needed",
            "point --data at a folder of photos (a few hundred or more for a good style)",
        )
    return files


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()


def _leave_signals_to_the_trainer(worker_id: int) -> None:  # noqa: ARG001
    """A terminal's Ctrl-C or `kill -- -PGID` reaches the loader's workers too; only the trainer decides to stop.

    The workers are born with the stop signals blocked (see `_workers_born_deaf`): PyTorch's own SIGTERM handler,
    installed before this runs, would otherwise let a signal in that window kill the worker.
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # pending ones are dropped: they are ignored now


@contextlib.contextmanager
def _workers_born_deaf() -> Iterator[None]:
    """Block the stop signals while the loader forks its workers; the trainer gets any that arrived meanwhile."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no fork, no signal masks
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class StepBatches(Dataset):
    """Batch `step` is a pure function of (seed, step), so resuming replays exactly the same data."""

    def __init__(self, files: list[Path], steps: range, batch_size: int, size: int, seed: int) -> None:
        self.files, self.steps, self.batch_size, self.size, self.seed = files, steps, batch_size, size, seed
        self.skipped: set[Path] = set()

    def __len__(self) -> int:
        return len(self.steps)

    def _read(self, j: int) -> np.ndarray:
        """Photo j, or if it cannot be read the next one that can: one corrupt file among thousands must not end
        a long run. The choice depends only on the files, so a resumed run still sees the same data."""
        for k in range(len(self.files)):
            path = self.files[(j + k) % len(self.files)]
            try:
                return read_rgb(path, "training image")
            except InputError as exc:
                if path not in self.skipped:
                    self.skipped.add(path)
                    log.warning("warning: skipping it: %s", exc.message)
        raise ProcessingError("none of the training photos can be read", "check the --data folder")

    def _crop(self, j: int, rng: np.random.Generator) -> torch.Tensor:
        img = self._read(j)
        h, w = img.shape[:2]
        scale = self.size / min(h, w)
        if scale > 1 or min(h, w) > 2 * self.size:  # keep crops at a consistent scale: short side 1-2x the crop
            target = self.size if scale > 1 else 2 * self.size
            f = target / min(h, w)
            img = cv2.resize(img, (max(self.size, round(w * f)), max(self.size, round(h * f))), cv2.INTER_AREA)
            h, w = img.shape[:2]
        y = int(rng.integers(0, h - self.size + 1))
        x = int(rng.integers(0, w - self.size + 1))
        crop = img[y : y + self.size, x : x + self.size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return to_tensor(crop)

    def __getitem__(self, i: int) -> torch.Tensor:
        step = self.steps[i]
        rng = np.random.default_rng([self.seed, step])
        idx = rng.choice(len(self.files), size=self.batch_size, replace=len(self.files) < self.batch_size)
        return torch.stack([self._crop(int(j), rng) for j in idx])


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from nstvideo.errors import DeviceUnavailableError

        raise DeviceUnavailableError("--device cuda: PyTorch sees no CUDA GPU", "use --device cpu, or a CUDA build")
    return torch.device(device)


def cpu_computes_bf16() -> bool:
    """Without AVX512-BF16 or AMX, bf16 on a CPU is emulated and slower than fp32."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def pick_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast where the hardware computes it natively (1.7x per step on an AVX512-BF16 CPU), else fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if device.type == "cpu" and cpu_computes_bf16() else None


def load_style_tensor(path: Path, style_size: int | None) -> torch.Tensor:
    img = cv2.cvtColor(read_painting(path), cv2.COLOR_BGR2RGB)  # as keyframe reads it: one painting, one palette
    if style_size:
        h, w = img.shape[:2]
        f = style_size / max(h, w)
        img = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return to_tensor(img).unsqueeze(0) / 255.0


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """A `nstvideo train` checkpoint, or a one-line error."""
    if not path.is_file():
        raise InputError(f"checkpoint {path} not found", "give the .ckpt written by `nstvideo train`")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:
        raise InputError(
            f"cannot read checkpoint {path}: {type(exc).__name__}", "is it a `nstvideo train` .ckpt?"
        ) from exc
    if not isinstance(state, dict) or "net" not in state or "config" not in state:
        raise InputError(f"{path} is not an nstvideo training checkpoint", "give the .ckpt written by `nstvideo train`")
    return state


def usable_images(files: list[Path], data: Path, probe: int = 16) -> None:
    """Refuse now a folder whose first photos all fail to decode (text files named .jpg, say), rather than in a
    loader worker after the loss network has loaded; single bad files later on are skipped as training runs."""
    reasons = []
    for path in files[:probe]:
        try:
            read_rgb(path, "training image")
            return
        except InputError as exc:
            reasons.append(exc.message)
    raise InputError(f"none of the first {len(reasons)} photos in {data} can be read ({reasons[0]})", "check --data")


def make_out_dir(out_dir: Path) -> Path:
    """Create the run's folder before any work, or refuse it (exit 2)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"cannot create --out-dir {out_dir}: {reason}", "choose a folder you can write to") from None
    if not os.access(out_dir, os.W_OK):
        raise OutputError(f"--out-dir {out_dir} is not writable", "choose a folder you can write to")
    return out_dir


class Trainer:
    """Owns the net, optimiser and loss; `run()` trains to `iterations`, checkpointing as it goes."""

    def __init__(self, cfg: TrainConfig, progress: Callable[[int, int, dict[str, float]], None] | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.files = list_images(cfg.data)
        usable_images(self.files, cfg.data)
        for photo in cfg.preview_images:
            read_rgb(photo, "preview image")
        self.device = pick_device(cfg.device)
        style = load_style_tensor(cfg.style_image, cfg.style_size)
        self.out_dir = make_out_dir(Path(cfg.out_dir))
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.net = build_net(cfg.arch).to(self.device)
        self.cuda = self.device.type == "cuda"
        self.autocast = pick_precision(cfg.precision, self.device)
        if self.cuda:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.vgg = load_vgg(cfg.vgg, upto=STYLE_LAYERS[-1], device=self.device)
        weights = LossWeights(cfg.content_weight, cfg.style_weight, cfg.tv_weight)  # temporal: _add_temporal
        self.loss = PerceptualLoss(self.vgg, style.to(self.device), weights)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.step = 0
        self.progress = progress
        self.saved_step: int | None = None  # the last checkpoint's step
        self.started = time.time()
        self.elapsed_before = 0.0
        self.stopped_by: int | None = None  # the signal that stopped the run, if one did

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / f"{self.cfg.name}.ckpt"

    def save_checkpoint(self) -> Path:
        state = {
            "step": self.step,
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.cfg).items()}
            | {"device_used": str(self.device), "data_count": len(self.files), "precision_used": self.precision_name},
            "rng_torch": torch.get_rng_state(),
            "rng_python": random.getstate(),
            "elapsed": self.elapsed(),
        }
        tmp = self.checkpoint_path.with_suffix(".ckpt.tmp")
        torch.save(state, tmp)
        tmp.replace(self.checkpoint_path)
        self.saved_step = self.step
        return self.checkpoint_path

    def resume(self, path: Path | None = None) -> None:
        path = Path(path or self.checkpoint_path)
        if not path.is_file():
            raise InputError(f"checkpoint {path} not found", "drop --resume to start fresh")
        state = load_checkpoint(path, self.device)
        arch = state["config"].get("arch")
        if arch != self.cfg.arch:
            raise UsageError(
                f"checkpoint {path} is of --arch {arch}, not {self.cfg.arch}",
                f"pass --arch {arch} to continue it, or another --name or --out-dir to start afresh",
            )
        if changes := recipe_changes(state["config"], self.cfg):
            flag = lambda key: "--" + key.replace("_", "-")  # noqa: E731
            raise UsageError(
                f"checkpoint {path} was trained with "
                + ", ".join(f"{flag(k)} {was}" for k, was, _ in changes)
                + "; this run asks for "
                + ", ".join(f"{flag(k)} {now}" for k, _, now in changes),
                "give the checkpoint's values to continue it ("
                + " ".join(f"{flag(k)} {was}" for k, was, _ in changes)
                + "), or another --name or --out-dir to start afresh",
            )
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng_torch"])
        random.setstate(state["rng_python"])
        self.elapsed_before = float(state.get("elapsed", 0.0))
        self.saved_step = self.step
        self.cfg.style_info = kept_style_info(state["config"].get("style_info"), self.cfg.style_info)
        log.info("resumed %s at step %d", path, self.step)

    @property
    def precision_name(self) -> str:
        return "bf16" if self.autocast is not None else "fp32"

    def elapsed(self) -> float:
        return self.elapsed_before + time.time() - self.started

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        x = batch.to(self.device, non_blocking=True)
        if self.cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            y = self.net(x)
            terms = self.loss(y.float() / 255.0, x / 255.0)
            if self.cfg.temporal_weight > 0:
                terms = self._add_temporal(x, y, terms)
        self.opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.opt.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in terms.items()}

    def _add_temporal(self, x: torch.Tensor, y: torch.Tensor, terms: dict[str, torch.Tensor]) -> dict:
        """Stylise a moved, noisier copy of the batch too, and ask for the moved stylised batch."""
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.step)  # a pure function of the step
        n, _, h, w = x.shape
        theta = random_motion(n, h, w, g)
        noise = torch.randn(x.shape, generator=g).to(x.device) * (MOTION_NOISE * 255)
        y2 = self.net((move(x, theta) + noise).clamp(0, 255))
        t = temporal_loss(y2.float() / 255.0, move(y.float() / 255.0, theta), theta)
        total = terms["total"] + self.cfg.temporal_weight * t
        return {**terms, "total": total, "temporal": t.detach()}

    def _on_signal(self, signum: int, frame: object) -> None:  # noqa: ARG002
        self.stopped_by = signum

    def run(self) -> Path:
        """Train until `iterations` (or a signal, which checkpoints and stops); returns the checkpoint."""
        cfg = self.cfg
        steps = range(self.step, cfg.iterations)
        data = StepBatches(self.files, steps, cfg.batch_size, cfg.image_size, cfg.seed)
        loader = DataLoader(
            data, batch_size=None, shuffle=False, num_workers=cfg.workers, pin_memory=self.cuda,
            worker_init_fn=_leave_signals_to_the_trainer,
        )  # fmt: skip
        csv_path = self.out_dir / f"{cfg.name}.losses.csv"
        new_csv = not csv_path.exists() or self.step == 0
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        self.net.train()
        diverged = False
        batches = None
        try:
            with open(csv_path, "w" if new_csv else "a", newline="") as fh:
                writer = csv.writer(fh)
                if new_csv:
                    writer.writerow(["step", "total", "content", "style", "tv", "temporal", "elapsed_s"])
                with _workers_born_deaf():
                    batches = iter(loader)  # starts the worker processes
                for batch in batches:
                    terms = self.train_step(batch)
                    if not math.isfinite(terms["total"]):
                        diverged = True
                        kept = (
                            f"the checkpoint of step {self.saved_step} is kept" if self.saved_step else "nothing kept"
                        )
                        raise ProcessingError(
                            f"training diverged: the loss became {terms['total']} at step {self.step} ({kept})",
                            "lower --lr or the loss weights, then --resume or start again",
                        )
                    if self.progress:
                        self.progress(self.step, cfg.iterations, terms)
                    if self.step % 10 == 0 or self.step == cfg.iterations:
                        row = [terms.get(k, 0.0) for k in ("total", "content", "style", "tv", "temporal")]
                        writer.writerow([self.step, *(f"{v:.5g}" for v in row), f"{self.elapsed():.1f}"])
                        fh.flush()
                    if self.step % cfg.checkpoint_every == 0:
                        self.save_checkpoint()
                    if self.step % cfg.preview_every == 0 and cfg.preview_images:
                        self.save_preview()
                    if self.stopped_by is not None:
                        log.warning("stopping at step %d on signal; checkpoint saved", self.step)
                        break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            # Workers ignore SIGTERM (see _leave_signals_to_the_trainer): they must be told to stop, or the exit
            # after an error waits for them forever.
            shutdown = getattr(batches, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
            if not diverged:  # NaN weights would replace the last good checkpoint
                self.save_checkpoint()
        return self.checkpoint_path

    @torch.no_grad()
    def stylize(self, rgb: np.ndarray) -> np.ndarray:
        """Stylise one RGB image with the current weights (for previews and evaluation)."""
        self.net.eval()
        h, w = rgb.shape[:2]
        x = to_tensor(rgb).unsqueeze(0).to(self.device)
        ph, pw = (-h) % 4, (-w) % 4
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
        y = self.net(x)[:, :, :h, :w].clamp(0, 255).round().byte()[0].permute(1, 2, 0).cpu().numpy()
        self.net.train()
        return y

    def save_preview(self) -> Path:
        tiles = []
        for p in self.cfg.preview_images:
            rgb = read_rgb(p, "preview image")
            f = 256 / min(rgb.shape[:2])
            rgb = cv2.resize(rgb, (round(rgb.shape[1] * f) // 4 * 4, round(rgb.shape[0] * f) // 4 * 4))
            rgb = rgb[:256, :384]
            tiles.append(np.concatenate([rgb, self.stylize(rgb)], axis=1))
        width = max(t.shape[1] for t in tiles)
        tiles = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0))) for t in tiles]
        path = self.out_dir / f"{self.cfg.name}.preview.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(tiles, axis=0), cv2.COLOR_RGB2BGR))
        return path


def recipe(cfg: TrainConfig) -> str:
    """The training recipe as JSON, for the model's metadata."""
    keys = ("iterations", "batch_size", "image_size", "style_size", "content_weight", "style_weight", "tv_weight",
            "temporal_weight", "lr", "seed")  # fmt: skip
    d = {k: getattr(cfg, k) for k in keys}
    d["optimizer"] = "adam"
    d["loss"] = "relative content (relu2_2) + relative Gram style (relu1_2,relu2_2,relu3_3,relu4_3) + tv"
    if cfg.temporal_weight > 0:
        d["loss"] += " + temporal (stylise(move(x) + noise) = move(stylise(x)))"
    return json.dumps(d, sort_keys=True)
