"""HDR video (PQ or HLG, BT.2020) to SDR BT.709: what the nets, trained on SDR photos, and an SDR H.264 output need.

swscale converts the matrix only; without this a phone's HDR clip comes out grey and flat. The transfer curves are
tables over the 16-bit codes, the tone curve is per channel (a knee, then a smooth roll-off to white), the gamut a
3x3 matrix in linear light: a few passes over the frame, so HDR costs little more than SDR.
"""

from __future__ import annotations

import cv2
import numpy as np

#: AVColorTransferCharacteristic values of the HDR transfers.
TRC_PQ = 16  # SMPTE ST 2084
TRC_HLG = 18  # ARIB STD-B67
NAMES = {TRC_PQ: "PQ", TRC_HLG: "HLG"}
SDR_WHITE_NITS = 203.0  # BT.2408: HDR's "graphics white", what SDR white is shown as
HLG_PEAK_NITS = 1000.0  # the display HLG's OOTF is defined for
KNEE = 0.7  # linear light (1 = SDR white) kept as it is; above, highlights roll off towards white
# Linear BT.2020 RGB to linear BT.709 RGB (ITU-R BT.2087).
BT2020_TO_BT709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]], np.float32
)
_OUT_STEPS = 4096  # levels of the linear-to-code table: finer than 8-bit output needs


def _pq_nits(e: np.ndarray) -> np.ndarray:
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = np.power(e, 1 / m2)
    return 10000.0 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)


def _hlg_nits(e: np.ndarray) -> np.ndarray:
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
    scene = np.where(e <= 0.5, e * e / 3, (np.exp((np.maximum(e, 0.5) - c) / a) + b) / 12)
    return HLG_PEAK_NITS * np.power(scene, 1.2)  # the OOTF's system gamma, per channel


def tone_curve(x: np.ndarray) -> np.ndarray:
    """Linear light in units of SDR white -> [0, 1): identity up to the knee, then a roll-off with slope 1 there."""
    over = np.maximum(x - KNEE, 0)
    return np.where(x <= KNEE, x, KNEE + (1 - KNEE) * (1 - np.exp(-over / (1 - KNEE))))


class HdrToSdr:
    """Converts full-range 16-bit R'G'B' frames of one HDR transfer to 8-bit SDR BGR."""

    def __init__(self, trc: int) -> None:
        codes = np.arange(65536, dtype=np.float64) / 65535
        nits = _pq_nits(codes) if trc == TRC_PQ else _hlg_nits(codes)
        self._to_linear = tone_curve(nits / SDR_WHITE_NITS).astype(np.float32)
        # BT.1886's display gamma 2.4: what an SDR BT.709 picture is shown with
        levels = np.arange(_OUT_STEPS, dtype=np.float64) / (_OUT_STEPS - 1)
        self._to_code = np.round(255 * np.power(levels, 1 / 2.4)).astype(np.uint8)
        self._to_steps = np.ascontiguousarray(BT2020_TO_BT709[::-1] * (_OUT_STEPS - 1), dtype=np.float32)

    def __call__(self, rgb48: np.ndarray) -> np.ndarray:
        linear = self._to_linear[rgb48]  # BT.2020 primaries, tone-mapped
        # to BT.709, in B, G, R order, in steps of the output table: one pass for the matrix, the flip and the scale
        index = cv2.add(cv2.transform(linear, self._to_steps), 0.5)
        np.clip(index, 0, _OUT_STEPS - 1, out=index)
        return self._to_code[index.astype(np.uint16)]
