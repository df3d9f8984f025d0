"""Style registry: bundled `trained_models/` plus user folders; every style's facts come from its ONNX metadata."""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from nstvideo.errors import ModelError, NstError, StyleNotFoundError, UsageError, one_line
from nstvideo.pipeline.sources import IMAGE_SUFFIXES

ENV_VAR = "NSTVIDEO_MODELS"
PREFIX = "nstvideo."
INPUT_NAME = "frames"
OUTPUT_NAME = "stylized"
SUPPORTED_FORMAT = "1"
DEFAULT_SIZE = 512
MIN_SIDE = 16  # the smallest frame side a style takes
MAX_SIDE = 4320  # 8K UHD's short side; beyond it a frame is gigabytes of activations


@dataclass(frozen=True)
class StyleModel:
    """One exported style: where it lives and what its metadata says."""

    name: str
    path: Path
    metadata: dict[str, str] = field(default_factory=dict, compare=False)
    bundled: bool = False

    def get(self, key: str, default: str = "") -> str:
        return self.metadata.get(PREFIX + key, default)

    @property
    def title(self) -> str:
        return self.get("title", self.name)

    @property
    def artist(self) -> str:
        return self.get("artist", "unknown")

    @property
    def architecture(self) -> str:
        return self.get("architecture", "unknown")

    @property
    def licence(self) -> str:
        return self.get("style_licence", "unknown")

    @property
    def recommended_size(self) -> int:
        """The file's size if it is one a frame can have (a file made by hand may say anything), else 512."""
        try:
            size = int(self.get("recommended_size", str(DEFAULT_SIZE)))
        except ValueError:
            return DEFAULT_SIZE
        return size if MIN_SIDE <= size <= MAX_SIDE else DEFAULT_SIZE


def _contract_problem(session) -> str | None:  # noqa: ANN001 - onnxruntime.InferenceSession
    """Everything that keeps the file from being a style, in one line (a user fixing one at a time would loop)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        problems.append(f"it must have one input named '{INPUT_NAME}', has {[i.name for i in inputs]}")
    if len(outputs) < 1 or outputs[0].name != OUTPUT_NAME:
        problems.append(f"its first output must be named '{OUTPUT_NAME}', has {[o.name for o in outputs]}")
    for what, arg in (("input", inputs[0] if inputs else None), ("output", outputs[0] if outputs else None)):
        if arg is None:
            continue
        if arg.type != "tensor(uint8)":
            problems.append(f"its {what} must be uint8, is {arg.type}")
        if len(arg.shape) != 4 or arg.shape[3] not in (3, "3"):
            problems.append(f"its {what} must be [N, H, W, 3] (BGR), is {arg.shape}")
        elif any(isinstance(d, int) for d in arg.shape[:3]):
            problems.append(f"its {what}'s batch and sides must be free (any frame size), are {arg.shape[:3]}")
    return "; ".join(problems) or None


@functools.lru_cache(maxsize=64)
def _read(path: str, mtime: float, bundled: bool) -> StyleModel:  # noqa: ARG001 - mtime keys the cache
    from nstvideo.pipeline.session import ort_module

    ort = ort_module()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 4
    hint = (
        "a style net made elsewhere: nstvideo import MODEL NEW.onnx (the train extra) makes it one; "
        "or remove it from the models folder"
    )
    try:
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        text = one_line(exc, 200)
        if "Unsupported model IR version" in text:  # a file written by a newer onnx than this runtime reads
            hint = "upgrade onnxruntime (pip install -U onnxruntime), or export the style for this one"
        raise ModelError(f"cannot load style model {path}: {text}", hint) from exc
    problem = _contract_problem(sess)
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    version = meta.get(PREFIX + "format_version")
    if problem is None and version is None:
        problem = "it has no nstvideo.format_version metadata (not an nstvideo style)"
    elif problem is None and version != SUPPORTED_FORMAT:
        raise ModelError(
            f"{path} is a style of format {version}; this nstvideo reads format {SUPPORTED_FORMAT}",
            "upgrade nstvideo (pip install -U nstvideo), or re-export the style with this version",
        )
    if problem:
        raise ModelError(f"{path} breaks the nstvideo model contract: {problem}", hint)
    name = meta.get(PREFIX + "style") or Path(path).stem
    return StyleModel(name=name, path=Path(path), metadata=meta, bundled=bundled)


def read_model(path: str | Path, bundled: bool = False) -> StyleModel:
    """Load a style's metadata, refusing files that break the contract."""
    p = Path(path)
    if not os.path.isfile(p):  # also a name too long to be one (is_file raises)
        raise StyleNotFoundError(f"style model {p} not found", "check the path, or run `nstvideo styles`")
    return _read(str(p.resolve()), p.stat().st_mtime, bundled)


def bundled_dir() -> Path:
    """The packaged trained_models folder (works installed, editable or from a checkout)."""
    return Path(str(resources.files("nstvideo.trained_models")))


