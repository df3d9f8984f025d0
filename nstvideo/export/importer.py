"""`nstvideo import`: adopt a style net made elsewhere — the ONNX model zoo's, pytorch/examples' fast_neural_style
(`.pth`), or any image-to-image ONNX net — by wrapping it in the model contract. The conversions (uint8 BGR NHWC
to the net's layout, colour order and value range, padding to the sizes it can take) live in the graph, so they run
where the net runs; the result is checked against the original net before it is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nstvideo import __version__
from nstvideo.errors import InputError, MissingDependencyError, ModelError, UsageError, one_line

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    raise MissingDependencyError(
        "the onnx package is not installed; nstvideo import needs it",
        'install the studio extra: pip install "nstvideo[train]"',
    ) from None
from nstvideo.export.graph_passes import NOTE, subpixel_output_convs
from nstvideo.export.onnx_export import FORMAT_VERSION, INPUT_NAME, OUTPUT_NAME, painting_metadata
from nstvideo.pipeline.engine import MIN_SIDE
from nstvideo.pipeline.outputs import atomic_output, check_output
from nstvideo.pipeline.sources import IMAGE_SUFFIXES

log = logging.getLogger("nstvideo")

#: The value ranges a net may expect; images are 0..255 in the contract.
RANGES = {"0-255": (1.0, 0.0), "0-1": (1 / 255, 0.0), "-1-1": (1 / 127.5, -1.0)}  # x * scale + offset
COLOURS = ("auto", "rgb", "bgr")
LAYOUTS = ("auto", "nchw", "nhwc")
OPSET = 17  # what the wrapper's ops need at least 11 for (Pad, Clip and Slice taking inputs, Round)
MULTIPLES = (1, 2, 4, 8, 16, 32)
PARITY_SHAPE = (2, 37, 54, 3)  # two frames, sides that are no multiple of anything
_P = "nstvideo_import"  # the wrapper's names: _free_prefix() makes them unique in the net's graph
_FLOATS = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16, TensorProto.DOUBLE: np.float64}


@dataclass(frozen=True)
class Conventions:
    """How the net takes and gives images (the same both ways: every style net we know of works so)."""

    channels_first: bool
    colour: str  # "rgb" or "bgr"
    value_range: str  # a key of RANGES
    dtype: int  # the net's input element type (TensorProto)

    def describe(self) -> str:
        kind = {TensorProto.UINT8: "uint8", TensorProto.FLOAT16: "float16"}.get(self.dtype, "float")
        return f"{'NCHW' if self.channels_first else 'NHWC'} {kind} {self.colour.upper()} {self.value_range}"


# -- pytorch/examples' fast_neural_style ---------------------------------------------------------------------------


def _examples_net():  # noqa: ANN202 - a torch module; torch is imported only for .pth files
    """pytorch/examples fast_neural_style's TransformerNet, with its parameter names, so its saved
    `.pth`/`.model` state dicts load as they are."""
    import torch
    from torch import nn

    class ConvLayer(nn.Module):
        def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
            super().__init__()
            self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
            self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv2d(self.reflection_pad(x))

    class ResidualBlock(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv1 = ConvLayer(channels, channels, 3, 1)
            self.in1 = nn.InstanceNorm2d(channels, affine=True)
            self.conv2 = ConvLayer(channels, channels, 3, 1)
            self.in2 = nn.InstanceNorm2d(channels, affine=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.in2(self.conv2(torch.relu(self.in1(self.conv1(x)))))

    class UpsampleConvLayer(ConvLayer):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(nn.functional.interpolate(x, mode="nearest", scale_factor=2))

    class TransformerNet(nn.Module):
        """RGB float 0..255 NCHW in and out (their stylize() clamps the output to 0..255)."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.in1 = ConvLayer(3, 32, 9, 1), nn.InstanceNorm2d(32, affine=True)
            self.conv2, self.in2 = ConvLayer(32, 64, 3, 2), nn.InstanceNorm2d(64, affine=True)
            self.conv3, self.in3 = ConvLayer(64, 128, 3, 2), nn.InstanceNorm2d(128, affine=True)
            for i in range(1, 6):
                setattr(self, f"res{i}", ResidualBlock(128))
            self.deconv1, self.in4 = UpsampleConvLayer(128, 64, 3, 1), nn.InstanceNorm2d(64, affine=True)
            self.deconv2, self.in5 = UpsampleConvLayer(64, 32, 3, 1), nn.InstanceNorm2d(32, affine=True)
            self.deconv3 = ConvLayer(32, 3, 9, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.in1(self.conv1(x)))
            y = torch.relu(self.in2(self.conv2(y)))
            y = torch.relu(self.in3(self.conv3(y)))
            for i in range(1, 6):
                y = getattr(self, f"res{i}")(y)
            y = torch.relu(self.in4(self.deconv1(y)))
            y = torch.relu(self.in5(self.deconv2(y)))
            return self.deconv3(y)

    return TransformerNet()


