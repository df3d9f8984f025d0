"""Give already exported styles the CPU-friendly graph forms `nstvideo export` now writes (`graph_passes`) without
retraining: rewrite each file, check the new graph against the old on real frames, time both, then replace it.

Usage: python bench/rewrite_bundle.py [FILE.onnx ...]   (default: every file in trained_models/)
Prints a markdown table for bench/RESULTS.md. A file whose output differs by more than 1 grey level is left alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import onnx
import onnxruntime as ort

from nstvideo.export.graph_passes import rewrite_for_cpu
from nstvideo.pipeline.outputs import atomic_output

ROOT = Path(__file__).resolve().parents[1]


def frames() -> list[np.ndarray]:
    """Real frames of the demo clip at the sizes users run (recommended 256, its own 360) and an odd one."""
    with av.open(str(ROOT / "samples" / "big-buck-bunny-12s.mp4")) as c:
        real = [f.to_ndarray(format="bgr24") for i, f in enumerate(c.decode(video=0)) if i in (10, 60, 110, 160)]
    batch = np.stack(real)
    small = np.stack([cv2.resize(f, (456, 256), interpolation=cv2.INTER_AREA) for f in real])
    odd = np.stack([cv2.resize(f, (203, 101), interpolation=cv2.INTER_AREA) for f in real])
    return [batch, small, odd]


def median_ms(sess: ort.InferenceSession, x: np.ndarray, runs: int = 9) -> float:
    sess.run(None, {"frames": x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"frames": x})
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args()
    files = args.files or sorted((ROOT / "trained_models").glob("*.onnx"))
    tests = frames()
    print("| style | rewritten | max / mean diff (grey levels) | 456x256, ms | 640x360, ms |")
    print("| --- | ---: | --- | --- | --- |")
    failed = False
    for path in files:
        model = onnx.load(str(path))
        before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        if not rewrite_for_cpu(model, "nstvideo.graph_rewrites"):
            print(f"| {path.stem} | nothing (done before, or nothing to do) | | | |")
            continue
        onnx.checker.check_model(model, full_check=True)
        after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        outs = [(before.run(None, {"frames": x})[0], after.run(None, {"frames": x})[0]) for x in tests]
        diffs = [np.abs(a.astype(int) - b) for a, b in outs]
        worst, mean = max(int(d.max()) for d in diffs), float(np.mean([d.mean() for d in diffs]))
        speed = [f"{median_ms(before, x[:1]):.1f} → {median_ms(after, x[:1]):.1f}" for x in tests[1::-1]]
        print(f"| {path.stem} | output conv | {worst} / {mean:.4f} | {speed[0]} | {speed[1]} |", flush=True)
        if worst > 1:
            failed = True
            continue
        with atomic_output(path) as tmp:
            onnx.save_model(model, str(tmp))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