def model_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Search order: --models-dir folders, then NSTVIDEO_MODELS, then the bundled styles."""
    dirs = [Path(d) for d in extra]
    dirs += [Path(d) for d in os.environ.get(ENV_VAR, "").split(os.pathsep) if d]
    seen: set[Path] = set()
    unique = []
    for d in [*dirs, bundled_dir()]:  # a folder named twice (or the bundled one in NSTVIDEO_MODELS) is read once
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def list_styles(models_dirs: Sequence[str | Path] = (), errors: list[str] | None = None) -> list[StyleModel]:
    """Every loadable style; a broken file is reported in `errors` (if given) rather than hiding the rest."""
    found: dict[str, StyleModel] = {}
    bundled = bundled_dir()
    for d in model_dirs(models_dirs):
        if not d.is_dir():
            if errors is not None and d != bundled:
                errors.append(f"models folder {d} does not exist")
            continue
        for path in sorted(d.glob("*.onnx")):
            try:
                model = read_model(path, bundled=d == bundled)
            except ModelError as exc:
                if errors is not None:
                    errors.append(exc.message)
                continue
            if model.name in found:  # earlier folders win; a hidden one is said, not lost without a word
                if errors is not None:
                    errors.append(f"style '{model.name}' in {path} is hidden by {found[model.name].path}")
                continue
            found[model.name] = model
    return sorted(found.values(), key=lambda m: m.name)


#: Styles people ask for by name (other tools ship them) that we trained but do not ship, and why.
NOT_BUNDLED = {
    "udnie": "its nets missed our quality bar (Gram ratio 0.545 at best, bar 0.5)",
    "great-wave": "its net of today's recipe missed our quality bar (0.530, bar 0.5)",
}
#: Well-known styles others publish as files `nstvideo import` takes: pytorch/examples fast_neural_style's.
ELSEWHERE = {"udnie": "pytorch/examples fast_neural_style's saved_models/udnie.pth"}


def resolve_style(style: str | Path, models_dirs: Sequence[str | Path] = ()) -> StyleModel:
    """A style name or a path to an .onnx file -> StyleModel, or an error naming the closest styles."""
    text = str(style)
    if Path(text).suffix.lower() in IMAGE_SUFFIXES:
        raise UsageError(
            f"--style takes a trained style (a name or an .onnx file); {text} is an image",
            f"for any painting use --style-image {text} (image, keyframe: one frame, slow), or train it: "
            f"nstvideo train --style-image {text} --name NAME --data PHOTOS/",
        )
    if text.endswith(".onnx") or os.sep in text or os.path.isfile(text):
        return read_model(text)
    styles = list_styles(models_dirs)
    for m in styles:
        if m.name == text:
            return m
    for m in styles:  # any case, before file names: MOSAIC and Mosaic find the same style on every filesystem
        if m.name.lower() == text.lower():
            return m
    # A file called NAME.onnx is that style too (its metadata may name it otherwise); a broken one says why.
    for d in model_dirs(models_dirs):
        if os.path.isfile(d / f"{text}.onnx"):  # no raise on a name too long to be a file
            return read_model(d / f"{text}.onnx", bundled=d == bundled_dir())
    names = [m.name for m in styles]
    if not names:
        raise StyleNotFoundError(
            f"unknown style '{text}': no styles are installed",
            "reinstall nstvideo to get the bundled styles, train one (`nstvideo train`), or pass --style PATH.onnx",
        )
    if text.lower() in NOT_BUNDLED:
        raise StyleNotFoundError(
            f"style '{text}' is not bundled: {NOT_BUNDLED[text.lower()]} (trained_models/MODEL_CARD.md)",
            (
                f"import {ELSEWHERE[text.lower()]}: nstvideo import udnie.pth {text.lower()}.onnx; "
                if text.lower() in ELSEWHERE
                else ""
            )
            + f"train it: nstvideo train --style-image PAINTING.jpg --name {text.lower()} --data PHOTOS/; or one frame "
            f"at a time: nstvideo keyframe IN OUT --style-image PAINTING.jpg; bundled: {', '.join(names)}",
        )
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.4)
    suggestion = f"did you mean {', '.join(close)}? " if close else ""
    missing = [str(d) for d in models_dirs if not Path(d).is_dir()]
    if missing:  # the likelier mistake: the folder the style is in was mistyped
        suggestion = f"--models-dir {missing[0]} does not exist; " + suggestion
    raise StyleNotFoundError(f"unknown style '{text}'", f"{suggestion}available: {', '.join(names)}")


def is_style_list(style: str) -> bool:
    """`--style a,b,c` or `--style all`: several styles (a path to one .onnx file is one, commas and all)."""
    return (style.strip().lower() == "all" or "," in style) and not os.path.isfile(style)  # no raise on long names


def resolve_styles(style: str, models_dirs: Sequence[str | Path] = ()) -> list[StyleModel]:
    """`--style` as a list — `mosaic,candy` or `all` (every installed style) — each resolved now, so an unknown
    name is refused before any work, naming the closest; in the order given, each once."""
    if not is_style_list(style):
        return [resolve_style(style, models_dirs)]
    if style.strip().lower() == "all":
        everything = list_styles(models_dirs)
        if not everything:
            resolve_style("all", models_dirs)  # raises: no styles installed, and what to do
        return everything
    models: list[StyleModel] = []
    for name in (n.strip() for n in style.split(",")):
        try:
            m = resolve_style(name, models_dirs) if name else None
        except NstError as exc:
            if not ("/" in name or os.sep in name) or name.endswith(".onnx"):
                raise  # not a path cut short by a comma
            # a path with a comma in it was split too: say so
            split = f"--style {style!r} was read as a list, split at its commas"
            raise type(exc)(exc.message, f"{exc.hint}; {split}" if exc.hint else split) from None
        if m is not None and m.path.resolve() not in {x.path.resolve() for x in models}:
            models.append(m)
    if not models:
        raise StyleNotFoundError(f"--style {style!r} names no style", "give names separated by commas, or all")
    return models
