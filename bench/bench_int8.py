"""Would int8 styles be faster on the CPU? Quantises a bundled style (ONNX Runtime's static QDQ quantisation of the
convs, per-channel int8 weights, uint8 activations calibrated on 16 frames of the demo clip) and times it against the
file as shipped, on the same frames.

    python bench/bench_int8.py --style mosaic [--runs 7]

Not part of the product: a measurement (bench/RESULTS.md, "int8 on the CPU").
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from timing import median_ms

from nstvideo.pipeline.models import resolve_style

CLIP = Path(__file__).resolve().parent.parent / "samples" / "big-buck-bunny-12s.mp4"


def fp32_copy(src: Path, dst: Path) -> None:
    """The style with its fp16-stored weights as plain fp32 initialisers (what the quantiser reads)."""
    model = onnx.load(str(src))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    for node in list(graph.node):
        if node.op_type == "Cast" and node.input[0] in weights and weights[node.input[0]].data_type == 10:
            array = numpy_helper.to_array(weights[node.input[0]]).astype(np.float32)
            graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
            graph.node.remove(node)
    used = {i for node in graph.node for i in node.input}
    for weight in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(weight)
    onnx.save(model, str(dst))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", default="mosaic")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    frames = []
    with av.open(str(CLIP)) as clip:
        for i, frame in enumerate(clip.decode(video=0)):
            if i % 12 == 0:
                frames.append(cv2.resize(frame.to_ndarray(format="bgr24"), (456, 256), interpolation=cv2.INTER_AREA))
    calibration, held_out = frames[:16], frames[16:]

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            f = next(self.left, None)
            return None if f is None else {"frames": f[None]}

    shipped = resolve_style(args.style).path
    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre, int8 = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        fp32_copy(shipped, fp32)
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(int8), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
        )  # fmt: skip
        options = ort.SessionOptions()
        a, b = (ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for p in (shipped, int8))
        x = held_out[0][None]
        shipped_ms = median_ms(lambda: a.run(None, {"frames": x}), args.runs)
        int8_ms = median_ms(lambda: b.run(None, {"frames": x}), args.runs)
        diffs = [np.abs(a.run(None, {"frames": f[None]})[0].astype(int) - b.run(None, {"frames": f[None]})[0]).mean()
                 for f in held_out]  # fmt: skip
    print(
        f"{args.style} at 456x256, onnxruntime {ort.__version__}: shipped {shipped_ms:.1f} ms, int8 {int8_ms:.1f} ms "
        f"({shipped_ms / int8_ms:.2f}x); mean difference on {len(held_out)} other frames {np.mean(diffs):.2f} levels"
    )


if __name__ == "__main__":
    main()
