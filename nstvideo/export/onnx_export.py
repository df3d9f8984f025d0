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
from onnx import TensorProto, helper, numpy_helper

from nstvideo.errors import ModelError
from nstvideo.export.nets import ContractWrapper, TransformNet
from nstvideo.pipeline.outputs import atomic_output

log = logging.getLogger("nstvideo.export")

FORMAT_VERSION = "1"
INPUT_NAME = "frames"
OUTPUT_NAME = "stylized"
OPSET = 17
REWRITE_NOTE = "subpixel output conv: the last conv as a stride-2 conv + DepthToSpace (same output, 3x faster on CPUs)"
# A non-square frame whose sides are not multiples of the stride: exercises padding and cropping in the graph.
PARITY_SHAPE = (1, 37, 54, 3)


def round_weights_to_fp16(net: torch.nn.Module) -> None:
    """Round float weights to fp16 precision in place, so parity is measured against what the file stores."""
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.half().float())


def _fp16_initialisers(model: onnx.ModelProto, min_elements: int = 16) -> onnx.ModelProto:
    """Store float initialisers as fp16 plus a Cast back to fp32: half the bytes, the graph still computes in fp32."""
    graph = model.graph
    keep, casts = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            keep.append(init)
            continue
        arr = numpy_helper.to_array(init)
        half = numpy_helper.from_array(arr.astype(np.float16), name=init.name + "__fp16")
        keep.append(half)
        cast = helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=init.name + "__cast")
        casts.append(cast)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model


def _fp32_initialisers(model: onnx.ModelProto) -> onnx.ModelProto:
    """Undo `_fp16_initialisers` (exactly: every fp16 value is an fp32 value), so graph passes see plain weights."""
    graph = model.graph
    halves = {i.name: i for i in graph.initializer if i.data_type == TensorProto.FLOAT16}
    casts = [n for n in graph.node if n.op_type == "Cast" and len(n.input) == 1 and n.input[0] in halves]
    for cast in casts:
        half = halves.pop(cast.input[0])
        graph.initializer.remove(half)
        graph.initializer.append(
            numpy_helper.from_array(numpy_helper.to_array(half).astype(np.float32), cast.output[0])
        )
        graph.node.remove(cast)
    return model


def _subpixel_conv(node: onnx.NodeProto, w: np.ndarray, bias: np.ndarray | None, s: int) -> tuple[list, list]:
    """Nodes and initialisers computing `node` (a stride-1, unpadded conv) as a stride-s conv + DepthToSpace."""
    cout, cin, kh, kw = w.shape
    x, p = node.input[0], f"{node.name or node.output[0]}/sp_"
    # channel (o, a, b) of the strided conv at (i, j) is the original channel o at (s*i + a, s*j + b)
    wide = np.zeros((cout, s, s, cin, kh + s - 1, kw + s - 1), np.float32)
    for a in range(s):
        for b in range(s):
            wide[:, a, b, :, a : a + kh, b : b + kw] = w
    consts = {
        "w": wide.reshape(cout * s * s, cin, kh + s - 1, kw + s - 1),
        "pads": np.array([0, 0, 0, 0, 0, 0, s - 1, s - 1], np.int64),  # these rows only ever meet zero weights
        "from": np.array([2], np.int64),  # H and W of the input's shape ...
        "to": np.array([4], np.int64),
        "k1": np.array([kh - 1, kw - 1], np.int64),  # ... less the kernel's reach: the original output's size
        "zero": np.array([0, 0], np.int64),
        "axes": np.array([2, 3], np.int64),
    }
    if bias is not None:
        consts["b"] = np.repeat(bias, s * s).astype(np.float32)
    inits = [numpy_helper.from_array(v, p + k) for k, v in consts.items()]

    def op(kind: str, inputs: list[str], out: str, **kw: object) -> onnx.NodeProto:
        return helper.make_node(kind, [i if i == x else p + i for i in inputs], [out], name=out, **kw)

    nodes = [
        op("Pad", [x, "pads"], p + "padded"),
        op("Conv", ["padded", "w", "b"] if bias is not None else ["padded", "w"], p + "conv", strides=[s, s]),
        op("DepthToSpace", ["conv"], p + "d2s", blocksize=s, mode="CRD"),
        op("Shape", [x], p + "shape"),
        op("Slice", ["shape", "from", "to"], p + "in_hw"),
        op("Sub", ["in_hw", "k1"], p + "out_hw"),
        op("Slice", ["d2s", "zero", "out_hw", "axes"], node.output[0]),  # cut what the padding added
    ]
    return nodes, inits


def subpixel_output_convs(model: onnx.ModelProto, block: int = 2) -> int:
    """Rewrite each large-kernel conv to at most 4 channels (the nets' last layer, 9x9 to RGB) as an equal stride-2
    conv to 4x the channels plus DepthToSpace. ONNX Runtime's CPU kernels work in blocks of 16 output channels, so a
    conv to 3 channels cost as much as one to 16 (28% of the lite net's time); rewritten, it runs 3x faster and the
    output is the same to float rounding. Weights must be plain fp32 initialisers. Returns how many were rewritten."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    done = 0
    for node in list(graph.node):
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        w = numpy_helper.to_array(inits[node.input[1]])
        plain = attrs.get("group", 1) == 1 and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
        plain = plain and all(v == 1 for v in [*attrs.get("strides", [1, 1]), *attrs.get("dilations", [1, 1])])
        bias_name = node.input[2] if len(node.input) > 2 else ""
        if w.shape[0] > 4 or min(w.shape[2:]) < 5 or not plain or any(attrs.get("pads", [0, 0, 0, 0])):
            continue
        if bias_name and bias_name not in inits:
            continue  # a computed bias: leave the conv alone
        has_bias = bool(bias_name)
        nodes, new_inits = _subpixel_conv(node, w, numpy_helper.to_array(inits[node.input[2]]) if has_bias else None,
                                          block)  # fmt: skip
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for i, new in enumerate(nodes):
            graph.node.insert(at + i, new)
        graph.initializer.extend(new_inits)
        done += 1
    used = {i for node in graph.node for i in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    return done


def rewrite_exported(model: onnx.ModelProto) -> int:
    """Apply `subpixel_output_convs` to an already exported file's graph (fp16-stored weights, as written by
    `export_onnx`), in place, noting it in the metadata; returns how many convs were rewritten (0: left as is)."""
    props = {p.key: p for p in model.metadata_props}
    if "nstvideo.graph_rewrites" in props:
        return 0
    done = subpixel_output_convs(_fp32_initialisers(model))
    _fp16_initialisers(model)
    if done:
        model.metadata_props.add(key="nstvideo.graph_rewrites", value=REWRITE_NOTE)
    return done


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
    rewrites = {"nstvideo.graph_rewrites": REWRITE_NOTE} if subpixel_output_convs(model) else {}
    model = _fp16_initialisers(model)
    meta = {"nstvideo.format_version": FORMAT_VERSION, "nstvideo.architecture": net.arch, **rewrites, **metadata}
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key if key.startswith("nstvideo.") else f"nstvideo.{key}", value=str(value))
    model.producer_name = "nstvideo"
    out = Path(out)
    if out.exists() and not overwrite:
        raise ModelError(f"{out} already exists", "pass --overwrite to replace it")
    with atomic_output(out) as tmp:
        onnx.save_model(model, str(tmp))
        diff = verify(tmp, wrapper)
    log.info("exported %s (%.1f MB), parity with PyTorch: max diff %d grey level%s", out, os.path.getsize(out) / 1e6,
             diff, "" if diff == 1 else "s")  # fmt: skip
    return diff
