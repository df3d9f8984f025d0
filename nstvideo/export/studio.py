"""What the `train` and `export` commands do: glue between Trainer, the checkpoint and the ONNX exporter."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import torch

from nstvideo.errors import InputError, Interrupted, OutputError, UsageError
from nstvideo.export.nets import build_net
from nstvideo.export.onnx_export import export_onnx, painting_metadata
from nstvideo.export.train import (
    NAME,
    RECIPE,
    STYLE_INFO,
    TrainConfig,
    Trainer,
    check_recommended_size,
    kept_style_info,
    load_checkpoint,
    recipe,
)
from nstvideo.export.vgg import describe_loss_network
from nstvideo.pipeline.outputs import check_output
from nstvideo.pipeline.runner import ProgressReporter

log = logging.getLogger("nstvideo")


def style_metadata(
    cfg: dict[str, Any],
    *,
    name: str,
    title: str | None,
    artist: str | None,
    style_licence: str | None,
    style_source: str | None,
    recommended_size: int | None,
    steps: int,
    elapsed: float,
    device: str,
) -> dict[str, str]:
    """Everything about a style travels inside its file (timm's habit): nothing about it lives in code."""
    image_size = int(cfg["image_size"])
    loss_network, loss_network_weights = describe_loss_network(str(cfg["vgg"]))
    return {
        **painting_metadata(name, title, artist, style_licence, style_source),
        "style_image": Path(str(cfg["style_image"])).name,
        "loss_network": loss_network,
        "loss_network_weights": loss_network_weights,
        # the steps it ran, not the target: a run stopped early (Ctrl-C, a time budget) is exported as it is
        "recipe": recipe(
            TrainConfig(**{k: cfg[k] for k in TrainConfig.__dataclass_fields__ if k in cfg} | {"iterations": steps})
        ),
        "iterations": str(steps),
        "image_size": str(image_size),
        "data": f"{cfg.get('data_count', '?')} photos from {Path(str(cfg['data'])).name}",
        "trained_on": device,
        "precision": str(cfg.get("precision_used", "unknown")),
        "train_seconds": f"{elapsed:.0f}",
        "recommended_size": str(recommended_size or max(256, 2 * image_size)),
        "exported": dt.date.today().isoformat(),
    }


def export_checkpoint(
    checkpoint: Path,
    out: Path,
    name: str | None = None,
    title: str | None = None,
    artist: str | None = None,
    style_licence: str | None = None,
    style_source: str | None = None,
    recommended_size: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Checkpoint -> verified ONNX with metadata: what is given here, else what `nstvideo train` was told."""
    check_recommended_size(recommended_size)
    if name is not None and not NAME.fullmatch(name):
        raise UsageError(f"--name {name!r} cannot name a style", "use letters, digits, '-', '_' or '.'")
    state = load_checkpoint(Path(checkpoint))
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise OutputError(f"output {out} must end in .onnx", "e.g. mystyle.onnx")
    check_output(None, out, overwrite)
    cfg = state["config"]
    net = build_net(cfg["arch"])
    net.load_state_dict(state["net"])
    if not all(torch.isfinite(t).all() for t in net.state_dict().values()):
        raise InputError(
            f"checkpoint {checkpoint} holds non-finite weights (its training diverged)",
            "train again with a lower --lr or smaller loss weights",
        )
    info = kept_style_info(  # checkpoints from before it was kept have none
        cfg.get("style_info"), {"title": title, "artist": artist, "style_licence": style_licence,
                                "style_source": style_source, "recommended_size": recommended_size},
    )  # fmt: skip
    meta = style_metadata(
        cfg, name=name or cfg["name"], **{k: info.get(k) for k in STYLE_INFO}, steps=int(state["step"]),
        elapsed=float(state.get("elapsed", 0.0)), device=str(cfg.get("device_used", cfg.get("device", "?"))),
    )  # fmt: skip
    export_onnx(net, out, meta, overwrite=overwrite)  # logs the file, its size and the parity it checked
    return out


def train_style(**kw: Any) -> Path:
    """Train (or resume), then export NAME.onnx into the output folder."""
    out_dir = Path(kw.pop("out_dir") or Path("runs") / kw["name"])
    resume, overwrite = kw.pop("resume"), kw.pop("overwrite", False)
    given = kw.pop("given", None)
    given = set(kw) if given is None else set(given)  # called from Python: every value counts as chosen
    if resume and overwrite:
        raise UsageError("--resume continues a run, --overwrite starts it again: give one", "drop one of them")
    existing = [p for p in (out_dir / f"{kw['name']}.ckpt", out_dir / f"{kw['name']}.onnx") if p.is_file()]
    if not resume and not overwrite and existing:  # a missing --resume must not cost a long run
        raise OutputError(
            f"{out_dir} already holds a run of {kw['name']} ({existing[0].name})",
            "add --resume to continue it, --overwrite to start it again, or give another --name or --out-dir",
        )
    checkpoint = out_dir / f"{kw['name']}.ckpt"
    if resume and checkpoint.is_file():
        saved = load_checkpoint(checkpoint)["config"]
        taken = [k for k in (*RECIPE, "arch") if k not in given and k in saved and saved[k] != kw.get(k)]
        for key in taken:
            kw[key] = Path(saved[key]) if key in ("style_image", "data") else saved[key]
        if taken:
            log.info("resuming with the checkpoint's %s", ", ".join(f"--{k.replace('_', '-')} {kw[k]}" for k in taken))
    kw["style_info"] = {k: kw.pop(k) for k in STYLE_INFO}
    kw["preview_images"] = kw.pop("preview") or []
    kw["preview_every"] = kw["checkpoint_every"]
    cfg = TrainConfig(out_dir=out_dir, **kw)
    bar: ProgressReporter | None = None

    def progress(step: int, total: int, terms: dict[str, float]) -> None:
        nonlocal bar
        if bar is None:  # after a resume, rate and ETA count only this run's steps
            title = f"training {cfg.name}" + (f" (from step {start})" if start else "")
            bar = ProgressReporter(title, total - start, unit="steps", interval=30)
        bar.update(step - start)
        if step % 50 == 0:
            log.debug("step %d: %s", step, {k: round(v, 4) for k, v in terms.items()})

    trainer = Trainer(cfg, progress)
    if resume:
        trainer.resume()
        if trainer.step >= cfg.iterations:
            log.info("note: the checkpoint is at step %d, --iterations is %d: nothing to train; exporting it",
                     trainer.step, cfg.iterations)  # fmt: skip
    start = trainer.step
    log.info(
        "training %s on %s (%s): %d photos, %d steps",
        cfg.name, trainer.device, trainer.precision_name, len(trainer.files), cfg.iterations,
    )  # fmt: skip
    try:
        ckpt = trainer.run()
    finally:
        if bar is not None:
            bar.close()
    if trainer.stopped_by is not None and trainer.step < cfg.iterations:
        raise Interrupted(  # exit 130/143 as everywhere, but nothing is lost here
            trainer.stopped_by,
            f"stopped at step {trainer.step} of {cfg.iterations}; checkpoint saved to {ckpt}: add --resume to continue",
        )
    out = out_dir / f"{cfg.name}.onnx"
    export_checkpoint(ckpt, out, name=cfg.name, overwrite=True)  # the painting's metadata is in the checkpoint
    return out