def _from_pth(path: Path) -> onnx.ModelProto:
    """A pytorch/examples state dict as an ONNX float graph (checked against PyTorch on one frame)."""
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(
            f"{path.name} is a PyTorch file; reading it needs PyTorch", 'pip install "nstvideo[train]"'
        ) from None
    import io
    import warnings

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        if "Weights only load failed" in str(exc):
            raise InputError(
                f"{path} holds a whole pickled model, not a state dict (reading it would run code from the file)",
                "where you trust it: net = torch.load(path, weights_only=False); "
                "torch.save(net.state_dict(), 'net.pth'), then import net.pth",
            ) from None
        first = one_line(exc)
        raise InputError(
            f"cannot read {path} as a PyTorch state dict: {first}",
            "give a fast_neural_style .pth/.model (a state dict, as pytorch/examples saves: "
            "torch.save(net.state_dict(), path)), or an .onnx file",
        ) from None
    if isinstance(state, dict) and "net" in state and "config" in state:
        raise InputError(
            f"{path} is an nstvideo training checkpoint, not a style net made elsewhere",
            f"export it: nstvideo export {path} OUT.onnx",
        )
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path} holds no state dict of tensors", "give a fast_neural_style .pth/.model file")
    # Files saved by old PyTorch carry InstanceNorm running stats, which the net does not use (as their stylize()).
    state = {k: v for k, v in state.items() if not re.search(r"in\d+\.running_(mean|var)$", k)}
    net = _examples_net().eval()
    wanted = net.state_dict()
    missing, unexpected = sorted(wanted.keys() - state.keys()), sorted(state.keys() - wanted.keys())
    if missing or unexpected:
        raise InputError(
            f"{path} is not a pytorch/examples fast_neural_style TransformerNet "
            f"({'missing' if missing else 'unexpected'} weights: {', '.join((missing or unexpected)[:3])})",
            "other PyTorch nets: export them to ONNX (torch.onnx.export) and import the .onnx",
        )
    # checked before loading: load_state_dict raises its own multi-line error on a shape it does not expect
    if any(v.shape != wanted[k].shape for k, v in state.items()):
        raise InputError(f"{path}'s weights have other shapes than TransformerNet's", "is it a fast_neural_style net?")
    net.load_state_dict(state)
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise InputError(f"{path} holds non-finite weights", "the net's training diverged; use another file")
    sample = torch.rand(1, 3, 64, 64) * 255
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (sample,), buf, input_names=["input"], output_names=["output"], opset_version=OPSET, dynamo=False,
            dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H", 3: "W"}},
        )  # fmt: skip
    model = onnx.load_from_string(buf.getvalue())
    x = (np.random.default_rng(0).random((1, 3, 40, 52)) * 255).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    got = _session(model).run(None, {"input": x})[0]
    diff = float(np.abs(got - expected).max())
    if diff > 0.05:
        raise ModelError(f"the ONNX form of {path.name} differs from PyTorch by {diff:.3g}", "report this as a bug")
    return model


# -- any ONNX net --------------------------------------------------------------------------------------------------


def _session(model: onnx.ModelProto):  # noqa: ANN202 - onnxruntime.InferenceSession
    from nstvideo.pipeline.session import ort_module

    ort = ort_module()  # says which runtime to install when there is none
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _load_onnx(path: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:
        first = one_line(exc)
        raise InputError(f"cannot read {path} as an ONNX model: {first}", "check the file") from None
    return model


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in value.type.tensor_type.shape.dim]


