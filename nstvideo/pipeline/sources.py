"""Frame sources other than video files: still images and folders of them (video files live in media.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from nstvideo.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".ts", ".flv", ".wmv", ".mpg", ".mpeg")


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 BGR, upright (OpenCV applies EXIF orientation), or a one-line error."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"input {p} not found", "check the path")
    if p.is_dir():
        raise InputError(f"input {p} is a directory", "give an image file, or a directory as both IN and OUT")
    if p.stat().st_size == 0:
        raise InputError(f"input {p} is empty (0 bytes)", "give a jpg, png, webp or bmp image")
    if not is_image_path(p):
        raise InputError(
            f"input {p} is not a supported image type",
            f"supported: {', '.join(IMAGE_SUFFIXES)} (videos: nstvideo file)",
        )
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}", "check its permissions") from exc
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"cannot decode {p}: not a valid image", "the file may be corrupt or mislabelled")
    if min(img.shape[:2]) < 16:
        raise InputError(
            f"image {p} is {img.shape[1]}x{img.shape[0]}; sides must be at least 16 px", "use a bigger image"
        )
    return img


def list_images(folder: str | Path) -> list[Path]:
    """Supported images directly inside `folder`, sorted by name."""
    d = Path(folder)
    files = sorted(p for p in d.iterdir() if p.is_file() and is_image_path(p))
    if not files:
        raise InputError(f"directory {d} has no images", f"supported: {', '.join(IMAGE_SUFFIXES)}")
    return files
