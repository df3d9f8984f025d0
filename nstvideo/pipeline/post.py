"""Post-processing on stylised frames: blend with the original, keep its colours, smooth flicker over time."""

from __future__ import annotations

import numbers

import cv2
import numpy as np

from nstvideo.errors import UsageError


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


FLOW_SIDE = 240  # optical flow runs on a grey copy this small: enough to follow the motion, and cheap
TOLERANCE = 30.0  # grey levels of (blurred) warping error at which a pixel no longer counts as followed
MAX_SMOOTH = 0.9  # beyond this a static pixel remembers 10+ frames: trails, not stability
SCENE_CUT = 0.6  # a frame where more than this share of pixels cannot be followed from the last one starts afresh


def pixel_grid(h: int, w: int) -> np.ndarray:
    """(h, w, 2) float32 of each pixel's own (x, y): add a flow to it and cv2.remap takes it as its map."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.dstack([gx, gy])


def inside(where: np.ndarray) -> np.ndarray:
    """Which positions of a remap map fall inside the image it samples (same size as the map)."""
    h, w = where.shape[:2]
    return (where[..., 0] >= 0) & (where[..., 1] >= 0) & (where[..., 0] <= w - 1) & (where[..., 1] <= h - 1)


class TemporalSmoother:
    """Blend each stylised frame with the previous result, warped along the photo's motion, wherever the photo
    itself can be followed from one frame to the next.

    Why: a per-frame network answers small changes in its input (sensor noise, compression, light) with different
    brush strokes, which shows as flicker. Pixels the flow cannot explain (occlusions, new content, scene cuts) keep
    the fresh stylised frame, so moving things do not leave ghosts. `weight` is how much of the warped previous
    result a followable pixel keeps (0: off); it recurses, so a static pixel remembers about weight / (1 - weight)
    frames.
    """

    def __init__(self, weight: float = 0.5, tolerance: float = TOLERANCE) -> None:
        self.weight = check_smooth(weight)
        self.tolerance = tolerance
        self._grid: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the past (a new clip, a style switch, a seek): a reset smoother is a new one."""
        self._grey: np.ndarray | None = None
        self._result: np.ndarray | None = None
        # DIS keeps state between calls: the same clip after a reset would otherwise come out a little different
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)

    def __call__(self, original: np.ndarray, stylised: np.ndarray) -> np.ndarray:
        if self.weight <= 0.0:
            return stylised
        grey = _small_grey(original)
        prev_grey, prev = self._grey, self._result
        self._grey = grey
        if prev_grey is None or prev is None or prev_grey.shape != grey.shape or prev.shape != stylised.shape:
            self._result = stylised
            return stylised
        flow = self._flow.calc(grey, prev_grey, None)  # for each pixel now, where it was in the previous frame
        h, w = grey.shape
        if self._grid is None or self._grid.shape[:2] != grey.shape:
            self._grid = pixel_grid(h, w)
        where = self._grid + flow  # where each pixel of this frame was in the previous one, small scale
        followed = cv2.remap(prev_grey, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = cv2.GaussianBlur(cv2.absdiff(grey, followed), (5, 5), 0).astype(np.float32)
        trust = np.clip(1.0 - error / self.tolerance, 0.0, 1.0)
        trust[~inside(where)] = 0.0  # came from outside the last frame
        if float(np.mean(trust < 0.5)) > SCENE_CUT:
            self._result = stylised
            return stylised
        oh, ow = stylised.shape[:2]
        scale = np.array([ow / w, oh / h], np.float32)
        # Pixel centres: x_big = (x_small + 0.5) * scale - 0.5; scaling before the (linear) resize is the same, cheaper.
        big = cv2.resize((where + 0.5) * scale - 0.5, (ow, oh), interpolation=cv2.INTER_LINEAR)
        warped = cv2.remap(prev, big, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        keep = cv2.resize(trust * self.weight, (ow, oh), interpolation=cv2.INTER_LINEAR)
        result = cv2.blendLinear(warped, stylised, keep, 1.0 - keep)
        self._result = result
        return result


def is_number(value: object, integer: bool = False) -> bool:
    """A real number (a whole one where `integer`), not a bool or a string: API callers get a UsageError."""
    kind = numbers.Integral if integer else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool)


def check_smooth(weight: float) -> float:
    if not is_number(weight) or not 0.0 <= weight <= MAX_SMOOTH:
        raise UsageError(f"--smooth must be between 0 and {MAX_SMOOTH}, got {weight}", "e.g. --smooth 0.5; 0: off")
    return float(weight)


def _small_grey(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    f = min(1.0, FLOW_SIDE / min(h, w))
    small = frame if f == 1.0 else cv2.resize(frame, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