def _graph_io(model: onnx.ModelProto, path: Path) -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    """The net's one image input and its image output, or an error saying why it is not a style net."""
    g = model.graph
    weights = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in weights]  # old files list their weights as inputs too
    if len(inputs) != 1:
        raise InputError(
            f"{path} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); a style net takes one image",
            "export the net with its image as the only input (fix the others as constants)",
        )
    if len(g.output) != 1:
        raise InputError(
            f"{path} has {len(g.output)} outputs ({', '.join(o.name for o in g.output)}); a style net gives one image",
            "export the net with its stylised image as the only output",
        )
    return inputs[0], g.output[0]


def _conventions(
    inp: onnx.ValueInfoProto, out: onnx.ValueInfoProto, path: Path, layout: str, colour: str, value_range: str
) -> Conventions:
    dims, out_dims = _dims(inp), _dims(out)
    dtype = inp.type.tensor_type.elem_type
    if dtype not in (*_FLOATS, TensorProto.UINT8):
        raise InputError(f"{path}'s input is {TensorProto.DataType.Name(dtype).lower()}", "a style net takes floats")
    if len(dims) != 4:
        raise InputError(f"{path}'s input has shape {dims}; an image batch has four sides", "e.g. [N, 3, H, W]")
    if layout == "auto":
        first, last = dims[1] == 3, dims[3] == 3
        if first == last:
            raise UsageError(
                f"cannot tell where {path}'s input keeps its colour channels (shape {dims})",
                "say so: --layout nchw ([N, 3, H, W]) or --layout nhwc ([N, H, W, 3])",
            )
        layout = "nchw" if first else "nhwc"
    channels_first = layout == "nchw"
    axis = 1 if channels_first else 3
    for what, shape in (("input", dims), ("output", out_dims)):
        if len(shape) == 4 and shape[axis] not in (3, "?") and not isinstance(shape[axis], str):
            raise InputError(
                f"{path}'s {what} has {shape[axis]} channels where {layout.upper()} keeps them (shape {shape})",
                "a style net takes and gives 3 colours; check --layout",
            )
    if dtype == TensorProto.UINT8 and value_range != "0-255":
        raise UsageError(f"{path} takes uint8 images, which are 0-255", "leave out --range")
    if colour == "auto":  # a net already in our layout (a contract model without its metadata) works in BGR
        colour = "bgr" if inp.name == INPUT_NAME and dtype == TensorProto.UINT8 and not channels_first else "rgb"
    return Conventions(channels_first, colour, value_range, dtype)


def _make_dynamic(model: onnx.ModelProto, inp: onnx.ValueInfoProto, out: onnx.ValueInfoProto, conv: Conventions):
    """Batch and sides become free: fully convolutional nets (all style nets we know) run at any size."""
    axes = (0, 2, 3) if conv.channels_first else (0, 1, 2)
    for value in (inp, out):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            for axis, name in zip(axes, ("N", "H", "W"), strict=True):
                dims[axis].ClearField("dim_value")
                dims[axis].dim_param = name
    del model.graph.value_info[:]  # shapes inferred for the old fixed size would contradict the new ones


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in (*graph.input, *graph.output):
        if value.name == old:
            value.name = new


def _upgrade(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    if version >= 13:
        return model
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, OPSET)
    except Exception as exc:
        first = one_line(exc)
        raise ModelError(
            f"cannot bring {path}'s opset {version} graph to opset {OPSET}: {first}",
            "re-export the net with a newer opset (torch.onnx.export(..., opset_version=17))",
        ) from None


def _run(session, name: str, x: np.ndarray) -> np.ndarray | str:  # noqa: ANN001
    """The net's output, or why it failed (one line)."""
    try:
        return session.run(None, {name: x})[0]
    except Exception as exc:
        return one_line(exc, 120)


def _grey(conv: Conventions, n: int, h: int, w: int) -> np.ndarray:
    """A mid-grey batch in the net's own layout and type."""
    shape = (n, 3, h, w) if conv.channels_first else (n, h, w, 3)
    scale, offset = RANGES[conv.value_range]
    return np.full(shape, 128 * scale + offset, _FLOATS.get(conv.dtype, np.uint8))


