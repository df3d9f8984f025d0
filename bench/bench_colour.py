"""Colour accuracy of the video path: a BGR frame through our encode conversion (BGR -> yuv420p, BT.709, limited)
and back through our decode conversion, with swscale's default flags and with the ones media.py uses.

Usage: python bench/bench_colour.py [PHOTO] [--width 1920 --height 1080] [--repeat 20]

Prints the mean signed error (a bias: the picture gets darker or lighter), the mean absolute error in grey levels
of the round trip, and the milliseconds each conversion takes at that size. Chroma subsampling alone costs some
absolute error on detailed pictures; the bias should be zero.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from nstvideo.pipeline import media

HERE = Path(__file__).resolve().parent


def round_trip(image: np.ndarray, encode: int | None, decode: int | None) -> tuple[np.ndarray, float, float]:
    """(image after the round trip, ms to encode-convert, ms to decode-convert)."""
    r1, r2 = VideoReformatter(), VideoReformatter()
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    t0 = time.perf_counter()
    yuv = r1.reformat(
        frame, format="yuv420p", src_colorspace=Colorspace.ITU709, dst_colorspace=Colorspace.ITU709,
        src_color_range=ColorRange.JPEG, dst_color_range=ColorRange.MPEG, interpolation=encode,
    )  # fmt: skip
    t1 = time.perf_counter()
    back = r2.reformat(
        yuv, format="bgr24", src_colorspace=Colorspace.ITU709, dst_colorspace=Colorspace.ITU709,
        src_color_range=ColorRange.MPEG, dst_color_range=ColorRange.JPEG, interpolation=decode,
    ).to_ndarray()  # fmt: skip
    t2 = time.perf_counter()
    return back, (t1 - t0) * 1000, (t2 - t1) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photo", nargs="?", type=Path, default=HERE.parent.parent / "shared/data/samples/tubingen.jpg")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    photo = cv2.imread(str(args.photo))
    if photo is None:
        raise SystemExit(f"cannot read {args.photo}")
    photo = cv2.resize(photo, (args.width, args.height), interpolation=cv2.INTER_AREA)
    ramp = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 64, 0), 3, 2)
    print(f"{args.photo.name} at {args.width}x{args.height}, {args.repeat} runs; grey ramp 0..255")
    print("| flags | photo: bias | photo: mean abs error | ramp: bias | encode ms | decode ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, enc, dec in [("swscale defaults", None, None), ("media.py", media._ENCODE_SWS, media._DECODE_SWS)]:
        back, _, _ = round_trip(photo, enc, dec)
        err = back.astype(float) - photo
        ramp_bias = (round_trip(ramp, enc, dec)[0].astype(float) - ramp).mean()
        times = [round_trip(photo, enc, dec)[1:] for _ in range(args.repeat)]
        enc_ms, dec_ms = np.median(np.array(times), axis=0)
        row = [f"{err.mean():+.2f}", f"{np.abs(err).mean():.2f}", f"{ramp_bias:+.2f}", f"{enc_ms:.1f}", f"{dec_ms:.1f}"]
        print(f"| {name} | {' | '.join(row)} |")


if __name__ == "__main__":
    main()
