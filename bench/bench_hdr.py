"""What reading an HDR frame costs over an SDR one: swscale to 16-bit RGB plus the tone mapping (nstvideo.pipeline.hdr),
against swscale straight to 8-bit BGR, on a 10-bit 4:2:0 frame as phones record.

    python bench/bench_hdr.py [--width 1920 --height 1080] [--runs 20]
"""

from __future__ import annotations

import argparse

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter
from timing import median_ms

from nstvideo.pipeline.hdr import TRC_HLG, TRC_PQ, HdrToSdr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    codes = np.random.default_rng(0).integers(0, 65536, (args.height, args.width, 3), dtype=np.uint16)
    frame = av.VideoFrame.from_ndarray(codes, format="rgb48le").reformat(format="yuv420p10le")
    scaler, tone = VideoReformatter(), HdrToSdr(TRC_PQ)
    matrix = getattr(Colorspace, "BT2020", Colorspace.ITU709)
    kw = {"src_colorspace": matrix, "dst_colorspace": matrix, "src_color_range": ColorRange.MPEG,
          "dst_color_range": ColorRange.JPEG}  # fmt: skip
    sdr = median_ms(lambda: scaler.reformat(frame, format="bgr24", **kw).to_ndarray(), args.runs)
    rgb48 = median_ms(lambda: scaler.reformat(frame, format="rgb48le", **kw).to_ndarray(), args.runs)
    deep = scaler.reformat(frame, format="rgb48le", **kw).to_ndarray()
    mapped = median_ms(lambda: tone(deep), args.runs)
    hlg = HdrToSdr(TRC_HLG)
    mapped_hlg = median_ms(lambda: hlg(deep), args.runs)
    print(f"{args.width}x{args.height} yuv420p10le, median of {args.runs} (ms per frame):")
    print(f"  SDR path, swscale to bgr24:       {sdr:.1f}")
    print(f"  HDR path, swscale to rgb48le:     {rgb48:.1f}")
    print(f"  HDR path, tone mapping (hdr.py):  {mapped:.1f} PQ, {mapped_hlg:.1f} HLG ({tone.bands(deep)} bands)")
    print(f"  HDR (PQ) costs {rgb48 + mapped - sdr:.1f} ms more a frame")


if __name__ == "__main__":
    main()
