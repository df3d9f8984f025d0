"""Frame sources other than video files: still images and folders of them (video files live in media.py)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nstvideo.errors import InputError
from nstvideo.pipeline import log_once

log = logging.getLogger("nstvideo")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: Image types that keep transparency (an input's alpha is carried to an output of these). Not TIFF: OpenCV writes
#: its fourth channel without the tag that says it is alpha.
ALPHA_SUFFIXES = (".png", ".webp")
#: Image types whose transparency is read.
ALPHA_INPUTS = (".png", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (
    ".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".mpg", ".mpeg",
    ".3gp", ".ogv", ".mxf", ".vob", ".dv",
)  # fmt: skip


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
        raise InputError(f"input {p} is empty (0 bytes)", "give a jpg, png, webp, bmp or tiff image")
    if not is_image_path(p):
        raise InputError(
            f"input {p} is not a supported image type",
            f"a GIF is stylised as a video: nstvideo file {p} OUT.mp4"
            if p.suffix.lower() == ".gif"
            else f"supported: {', '.join(IMAGE_SUFFIXES)} (videos: nstvideo file)",
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
    if p.suffix.lower() in (".tif", ".tiff"):
        img = _unpremultiplied(data, img)
    return to_srgb(p, img)


def _unpremultiplied(data: np.ndarray, img: np.ndarray) -> np.ndarray:
    """An RGBA TIFF's colours as they are: OpenCV (libtiff's RGBA reader) hands them back multiplied by their
    alpha, so half-transparent parts came out darker."""
    full = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if full is None or full.ndim != 3 or full.shape[2] != 4 or full.shape[:2] != img.shape[:2]:
        return img  # no alpha (or turned by its orientation tag: not matched)
    alpha = full[:, :, 3].astype(np.float32)
    if full.dtype == np.uint16:
        alpha /= 257
    if alpha.min() >= 255:
        return img
    scale = np.where(alpha > 0, 255 / np.maximum(alpha, 1), 0)[:, :, None]
    return np.clip(np.round(img.astype(np.float32) * scale), 0, 255).astype(np.uint8)


def read_painting(path: str | Path) -> np.ndarray:
    """A style image, BGR, with errors that say it is the painting that is wrong. Transparent parts are laid on
    white (under them is any colour at all, often black, which would enter the style's palette)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"style image {p} is a directory", "give one painting (jpg, png, webp, bmp or tiff)")
    try:
        img = read_image(p)
    except InputError as exc:
        hint = "give a painting as an image file" if "videos:" in (exc.hint or "") else exc.hint
        raise InputError(f"style image: {exc.message}", hint) from None
    extras = read_extras(p)
    if extras.alpha is not None and extras.alpha.shape == img.shape[:2]:
        a = extras.alpha.astype(np.float32)[:, :, None] / 255
        img = np.round(img * a + 255 * (1 - a)).astype(np.uint8)
        log_once(f"note: the painting {p.name} is partly transparent; its transparent parts are taken as white")
    if extras.animated:
        log_once(f"note: the painting {p.name} is animated; its first frame is used")
    return img


def to_srgb(path: Path, img: np.ndarray, quiet: bool = False) -> np.ndarray:
    """The photo in sRGB: one with another embedded profile (Adobe RGB from a camera, Display P3 from a phone)
    would otherwise be read as sRGB — duller, and written untagged, so shown duller still. The nets were trained on
    sRGB and an untagged output means sRGB, so its pixels are converted (perceptual intent, LittleCMS via Pillow).
    `quiet`: the note goes to the debug log (hundreds of training photos)."""
    import io

    level = logging.DEBUG if quiet else logging.INFO

    from PIL import Image, ImageCms, UnidentifiedImageError

    try:
        with Image.open(path) as im:  # reads the header only
            icc = im.info.get("icc_profile")
        if not icc:
            return img
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = (profile.profile.profile_description or "an unnamed profile").strip()
        if profile.profile.xcolor_space.strip() != "RGB" or "srgb" in name.lower():
            return img  # sRGB already, or a CMYK/grey profile OpenCV's conversion has already left behind
        transform = ImageCms.buildTransform(
            profile, ImageCms.createProfile("sRGB"), "RGB", "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
        )
        rgb = ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(img[:, :, ::-1])), transform)
    except (OSError, ValueError, UnidentifiedImageError, ImageCms.PyCMSError) as exc:
        log_once(f"note: {path.name}'s colour profile cannot be read ({exc}); its colours are taken as sRGB", level)
        return img
    log_once(f"note: {path.name}'s colours converted from {name} to sRGB", level)
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


@dataclass(frozen=True)
class ImageExtras:
    """What read_image drops: the nets take 8-bit colour only."""

    alpha: np.ndarray | None  # HxW uint8; None when the image has none or is opaque everywhere
    bits: int  # per channel: 16 for a 16-bit PNG, else 8
    animated: bool = False  # an animated WebP/PNG, of which only the first frame is read