def _side_multiple(session, name: str, conv: Conventions, path: Path, fixed: str) -> int:  # noqa: ANN001
    """The smallest k such that frames whose sides are multiples of k come out at their own size (2 downsamplings
    by 2 and 2 upsamplings: 4). The wrapper pads each frame up to it and crops the result."""
    tried = []
    for k in MULTIPLES:
        h, w = 64 + k, 64 + 3 * k  # multiples of k but not of 2k: a larger k would be needed for them otherwise
        x = _grey(conv, 2, h, w)
        got = _run(session, name, x)
        if isinstance(got, str):
            tried.append(f"{w}x{h}: {got.split(' Status Message:')[0]}")
            continue
        if got.shape == x.shape:
            side = k * -(-MIN_SIDE // k)
            tiny = _run(session, name, _grey(conv, 1, side, side))
            if isinstance(tiny, str):
                raise ModelError(
                    f"{path} fails on a {side}x{side} frame ({tiny})", "nstvideo styles take any frame from 16 px"
                )
            return k
        tried.append(f"{w}x{h} gave {list(got.shape)}")
    if fixed:
        raise ModelError(
            f"{path}'s graph runs at {fixed} only (at {tried[0]})",
            "export the net with free sizes (torch.onnx.export(..., dynamic_axes=...)): style nets take any frame",
        )
    raise ModelError(
        f"{path} does not give back an image of its input's size at any size or batch ({tried[0]}; {tried[-1]})",
        "a style net must be fully convolutional (image in, image of the same size out)",
    )


def _free_prefix(model: onnx.ModelProto) -> str:
    """A name prefix no node, tensor or weight of the net uses (a net wrapped before has ours already)."""
    g = model.graph
    names = {n for node in g.node for n in (node.name, *node.input, *node.output)}
    names |= {t.name for t in g.initializer} | {v.name for v in (*g.input, *g.output, *g.value_info)}
    n = 1
    while any(name.startswith(f"{_P}{n if n > 1 else ''}/") for name in names):
        n += 1
    return f"{_P}{n if n > 1 else ''}/"


def _wrap(model: onnx.ModelProto, inp: str, out: str, conv: Conventions, k: int, prefix: str) -> onnx.ModelProto:
    """Contract in and out around the net: uint8 BGR [N, H, W, 3] -> net -> the same, everything in the graph."""
    nodes, weights = [], []

    def const(name: str, value: object, dtype: type = np.int64) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value, dtype), prefix + name))
        return prefix + name

    def op(kind: str, args: list[str], name: str, **attrs: object) -> str:
        nodes.append(helper.make_node(kind, args, [prefix + name], name=prefix + name, **attrs))
        return prefix + name

    x = op("Cast", [INPUT_NAME], "float", to=TensorProto.FLOAT)
    hw = op("Slice", [op("Shape", [INPUT_NAME], "shape"), const("one", [1]), const("three", [3])], "hw")
    if conv.colour == "rgb":
        x = op("Gather", [x, const("flip", [2, 1, 0])], "rgb", axis=3)
    if k > 1:  # edge padding to the net's side multiple (bottom and right); cropped off again below
        kk = const("k", [k])
        pad = op("Mod", [op("Sub", [kk, op("Mod", [hw, kk], "rest")], "short"), kk], "pad")
        pads = op("Concat", [const("zeros5", [0] * 5), pad, const("zero", [0])], "pads", axis=0)
        x = op("Pad", [x, pads], "padded", mode="edge")
    if conv.channels_first:
        x = op("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    scale, offset = RANGES[conv.value_range]
    if scale != 1.0:
        scaled = op("Mul", [x, const("scale", scale, np.float32)], "scaled")
        x = op("Add", [scaled, const("offset", offset, np.float32)], "ranged")
    nodes.append(helper.make_node("Cast", [x], [inp], name=prefix + "to_net", to=conv.dtype))  # uint8 nets: exact
    before = len(nodes)
    y = op("Cast", [out], "net_float", to=TensorProto.FLOAT)
    if scale != 1.0:
        unshifted = op("Sub", [y, const("offset_back", offset, np.float32)], "unshifted")
        y = op("Mul", [unshifted, const("scale_back", 1 / scale, np.float32)], "unscaled")
    if conv.channels_first:
        y = op("Transpose", [y], "nhwc", perm=[0, 2, 3, 1])
    if k > 1:
        y = op("Slice", [y, const("zeros2", [0, 0]), hw, const("axes", [1, 2])], "cropped")
    if conv.colour == "rgb":
        y = op("Gather", [y, const("flip_back", [2, 1, 0])], "bgr", axis=3)
    y = op("Clip", [y, const("lo", 0.0, np.float32), const("hi", 255.0, np.float32)], "clipped")
    nodes.append(helper.make_node("Cast", [op("Round", [y], "rounded")], [OUTPUT_NAME], name=prefix + "uint8",
                                  to=TensorProto.UINT8))  # fmt: skip

    g = model.graph
    net_nodes = list(g.node)
    del g.node[:]
    g.node.extend([*nodes[:before], *net_nodes, *nodes[before:]])  # in the order they run
    g.initializer.extend(weights)
    weights_names = {t.name for t in g.initializer}
    kept_inputs = [i for i in g.input if i.name in weights_names]  # old files list weights as inputs: keep those
    del g.input[:]
    g.input.extend([helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", "H", "W", 3]), *kept_inputs])
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.UINT8, ["N", "H", "W", 3])])
    return model


