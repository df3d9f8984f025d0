"""Train a style with one of the CPU recipes, so a CPU net can be remade exactly.

The bundled great-wave and the CPU nets in git history (trained_models/MODEL_CARD.md) were trained so; the GPU
recipe is bench/gpu/train_styles.py's. This runs the named recipe with the painting's metadata from
bench/gpu/styles.tsv, one core each (two styles train side by side on a 2-core machine), into runs/STYLE-RECIPE/.
Extra `nstvideo train` options after `--` win over the recipe's.
    python bench/train_cpu.py great-wave --recipe 256-crop --iterations 5500
    python bench/train_cpu.py udnie --recipe 256-crop --resume -- --style-weight 40
    python bench/train_cpu.py mondrian --recipe 256-stable   # the GPU recipe's combination, at batch 1
    OMP_NUM_THREADS=2 python bench/train_cpu.py rain-princess --recipe gpu   # the GPU recipe on the CPU
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "gpu"))
from train_styles import RECIPE, ROOT, metadata_args, style_table  # noqa: E402

FIXED = (
    "--arch johnson-skip --vgg craft --image-size 128 --style-size 256 --batch-size 2 --style-weight 20 "
    "--iterations 2450 --workers 1"
)
STABLE = " --tv-weight 10 --temporal-weight 2000"
CROP_256 = " --image-size 256 --batch-size 1 --iterations 3800 --recommended-size 256"
RECIPES = {
    "fixed": FIXED,
    "stable": FIXED + STABLE,
    "256-crop": FIXED + CROP_256,
    "256-stable": FIXED + CROP_256 + STABLE,  # the GPU recipe's combination (mondrian, composition-vii)
    # the GPU recipe itself, at the step count the GPU runs reached (1899-1926): an eighth style of the one recipe on
    # a machine without a GPU (~0.28 steps/s with 2 threads: OMP_NUM_THREADS=2, about 1.9 h)
    "gpu": RECIPE + " --vgg craft --iterations 1920 --workers 1 --checkpoint-every 250",
}


def main() -> None:
    table = style_table()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("style", choices=sorted(table))
    ap.add_argument("--recipe", choices=sorted(RECIPES), required=True)
    ap.add_argument("--iterations", type=int, default=None, help="instead of the recipe's")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="print the command only")
    ap.add_argument("--out-dir", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=ROOT / "runs" / "data" / "train", help="bench/split_data.py")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])  # after `--`: more `nstvideo train` options
    out_dir = a.out_dir or ROOT / "runs" / f"{a.style}-{a.recipe}"
    cmd = [
        "nstvideo", "train", "--style-image", str(a.shared / "styles" / f"{a.style}.jpg"), "--name", a.style,
        "--data", str(a.data), "--out-dir", str(out_dir), "--preview", str(a.shared / "samples" / "amber.jpg"),
        *shlex.split(RECIPES[a.recipe]), *metadata_args(table[a.style]),
    ]  # fmt: skip
    if a.iterations:
        cmd += ["--iterations", str(a.iterations)]
    if a.resume:
        cmd.append("--resume")
    cmd += argv[cut + 1 :]  # later options win
    print(shlex.join(cmd), flush=True)
    if a.dry_run:
        return
    # one thread each unless told, so two styles train side by side on 2 cores (bench/RESULTS.md, "Training more
    # styles on the CPU")
    os.execvpe(cmd[0], cmd, {"OMP_NUM_THREADS": "1"} | os.environ)


if __name__ == "__main__":
    main()