def read_extras(path: str | Path) -> ImageExtras:
    """The image's transparency and bit depth, so a logo or sticker keeps its alpha where the output can hold it,
    and a 16-bit photo is said to come out at 8 bits."""
    p = Path(path)
    if p.suffix.lower() not in ALPHA_INPUTS:
        return ImageExtras(None, 8)
    animated = is_animated(p)
    img = cv2.imdecode(np.fromfile(str(p), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        return ImageExtras(None, 8, animated)
    bits = 16 if img.dtype == np.uint16 else 8
    if img.ndim != 3 or img.shape[2] != 4:
        return ImageExtras(None, bits, animated)
    alpha = img[:, :, 3]
    if bits == 16:
        alpha = np.round(alpha.astype(np.float32) / 257).astype(np.uint8)
    return ImageExtras(None if alpha.min() == 255 else alpha, bits, animated)


def is_animated(path: str | Path) -> bool:
    """An animated WebP or PNG (APNG): OpenCV reads their first frame only, FFmpeg cannot read animated WebP."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return b"ANIM" in head[12:4096]
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        idat = head.find(b"IDAT")
        return b"acTL" in head[: idat if idat > 0 else len(head)]
    return False


#: System folders at a drive's root that hold no one's footage: Windows' recycle bin (deleted videos, under their
#: suffixes) and restore points, ext4's lost+found.
SYSTEM_FOLDERS = frozenset({"$recycle.bin", "system volume information", "lost+found"})


def is_hidden(path: Path) -> bool:
    """A dot file: macOS's `._NAME` companions on exFAT/FAT drives (NAME's metadata under an image's or a video's
    suffix, unreadable as one), `.DS_Store`, `.Trashes`, editors' and our own temp files; or a drive's system
    folder (SYSTEM_FOLDERS). Folder runs leave them alone."""
    return path.name.startswith(".") or path.name.lower() in SYSTEM_FOLDERS


def list_files(
    folder: Path, suffixes: Sequence[str], noun: str, hint: str = "", *, recursive: bool = False,
    exclude: Path | None = None,
) -> list[Path]:  # fmt: skip
    """The files of these suffixes inside `folder` (and, `recursive`, in its subfolders), sorted by name, but dot
    files and dot folders (`is_hidden`: a card's `.Trashes`, `.Spotlight-V100`); a link to a missing file is warned
    about (footage on an unplugged drive), not silently passed over. `exclude`: a folder not to go into (a folder
    run's OUT inside its IN: its outputs are not inputs). Linked folders are followed, each real folder once."""
    files = _find(folder, suffixes, recursive, exclude, quiet=False)
    if not files:
        deeper = 0
        if not recursive:
            deeper = len(_find(folder, suffixes, True, exclude, quiet=True))
        raise InputError(
            f"directory {folder} has no {noun}s" + (f" (its subfolders have {deeper})" if deeper else ""),
            "add --recursive (-r) to take those too, their subfolders kept in OUT" if deeper
            else f"supported: {', '.join(suffixes)}" + (f"; {hint}" if hint else ""),
        )  # fmt: skip
    return files


def _find(folder: Path, suffixes: Sequence[str], recursive: bool, exclude: Path | None, quiet: bool) -> list[Path]:
    """The walk of list_files. Real folders are read before linked ones, so a folder reached both ways keeps its
    own name; a subfolder that cannot be read (a drive's root-only `lost+found`) is passed over with a warning."""
    files: list[Path] = []
    read: dict[tuple[int, int] | None, Path] = {}
    links: list[Path] = []
    skip = identity(exclude) if exclude is not None and os.path.isdir(exclude) else None
    note = (lambda *_: None) if quiet else log.info
    warn = (lambda *_: None) if quiet else log.warning

    def walk(d: Path) -> None:
        if (ident := identity(d)) is not None:
            read[ident] = d
        for p in _entries(d):
            if is_hidden(p):
                continue
            try:
                if recursive and p.is_dir():
                    if p.is_symlink():
                        links.append(p)  # after every real folder
                    else:
                        enter(p)
                elif p.suffix.lower() not in suffixes:
                    continue
                elif p.is_symlink() and not p.exists():
                    warn("warning: %s links to %s, which is missing: passed over", p, os.readlink(p))
                elif p.is_file():
                    files.append(p)
            except OSError as exc:  # a folder readable but not searchable (no x bit): its names, not its files
                why = f"cannot read the files of {d}: {exc.strerror or exc}"
                raise InputError(why, "check its permissions (a folder needs x too)") from exc

    def enter(p: Path) -> None:
        if (ident := identity(p)) is not None and ident == skip:
            note("note: %s is the output folder: not read as input", p)
        elif ident is not None and ident in read:
            note("note: %s is %s, read already: passed over", p, read[ident])
        else:
            try:
                walk(p)
            except InputError as exc:
                warn("warning: %s: passed over", exc.message)

    walk(folder)
    while links:
        with contextlib.suppress(OSError):  # gone since
            enter(links.pop(0))
    return sorted(files)


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        raise InputError(f"cannot list directory {folder}: {exc.strerror or exc}", "check its permissions") from exc


def identity(path: Path) -> tuple[int, int] | None:
    """What makes a file or folder itself, whatever the path to it (links, another spelling); None where the
    system cannot say (an inode number of 0: some Windows network drives), so nothing is taken for another thing."""
    st = path.stat()
    return (st.st_dev, st.st_ino) if st.st_ino else None
