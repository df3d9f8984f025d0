"""Frame sinks other than video files (which live in media.py): still images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from nstvideo.errors import ProcessingError, UsageError
from nstvideo.pipeline.outputs import atomic_output
from nstvideo.pipeline.sources import IMAGE_SUFFIXES

JPEG_QUALITY = 95


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode by the file's suffix and write atomically (temp file beside it, then rename)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UsageError(f"output {p} has an unsupported image type", f"use one of: {', '.join(IMAGE_SUFFIXES)}")
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]}
    params[".webp"] = [cv2.IMWRITE_WEBP_QUALITY, JPEG_QUALITY]
    ok, buf = cv2.imencode(suffix, image, params.get(suffix, []))
    if not ok:
        raise ProcessingError(f"could not encode {p}", "try another image format")
    try:
        with atomic_output(p) as tmp:
            buf.tofile(str(tmp))
    except OSError as exc:
        raise ProcessingError(f"cannot write {p}: {exc.strerror}", "check free disk space and permissions") from exc
