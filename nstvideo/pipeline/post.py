"""Post-processing on stylised frames: blend with the original, keep the original's colours."""

from __future__ import annotations

import cv2
import numpy as np


def blend(original: np.ndarray, stylised: np.ndarray, strength: float) -> np.ndarray:
    """strength 1 = fully stylised, 0 = the original."""
    if strength >= 1.0:
        return stylised
    if strength <= 0.0:
        return original
    return cv2.addWeighted(stylised, strength, original, 1.0 - strength, 0.0)


def preserve_color(original: np.ndarray, stylised: np.ndarray) -> np.ndarray:
    """Luminance-only transfer: the stylised image's luma (Y) with the original's chroma (Cr, Cb)."""
    y = cv2.cvtColor(stylised, cv2.COLOR_BGR2YCrCb)[:, :, 0]
    ycc = cv2.cvtColor(original, cv2.COLOR_BGR2YCrCb)
    ycc[:, :, 0] = y
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)


def apply(original: np.ndarray, stylised: np.ndarray, strength: float = 1.0, keep_color: bool = False) -> np.ndarray:
    """Colour preservation first (it changes chroma only), then the strength blend."""
    out = preserve_color(original, stylised) if keep_color else stylised
    return blend(original, out, strength)
