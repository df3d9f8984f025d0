"""On the lent GPU machine: train several styles at once (one process each, sharing the GPU), stop them all with
a checkpoint before the call's limit, export what each reached, and pack ONNX files, loss CSVs, previews and logs
into at most 8 archives under $OUT (the device returns at most 8 files of 16 MiB).

Run from the checkout root with .carry/studio carried (made here by bench/gpu/prepare_carry.py):
    python3 bench/gpu/train_styles.py --styles starry-night udnie --iterations 2000 --budget 420
A second call on a still-warm machine resumes from runs/gpu/ (checkpoints stay there); a fresh machine starts over.
Style titles, artists and licences come from bench/gpu/styles.tsv. Prints steps/s per style for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# The starting point for the one-time GPU tuning (issue: studio): the CPU recipe with whole-photo crops (on the
# CPU, 256² crops took the-scream 0.634 -> 0.490 and woman-with-hat 0.619 -> 0.442: "Larger crops move the deep
# layer"). The painting stays at 256 px (at 512 candy's net came out weaker: held-out ratio 0.542, measured at
# 512, against 0.334), tv weight is 10 (it removed the CPU nets' fine dotted grid; ratio 0.381), and the temporal
# term is on (weight 2000 halved mosaic's flicker on DAVIS clips for ratio 0.359 -> 0.478): bench/RESULTS.md,
# "Recipe experiments", "Flicker".
RECIPE = (
    "--arch johnson-skip --image-size 256 --style-size 256 --batch-size 4 --style-weight 20 --tv-weight 10 "
    "--temporal-weight 2000 --recommended-size 256"
)
# The lite net for CPU users: the same recipe on the small architecture, with the temporal weight its CPU run
# shipped with (1000: at 2000 the CPU lite net drew a green blob edge; bench/RESULTS.md, "A lite net").
LITE = "--arch lite-skip --temporal-weight 1000"
EARLY_FAILURE_S = 120  # a run that dies this soon is retried once in fp32 (bf16/channels_last never ran on a GPU here)
MAX_FILE = 15 * 2**20


def style_table() -> dict[str, dict[str, str]]:
    with open(HERE / "styles.tsv", newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f, delimiter="\t")}


def metadata_args(row: dict[str, str], lite: bool = False) -> list[str]:
    title = f"{row['title']} (lite net)" if lite else row["title"]
    return ["--title", title, "--artist", row["artist"], "--style-licence", row["licence"],
            "--style-source", row["source"]]  # fmt: skip


def tail(run: Path, lines: int = 15) -> str:
    log = run / "train.log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def checkpoint_progress(path: Path) -> tuple[int, float]:
    """(step, training seconds) from a trainer checkpoint; (0, 0) if there is none."""
    if not path.exists():
        return 0, 0.0
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)  # our own file: it holds RNG states too
    return int(state["step"]), float(state.get("elapsed", 0.0))


def main() -> None:
    table = style_table()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", nargs="+", default=[n for n in table if table[n]["licence"].startswith("public")])
    ap.add_argument("--lite", nargs="*", default=[], help="styles to train a lite net of too (NAME-lite)")
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--budget", type=float, default=420, help="seconds of training in this call")
    ap.add_argument("--recipe", default=RECIPE, help="extra `nstvideo train` options, one string")
    ap.add_argument("--carry", type=Path, default=ROOT / ".carry" / "studio")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "gpu")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "out" / "gpu")))
    args = ap.parse_args()
    unknown = [s for s in args.styles if s not in table]
    if unknown:
        raise SystemExit(f"error: unknown style {unknown[0]!r}\nhint: one of {', '.join(table)}")
    args.out.mkdir(parents=True, exist_ok=True)
    vgg = args.carry / "vgg16_bn-craft-fp16.pth"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    nst = [sys.executable, "-m", "nstvideo"]

    runs = {name: (name, args.recipe) for name in args.styles}
    runs |= {f"{name}-lite": (name, f"{args.recipe} {LITE}") for name in args.lite}
    meta = {name: metadata_args(table[style], lite=name != style) for name, (style, _) in runs.items()}
    preview = [a for p in sorted((args.carry / "samples").glob("amber.jpg")) for a in ("--preview", str(p))]

    def start(name: str, extra: list[str]) -> subprocess.Popen:
        style, recipe = runs[name]
        run = args.runs / name
        run.mkdir(parents=True, exist_ok=True)
        resume = ["--resume"] if (run / f"{name}.ckpt").exists() else []
        cmd = [*nst, "train", "--style-image", str(args.carry / "styles" / f"{style}.jpg"), "--name", name,
               "--data", str(args.carry / "content"), "--out-dir", str(run), "--vgg", str(vgg),
               "--device", args.device, "--iterations", str(args.iterations), "--checkpoint-every", "250",
               "--workers", "2", *shlex.split(recipe), *meta[name], *preview, *resume, *extra]  # fmt: skip
        log = open(run / "train.log", "a")  # noqa: SIM115 - the child keeps its own copy; ours is closed below
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        log.close()
        return proc

    started = time.monotonic()
    procs = {name: start(name, []) for name in runs}
    retried: set[str] = set()
    deadline = started + args.budget
    while any(p.poll() is None for p in procs.values()) and time.monotonic() < deadline:
        time.sleep(1)
        for name, p in procs.items():
            early = time.monotonic() - started < EARLY_FAILURE_S
            if p.returncode not in (None, 0) and early and name not in retried:
                print(f"{name} failed early (exit {p.returncode}); retrying in fp32:\n{tail(args.runs / name)}")
                retried.add(name)
                procs[name] = start(name, ["--precision", "fp32"])
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)  # the trainer saves a checkpoint and stops
    for p in procs.values():
        p.wait(timeout=120)
    wall = time.monotonic() - started
    exports = {}
    for name, p in procs.items():  # in parallel: each export also checks ONNX Runtime parity on the CPU
        run = args.runs / name
        if p.returncode != 0 and (run / f"{name}.ckpt").exists():
            cmd = [*nst, "export", str(run / f"{name}.ckpt"), str(run / f"{name}.onnx"), "--overwrite",
                   *meta[name]]  # fmt: skip
            exports[name] = subprocess.Popen(cmd, env=env, cwd=ROOT)
    for p in exports.values():
        p.wait(timeout=300)

    print(f"{len(procs)} runs in parallel for {wall:.0f} s on {args.device}; recipe: {args.recipe}")
    print("| style | steps | steps/s | finished | exported |")
    print("| --- | ---: | ---: | --- | --- |")
    packs: list[list[Path]] = [[]]
    for name in runs:
        run = args.runs / name
        onnx = run / f"{name}.onnx"
        finished = procs[name].returncode == 0  # it ran all its iterations and exported; 130: stopped by SIGINT
        if not onnx.exists():
            print(f"{name}: no ONNX; end of its log:\n{tail(run)}")
        steps, seconds = checkpoint_progress(run / f"{name}.ckpt")
        rate = steps / seconds if seconds > 0 else 0.0
        print(f"| {name} | {steps} | {rate:.2f} | {'yes' if finished else 'no (checkpoint)'} | {onnx.exists()} |")
        files = [f for f in (onnx, run / f"{name}.losses.csv", run / f"{name}.preview.jpg", run / "train.log")
                 if f.exists()]  # fmt: skip
        if sum(f.stat().st_size for f in packs[-1] + files) > MAX_FILE:
            packs.append([])
        packs[-1].extend(files)
    for i, files in enumerate(p for p in packs if p):
        with tarfile.open(args.out / f"styles-{i + 1}.tar", "w") as tar:
            for f in files:
                tar.add(f, arcname=f"{f.parent.name}/{f.name}")
    print(f"packed into {sum(1 for p in packs if p)} archive(s) in {args.out}")


if __name__ == "__main__":
    main()
