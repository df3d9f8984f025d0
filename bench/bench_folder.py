"""A folder of clips in one `nstvideo file` run (the model loaded once) against one run per clip (a shell loop).

Usage: python bench/bench_folder.py [--clips 10] [--seconds 2] [--style mosaic-lite] [--size 256]
Makes the clips (640x360, 24 fps, AAC audio) in a temporary folder, then times both ways with the real CLI.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.clips import make_clip  # noqa: E402


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--style", default="mosaic-lite")
    ap.add_argument("--size", default="256")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "clips"
        src.mkdir()
        frames = round(24 * args.seconds)
        for i in range(args.clips):
            make_clip(src / f"clip{i:02d}.mp4", width=640, height=360, frames=frames, fps=24, audio=True)
        common = ["--style", args.style, "--size", args.size, "--preset", "veryfast"]
        cli = [sys.executable, "-m", "nstvideo", "-q", "file"]
        folder = timed([*cli, str(src), str(Path(tmp) / "folder"), *common])
        (Path(tmp) / "loop").mkdir()
        loop = sum(timed([*cli, str(f), str(Path(tmp) / "loop" / f.name), *common]) for f in sorted(src.iterdir()))
    n = args.clips
    print(f"{n} clips of {args.seconds:g} s (640x360, 24 fps, AAC), {args.style} at {args.size} px:")
    print(f"  one folder run:   {folder:.1f} s ({folder / n:.2f} s a clip)")
    print(f"  one run per clip: {loop:.1f} s ({loop / n:.2f} s a clip)")
    print(f"  saved: {loop - folder:.1f} s ({(loop - folder) / n:.2f} s a clip, {100 * (1 - folder / loop):.0f} %)")


if __name__ == "__main__":
    main()