def _reference(session, name: str, frames: np.ndarray, conv: Conventions, k: int) -> np.ndarray:  # noqa: ANN001
    """What the wrapped net must give, computed outside the graph with NumPy around the original net."""
    n, h, w, _ = frames.shape
    x = frames.astype(np.float32)
    if conv.colour == "rgb":
        x = x[..., ::-1]
    x = np.pad(x, ((0, 0), (0, -h % k), (0, -w % k), (0, 0)), mode="edge")
    if conv.channels_first:
        x = x.transpose(0, 3, 1, 2)
    scale, offset = RANGES[conv.value_range]
    x = x * np.float32(scale) + np.float32(offset)
    y = session.run(None, {name: np.ascontiguousarray(x.astype(_FLOATS.get(conv.dtype, np.uint8)))})[0]
    y = (y.astype(np.float32) - np.float32(offset)) / np.float32(scale)
    if conv.channels_first:
        y = y.transpose(0, 2, 3, 1)
    y = y[:, :h, :w]
    if conv.colour == "rgb":
        y = y[..., ::-1]
    return np.round(np.clip(y, 0, 255)).astype(np.uint8)


def import_model(
    source: Path,
    out: Path,
    *,
    name: str | None = None,
    title: str | None = None,
    artist: str | None = None,
    style_licence: str | None = None,
    style_source: str | None = None,
    recommended_size: int | None = None,
    layout: str = "auto",
    colour: str = "auto",
    value_range: str = "0-255",
    overwrite: bool = False,
) -> Path:
    """Wrap `source` in the model contract, check it against the original on two frames, write `out`."""
    from nstvideo.export.train import NAME, check_recommended_size

    source, out = Path(source), Path(out)
    check_recommended_size(recommended_size)
    if colour not in COLOURS:
        raise UsageError(f"--colour must be one of {', '.join(COLOURS)}, got {colour!r}", "leave it at auto")
    if value_range not in RANGES:
        raise UsageError(f"--range must be one of {', '.join(RANGES)}, got {value_range!r}", "most nets are 0-255")
    if layout not in LAYOUTS:
        raise UsageError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}", "leave it at auto")
    if not source.is_file():
        raise InputError(f"{source} not found" if not source.exists() else f"{source} is not a file", "check the path")
    if source.suffix.lower() in IMAGE_SUFFIXES:
        raise UsageError(
            f"{source} is an image; import takes a style net (.onnx, .pth)",
            f"for a painting: nstvideo train --style-image {source} --name NAME --data PHOTOS/, or "
            f"nstvideo keyframe IN OUT --style-image {source}",
        )
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"output {out} must end in .onnx", "e.g. mystyle.onnx")
    check_output(source, out, overwrite)

    is_onnx = source.suffix.lower() == ".onnx"
    model = _load_onnx(source) if is_onnx else _from_pth(source)
    # A style file (ours, or imported before) keeps what it says about itself unless the options say otherwise.
    kept = {p.key.removeprefix("nstvideo."): p.value for p in model.metadata_props if p.key.startswith("nstvideo.")}
    title, artist = title or kept.get("title"), artist or kept.get("artist")
    style_licence, style_source = style_licence or kept.get("style_licence"), style_source or kept.get("style_source")
    if recommended_size is None and kept.get("recommended_size", "").isdigit():
        recommended_size = int(kept["recommended_size"])
    name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", source.stem).strip("-.").lower()  # as the README says
    name = name or "imported"
    if not NAME.fullmatch(name):
        raise UsageError(f"--name {name!r} cannot name a style", "use letters, digits, '-', '_' or '.'")
    origin = (
        "pytorch/examples fast_neural_style TransformerNet"
        if not is_onnx
        else "made by " + " ".join(filter(None, (model.producer_name or "an unknown tool", model.producer_version)))
    )
    inp, outp = _graph_io(model, source)
    fixed = _dims(inp)
    conv = _conventions(inp, outp, source, layout, colour, value_range)
    fixed_sides = [d for i, d in enumerate(fixed) if i in ((2, 3) if conv.channels_first else (1, 2))]
    fixed_text = "x".join(str(d) for d in fixed_sides[::-1]) if all(isinstance(d, int) for d in fixed_sides) else ""
    _make_dynamic(model, inp, outp, conv)
    model = _upgrade(model, source)
    inp, outp = _graph_io(model, source)
    prefix = _free_prefix(model)
    for value, new in ((inp, prefix + "net_input"), (outp, prefix + "net_output")):
        if value.name in (INPUT_NAME, OUTPUT_NAME):  # a net already named as the contract names ours
            _rename(model.graph, value.name, new)
    net = _session(model)
    k = _side_multiple(net, inp.name, conv, source, fixed_text)

    rng = np.random.default_rng(0)
    frames = np.clip(np.cumsum(rng.integers(0, 256, PARITY_SHAPE), axis=2) // 16, 0, 255).astype(np.uint8)
    expected = _reference(net, inp.name, frames, conv, k)
    wrapped = _wrap(model, inp.name, outp.name, conv, k, prefix)
    faster = subpixel_output_convs(wrapped)  # the same numbers, 3x faster last conv on the CPU (bench/RESULTS.md)
    written_as = wrapped.ir_version
    wrapped.ir_version = helper.find_min_ir_version_for(list(wrapped.opset_import))  # older runtimes read it too
    try:
        onnx.checker.check_model(wrapped)
    except Exception:  # it uses something of a later IR version: keep the one it had
        wrapped.ir_version = max(written_as, wrapped.ir_version)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    meta = {
        **{k: v for k, v in kept.items() if k not in ("format_version", "graph_rewrites")},
        "format_version": FORMAT_VERSION,
        **painting_metadata(name, title, artist, style_licence, style_source),
        "architecture": kept.get("architecture", "imported"),
        "imported_from": f"{source.name} ({origin}; sha256 {digest}…)",
        "imported_conventions": conv.describe() + (f", sides padded to multiples of {k}" if k > 1 else ""),
        "loss_network": kept.get("loss_network", "unknown (imported)"),
        "recommended_size": str(recommended_size or 512),
        **({"graph_rewrites": NOTE} if faster else {}),
        "exported": dt.date.today().isoformat(),
    }
    del wrapped.metadata_props[:]
    for key, value in meta.items():
        wrapped.metadata_props.add(key=f"nstvideo.{key}", value=value)
    wrapped.producer_name, wrapped.producer_version = "nstvideo", __version__
    try:
        onnx.checker.check_model(wrapped, full_check=True)
    except Exception as exc:
        first = one_line(exc)
        raise ModelError(f"the wrapped graph of {source.name} is not valid ONNX: {first}", "report it") from None
    got = _session(wrapped).run([OUTPUT_NAME], {INPUT_NAME: frames})[0]
    diff = int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max()) if got.shape == expected.shape else -1
    if diff < 0 or diff > 1:
        raise ModelError(
            f"the wrapped net differs from the original by {diff if diff >= 0 else 'its shape'} grey levels",
            "report this as a bug, with the model",
        )
    with atomic_output(out) as tmp:
        onnx.save_model(wrapped, str(tmp))
    log.info("imported %s as style '%s' (%s) into %s (%.1f MB); against the original: max diff %d grey level%s",
             source.name, name, meta["imported_conventions"], out, os.path.getsize(out) / 1e6, diff,
             "" if diff == 1 else "s")  # fmt: skip
    return out
