"""Studio half: transform networks, the VGG-16 loss network, training, ONNX export and Gatys. Needs torch."""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by the no-torch test through the CLI
    from nstvideo.errors import MissingDependencyError

    raise MissingDependencyError(
        "PyTorch is not installed; training, export, import and keyframes need it",
        'install the studio extra: pip install "nstvideo[train]"',
    ) from exc
