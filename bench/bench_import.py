"""How fast a style net made elsewhere runs once `nstvideo import` has wrapped it, against the same net run the way its
own project runs it in ONNX Runtime (float NCHW RGB in, conversions in NumPy), and against our bundled mosaic.

    python bench/bench_import.py [--runs 9] [--sizes 456x256,640x360]

The net is pytorch/examples fast_neural_style's TransformerNet (random weights: speed does not depend on them).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from timing import median_ms

from nstvideo.export.importer import _examples_net, import_model
from nstvideo.pipeline.engine import Stylizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--sizes", default="456x256,640x360")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        net = _examples_net().eval()
        pth, plain = Path(tmp) / "candy.pth", Path(tmp) / "candy-plain.onnx"
        torch.save(net.state_dict(), pth)
        free = {0: "N", 2: "H", 3: "W"}
        torch.onnx.export(net, (torch.rand(1, 3, 64, 64) * 255,), str(plain), input_names=["input"],
                          output_names=["output"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": free, "output": free})  # fmt: skip
        imported = import_model(pth, Path(tmp) / "candy.onnx")
        theirs = ort.InferenceSession(str(plain), providers=["CPUExecutionProvider"])
        ours = Stylizer(str(imported), device="cpu", size=0)
        mosaic = Stylizer("mosaic", device="cpu", size=0)
        print(f"onnxruntime {ort.__version__}, {args.runs} runs, median ms per frame (CPU)")
        print("| frame | TransformerNet as its project runs it | imported (`nstvideo import`) | bundled mosaic |")
        print("| --- | ---: | ---: | ---: |")

        def their_way(frame: np.ndarray) -> None:  # pytorch/examples' stylize(): RGB float NCHW in, clamp out
            x = frame[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)
            y = theirs.run(None, {"input": x})[0][0]
            np.clip(y, 0, 255).round().astype(np.uint8).transpose(1, 2, 0)[:, :, ::-1].copy()

        for w, h in sizes:
            frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
            cells = [median_ms(lambda f=frame, run=run: run(f), args.runs) for run in (their_way, ours, mosaic)]
            print(f"| {w}x{h} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
