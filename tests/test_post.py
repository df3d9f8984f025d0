"""Temporal smoothing on real optical flow: less flicker where the picture can be followed, no ghosts where not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nstvideo.errors import UsageError
from nstvideo.pipeline.post import TemporalSmoother

H, W = 96, 128


def texture(seed: int, h: int = 160, w: int = 224) -> np.ndarray:
    """A smooth random colour texture: something optical flow can follow."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (5, 5), 0)


def stylise(frame: np.ndarray) -> np.ndarray:
    """A stand-in style that sticks to the content (a colour map), so the right answer is known."""
    return cv2.applyColorMap(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLORMAP_JET)


def flicker(rng: np.random.Generator, img: np.ndarray, amount: float = 12.0) -> np.ndarray:
    """What a per-frame net adds: a different small disturbance every frame."""
    return np.clip(img + rng.normal(0, amount, img.shape), 0, 255).astype(np.uint8)


def change(frames: list[np.ndarray]) -> float:
    return float(np.mean([cv2.absdiff(a, b).mean() for a, b in zip(frames, frames[1:], strict=False)]))


def test_a_still_scene_flickers_less():
    rng = np.random.default_rng(0)
    photo = texture(1)[:H, :W]
    plain = [flicker(rng, stylise(photo)) for _ in range(12)]
    smoother = TemporalSmoother(0.6)
    smoothed = [smoother(photo, s) for s in plain]
    assert change(smoothed[4:]) < 0.6 * change(plain[4:])


def test_moving_content_is_followed_not_ghosted():
    """The camera pans 3 px a frame: the smoothed result stays on the moving picture, where a blend that ignores
    motion smears it."""
    rng = np.random.default_rng(0)
    scene = texture(2)
    photos = [scene[20 : 20 + H, 10 + 3 * i : 10 + 3 * i + W] for i in range(12)]
    truth = [stylise(p) for p in photos]
    smoother = TemporalSmoother(0.6)
    smoothed = [smoother(p, flicker(rng, t)) for p, t in zip(photos, truth, strict=True)]
    blind, last = [], None
    for t in truth:
        s = flicker(rng, t)
        last = s if last is None else cv2.addWeighted(last, 0.6, s, 0.4, 0)
        blind.append(last)
    inner = (slice(8, H - 8), slice(8, W - 8))  # away from the edge the pan brings in
    err = [float(cv2.absdiff(s, t)[inner].mean()) for s, t in zip(smoothed[4:], truth[4:], strict=True)]
    err_blind = [float(cv2.absdiff(s, t)[inner].mean()) for s, t in zip(blind[4:], truth[4:], strict=True)]
    noise = np.mean([cv2.absdiff(flicker(rng, t), t).mean() for t in truth])
    assert np.mean(err) < 0.8 * noise  # closer to the truth than a single noisy frame...
    assert np.mean(err) < 0.5 * np.mean(err_blind)  # ...and far closer than ignoring the motion


def test_a_scene_cut_starts_afresh():
    smoother = TemporalSmoother(0.8)
    a, b = texture(3)[:H, :W], texture(4)[:H, :W]
    smoother(a, stylise(a))
    fresh = stylise(b)
    assert np.array_equal(smoother(b, fresh), fresh)


def test_output_larger_than_the_input_and_reset():
    """Frames may be stylised to another size (--output-size); the flow is scaled to it."""
    photo = texture(5)[:H, :W]
    big = cv2.resize(stylise(photo), (2 * W, 2 * H))
    smoother = TemporalSmoother(0.5)
    smoother(photo, big)
    out = smoother(photo, big)
    assert out.shape == big.shape and cv2.absdiff(out, big).mean() < 2.0  # a still picture stays itself
    smoother.reset()
    other = np.zeros_like(big)
    assert np.array_equal(smoother(photo, other), other)


def test_zero_is_off_and_bad_values_are_refused():
    photo = texture(6)[:H, :W]
    smoother = TemporalSmoother(0.0)
    first, second = stylise(photo), np.zeros_like(photo)
    smoother(photo, first)
    assert smoother(photo, second) is second
    for bad in (-0.1, 0.95, 1.0):
        with pytest.raises(UsageError, match="--smooth"):
            TemporalSmoother(bad)


def test_a_reset_smoother_is_a_new_one():
    # Optical flow keeps state between calls: after reset() the same clip must come out as from a new smoother.
    scene = texture(7)
    frames = [np.ascontiguousarray(np.roll(scene, 3 * i, axis=1)[:H, :W]) for i in range(5)]
    rng = np.random.default_rng(0)
    styled = [flicker(rng, stylise(f)) for f in frames]
    used = TemporalSmoother(0.5)
    first = [used(f, s) for f, s in zip(frames, styled, strict=True)]
    used.reset()
    again = [used(f, s) for f, s in zip(frames, styled, strict=True)]
    fresh = TemporalSmoother(0.5)
    new = [fresh(f, s) for f, s in zip(frames, styled, strict=True)]
    assert all((a == b).all() and (a == c).all() for a, b, c in zip(first, again, new, strict=True))
