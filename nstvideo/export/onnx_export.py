"""Export a transform net to one self-contained ONNX file that obeys the model contract, then verify it."""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import torch

from nstvideo import __version__
from nstvideo.errors import ModelError
from nstvideo.export.graph_passes import NOTE, fp16_initialisers, subpixel_output_convs
from nstvideo.export.nets import ContractWrapper, TransformNet
from nstvideo.pipeline.outputs import atomic_output

log = logging.getLogger("nstvideo.export")

FORMAT_VERSION = "1"
INPUT_NAME = "frames"
OUTPUT_NAME = "stylized"
OPSET = 17
# A non-square frame whose sides are not multiples of the stride: exercises padding and cropping in the graph.
PARITY_SHAPE = (1, 37, 54, 3)


def painting_metadata(
    name: str, title: str | None, artist: str | None, style_licence: str | None, style_source: str | None
) -> dict[str, str]:
    """What a style file says about its painting, with the defaults `nstvideo styles` shows for what is not known."""
    return {
        "style": name,
        "title": title or name.replace("-", " ").replace("_", " ").title(),
        "artist": artist or "unknown",
        "style_source": style_source or "",
        "style_licence": style_licence or "unknown",
    }


def round_weights_to_fp16(net: torch.nn.Module) -> None:
    """Round float weights to fp16 precision in place, so parity is measured against what the file stores."""
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.half().float())


def _to_onnx(wrapper: ContractWrapper) -> onnx.ModelProto:
    sample = torch.zeros(1, 64, 64, 3, dtype=torch.uint8)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (sample,),
            buf,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N", 1: "H", 2: "W"}, OUTPUT_NAME: {0: "N", 1: "H", 2: "W"}},
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buf.getvalue())
    # The exporter cannot always prove the channel count through slices; the contract states it.
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims, ("N", "H", "W"), strict=False):
            dim.dim_param = name
        dims[3].ClearField("dim_param")
        dims[3].dim_value = 3
    return model


def verify(path: Path, wrapper: ContractWrapper, shape: tuple[int, int, int, int] = PARITY_SHAPE) -> int:
    """onnx.checker, then ORT output vs PyTorch on one frame; returns the max abs difference in grey levels."""
    import onnxruntime as ort

    onnx.checker.check_model(str(path), full_check=True)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=shape, dtype=np.uint8)
    # Smooth content, like a photo, so rounding ties are rare and the check measures the graph, not noise.
    frame = np.ascontiguousarray(np.clip(np.cumsum(frame.astype(np.int32), axis=2) // 16, 0, 255).astype(np.uint8))
    with torch.no_grad():
        expected = wrapper(torch.from_numpy(frame)).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run([OUTPUT_NAME], {INPUT_NAME: frame})[0]
    if got.shape != expected.shape or got.dtype != np.uint8:
        raise ModelError(f"exported model returned {got.dtype} {got.shape}, expected uint8 {expected.shape}")
    diff = int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max())
    if diff > 1:
        raise ModelError(f"ONNX Runtime and PyTorch differ by {diff} grey levels (allowed: 1)", "report this as a bug")
    return diff


def export_onnx(net: TransformNet, out: Path, metadata: Mapping[str, str], overwrite: bool = False) -> int:
    """Write `out` (fp16-stored weights, metadata inside) and verify it; returns the parity difference."""
    net = net.cpu().float().eval()
    round_weights_to_fp16(net)
    wrapper = ContractWrapper(net).eval()
    model = _to_onnx(wrapper)
    rewrites = {"nstvideo.graph_rewrites": NOTE} if subpixel_output_convs(model) else {}  # before fp16 storage
    model = fp16_initialisers(model)
    meta = {"nstvideo.format_version": FORMAT_VERSION, "nstvideo.architecture": net.arch, **rewrites, **metadata}
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key if key.startswith("nstvideo.") else f"nstvideo.{key}", value=str(value))
    model.producer_name, model.producer_version = "nstvideo", __version__  # torch's exporter put its own
    out = Path(out)
    if out.exists() and not overwrite:
        raise ModelError(f"{out} already exists", "pass --overwrite to replace it")
    with atomic_output(out) as tmp:
        onnx.save_model(model, str(tmp))
        diff = verify(tmp, wrapper)
    log.info("exported %s (%.1f MB), parity with PyTorch: max diff %d grey level%s", out, os.path.getsize(out) / 1e6,
             diff, "" if diff == 1 else "s")  # fmt: skip
    return diff
