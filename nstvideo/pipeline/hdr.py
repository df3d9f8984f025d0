"""HDR video (PQ or HLG, BT.2020) to SDR BT.709: what the nets, trained on SDR photos, and an SDR H.264 output need.

swscale converts the matrix only; without this a phone's HDR clip comes out grey and flat. The transfer curves are
tables over the 16-bit codes; the gamut a 3x3 matrix in linear light; the tone curve (a knee, then a smooth
roll-off to white) scales each pixel's three channels by what it does to the brightest of them, so a bright sunset
keeps its hue and saturation (a curve per channel pulls every highlight towards yellow-white, as FFmpeg's
`tonemap` and mpv also avoid). HLG's system gamma is applied to luminance, as BT.2100 defines it. A dozen passes
over the frame, in bands over the cores (bench/RESULTS.md, "HDR video to SDR").
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from nstvideo.pipeline import usable_cores

#: AVColorTransferCharacteristic values of the HDR transfers.
TRC_PQ = 16  # SMPTE ST 2084
TRC_HLG = 18  # ARIB STD-B67
NAMES = {TRC_PQ: "PQ", TRC_HLG: "HLG"}
SDR_WHITE_NITS = 203.0  # BT.2408: HDR's "graphics white", what SDR white is shown as
HLG_PEAK_NITS = 1000.0  # the display HLG's OOTF is defined for
HLG_GAMMA = 1.2  # the OOTF's system gamma at that peak (BT.2100)
KNEE = 0.7  # linear light (1 = SDR white) kept as it is; above, highlights roll off towards white
# Linear BT.2020 RGB to linear BT.709 RGB (ITU-R BT.2087).
BT2020_TO_BT709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]], np.float32
)
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], np.float32)  # BT.2100's luminance weights of R, G, B
_FLOAT_SHIFT = 13  # float32 bits dropped from the output table's index: 10 of the mantissa's 23 are kept


def _pq_nits(e: np.ndarray) -> np.ndarray:
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = np.power(e, 1 / m2)
    return 10000.0 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)


def _hlg_scene(e: np.ndarray) -> np.ndarray:
    """HLG's inverse OETF: scene light 0..1."""
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
    return np.where(e <= 0.5, e * e / 3, (np.exp((np.maximum(e, 0.5) - c) / a) + b) / 12)


def tone_curve(x: np.ndarray) -> np.ndarray:
    """Linear light in units of SDR white -> [0, 1): identity up to the knee, then a roll-off with slope 1 there."""
    flat = np.ascontiguousarray(x, np.float32).reshape(-1)  # one channel: OpenCV applies a number to channel 0 only
    fade = cv2.exp(cv2.multiply(cv2.max(cv2.subtract(flat, KNEE), 0.0), -1 / (1 - KNEE)))  # 1 up to the knee
    return cv2.addWeighted(cv2.min(flat, KNEE), 1.0, fade, -(1 - KNEE), 1 - KNEE).reshape(np.shape(x))


_BANDS = min(8, usable_cores())  # a 4K frame costs ~200 ms on one core (bench/RESULTS.md)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(_BANDS, thread_name_prefix="nstvideo-hdr")


def _code_table() -> np.ndarray:
    """8-bit BT.1886 codes (display gamma 2.4, what SDR BT.709 is shown with) of linear light 0..1, indexed by the
    float32's bits shifted right by _FLOAT_SHIFT: steps of a constant ratio (a 1024th), so the darkest codes are as
    exact as the brightest, which a table in steps of linear light cannot be (its first step is code 8). Negative
    floats (out of BT.709's gamut) land above 2^18 and give 0, like their sign."""
    bits = (np.arange(1 << (32 - _FLOAT_SHIFT), dtype=np.uint64) << _FLOAT_SHIFT) + (1 << (_FLOAT_SHIFT - 1))
    light = bits.astype(np.uint32).view(np.float32)  # the middle of each step
    light = np.where(np.isfinite(light) & (light > 0), light, 0).astype(np.float64)
    return np.round(255 * np.power(np.minimum(light, 1), 1 / 2.4)).astype(np.uint8)


class HdrToSdr:
    """Converts full-range 16-bit R'G'B' frames of one HDR transfer to 8-bit SDR BGR."""

    def __init__(self, trc: int) -> None:
        codes = np.arange(65536, dtype=np.float64) / 65535
        self._hlg = trc == TRC_HLG
        # PQ: display light; HLG: scene light, 0..1 (the OOTF needs the pixel's luminance, so it comes per frame)
        light = _hlg_scene(codes) if self._hlg else _pq_nits(codes) / SDR_WHITE_NITS
        self._to_linear = light.astype(np.float32)
        self._to_bgr = np.ascontiguousarray(BT2020_TO_BT709[::-1])  # the matrix and the flip to B, G, R in one
        self._to_code = _code_table()

    def __call__(self, rgb48: np.ndarray) -> np.ndarray:
        # the decode thread's work: in bands over the cores (NumPy and OpenCV let go of the GIL), so that a 4K
        # HDR clip does not hold back a GPU
        bands = self.bands(rgb48)
        if bands < 2:
            return self._map(rgb48)
        out = np.empty(rgb48.shape, np.uint8)
        edges = np.linspace(0, rgb48.shape[0], bands + 1).astype(int)

        def band(i: int) -> None:
            out[edges[i] : edges[i + 1]] = self._map(rgb48[edges[i] : edges[i + 1]])

        for done in [_pool().submit(band, i) for i in range(bands)]:
            done.result()
        return out

    @staticmethod
    def bands(rgb48: np.ndarray) -> int:
        """How many bands a frame is mapped in: of 120 rows or more, one per core up to 8."""
        return min(_BANDS, rgb48.shape[0] // 120)

    def _map(self, rgb48: np.ndarray) -> np.ndarray:
        linear = self._to_linear[rgb48]  # BT.2020 primaries
        bgr = cv2.transform(linear, self._to_bgr)  # BT.709 primaries, B, G, R; out of its gamut below 0 or above
        peak = np.maximum(bgr[..., 0], bgr[..., 1])
        np.maximum(peak, bgr[..., 2], out=peak)
        cv2.max(peak, 1e-9, dst=peak)
        if self._hlg:  # display = scene * Ys^(gamma - 1), in units of SDR white
            ootf = cv2.pow(cv2.max(cv2.transform(linear, BT2020_LUMA[None]), 1e-9), HLG_GAMMA - 1)
            display = cv2.multiply(peak, ootf, scale=HLG_PEAK_NITS / SDR_WHITE_NITS)
        else:
            display = peak
        gain = cv2.divide(tone_curve(display), peak)  # what the curve does to the brightest channel, for all three
        np.multiply(bgr, gain[..., None], out=bgr)
        index = bgr.view(np.uint32)
        np.right_shift(index, _FLOAT_SHIFT, out=index)
        return self._to_code[index]
