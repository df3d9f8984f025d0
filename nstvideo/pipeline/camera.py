"""Live frame sources: a webcam (OpenCV), or a file / URL played as if it were one (PyAV, paced at its frame rate).

`CameraSource.read()` blocks until the next frame and returns it (None when a file or finite URL has ended). A
webcam that stops delivering is retried for a few seconds and then reported with `CameraLostError`, so the live
loop can finalise its outputs and exit with one line instead of hanging. `probe_cameras()` lists the cameras that
actually open, for `doctor` and for the error when the requested one does not.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from nstvideo.errors import InputError, ProcessingError, UsageError
from nstvideo.pipeline.media import FileSource

log = logging.getLogger("nstvideo")

DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_FPS = 1280, 720, 30.0
RETRY_S = 4.0  # how long a lost camera is retried before giving up
URL_OPEN_TIMEOUT_S = 10.0
URL_READ_TIMEOUT_S = 2.0
DEVICE_READ_TIMEOUT_MS = 2000
PROBE_INDICES = range(5)
# Protocols whose end of stream means the sender went away (reconnect), rather than the end of a finite file.
LIVE_PROTOCOLS = ("udp", "rtp", "rtsp", "rtsps", "srt", "rtmp", "rtmps", "tcp")
_MJPG = cv2.VideoWriter_fourcc(*"MJPG")


class CameraLostError(ProcessingError):
    """The camera stopped delivering frames and did not come back."""


@dataclass(frozen=True)
class CameraProbe:
    """One camera found by `probe_cameras`."""

    id: str  # what to pass as --camera
    name: str
    opens: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    note: str = ""

    def describe(self) -> str:
        size = f", {self.width}x{self.height}" if self.width else ""
        fps = f" at {self.fps:g} fps" if self.fps else ""
        name = f" ({self.name})" if self.name else ""
        return f"{self.id}{name}{size}{fps}"


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV prints WARN lines to stderr for every camera that does not open; the caller reports it instead."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def _backend() -> int:
    """V4L2 on Linux (OpenCV's FFmpeg fallback cannot open devices and only adds noise); the default elsewhere."""
    return cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY


def sysfs_name(device: str) -> str:
    """The driver's name for /dev/videoN on Linux (`/sys/class/video4linux/videoN/name`), or ''."""
    try:
        return Path("/sys/class/video4linux", Path(device).name, "name").read_text().strip()
    except OSError:
        return ""


def linux_video_devices() -> list[str]:
    """/dev/video* in numeric order."""
    found = Path("/dev").glob("video*")
    return sorted((str(p) for p in found if re.fullmatch(r"video\d+", p.name)), key=lambda s: int(s[10:]))


def _open_capture(target: int | str, width: int, height: int, fps: float) -> tuple[cv2.VideoCapture, np.ndarray]:
    """An opened VideoCapture and its first frame, or OSError. MJPG is requested above 640x480: uncompressed YUYV
    over USB 2 tops out at a few fps at 720p."""
    with _quiet_opencv():
        cap = cv2.VideoCapture(target, _backend())
        if not cap.isOpened():
            cap.release()
            raise OSError("does not open")
        if width * height > 640 * 480:
            cap.set(cv2.CAP_PROP_FOURCC, _MJPG)
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # fewer queued frames: less latency where the backend honours it
        cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, DEVICE_READ_TIMEOUT_MS)  # a lost camera fails fast, not after 10 s
        ok, frame = cap.read()
    if not ok or frame is None:
        cap.release()
        raise OSError("opens but delivers no frames")
    return cap, frame


def probe_cameras(indices: range = PROBE_INDICES) -> list[CameraProbe]:
    """Every camera candidate with whether it opens and its default size. Linux: /dev/video* (index N is
    /dev/videoN); elsewhere: indices 0-4."""
    probes: list[CameraProbe] = []
    if sys.platform.startswith("linux"):
        candidates: list[tuple[str, int | str, str]] = []
        for dev in linux_video_devices():
            candidates.append((dev[10:], dev, sysfs_name(dev)))
    else:
        candidates = [(str(i), i, "") for i in indices]
    for ident, target, name in candidates:
        try:
            with _quiet_opencv():
                cap = cv2.VideoCapture(target, _backend())
                opened = cap.isOpened()
                if opened:  # a loopback device with no writer would otherwise block for 10 s
                    cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, DEVICE_READ_TIMEOUT_MS)
                ok, frame = cap.read() if opened else (False, None)
                fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) if opened else 0.0
                cap.release()
        except cv2.error as exc:
            probes.append(CameraProbe(ident, name, False, note=str(exc).strip().splitlines()[-1][:80]))
            continue
        if not opened:
            probes.append(CameraProbe(ident, name, False, note="does not open (in use, no permission or not a camera)"))
        elif not ok or frame is None:
            virtual = any(k in name.lower() for k in ("dummy", "loopback", "virtual"))
            note = "a virtual camera nothing feeds" if virtual else "opens but gives no frames (metadata node?)"
            probes.append(CameraProbe(ident, name, False, note=note))
        else:
            h, w = frame.shape[:2]
            probes.append(CameraProbe(ident, name, True, w, h, fps))
    return probes


def _no_camera_error(spec: str, why: str) -> InputError:
    working = [p for p in probe_cameras() if p.opens]
    listing = "; ".join(p.describe() for p in working) if working else "none found"
    return InputError(
        f"camera {spec} {why}; cameras that open here: {listing}",
        "pick one of those with --camera N (or a /dev/videoN path); check it is connected and not used by another "
        "app (Linux: permissions on /dev/video*, the video group); or give a video file or URL as --camera",
    )


def _is_url(spec: str) -> bool:
    return "://" in spec


class CameraSource:
    """A webcam (index or device path), or a video file / URL paced like one.

    `width`/`height`/`fps` are requests for webcams (the camera picks the nearest mode it has; the actual values
    are in `.width`, `.height`, `.fps`); files and URLs play at their own size and rate.
    """

    def __init__(
        self,
        spec: str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        loop: bool = False,
    ) -> None:
        self.spec = str(spec)
        self.loop = loop
        self._req = (width or DEFAULT_WIDTH, height or DEFAULT_HEIGHT, float(fps or DEFAULT_FPS))
        if self._req[0] < 16 or self._req[1] < 16 or self._req[2] <= 0:
            raise UsageError(f"invalid camera mode {width}x{height} at {fps} fps", "e.g. --width 1280 --height 720")
        self._cap: cv2.VideoCapture | None = None
        self._file: FileSource | None = None
        self._frames: Iterator = iter(())
        self._container: av.container.InputContainer | None = None
        self._pending: np.ndarray | None = None
        self._clock: tuple[float, float] | None = None  # (wall time, media time) pacing anchor
        self._loop_offset = 0.0  # --loop: media time of the passes before this one, so pacing runs on across a wrap
        self._pass_end = 0.0  # where this pass's last frame stops being shown
        self.fourcc = ""
        if _is_url(self.spec):
            self.kind = "url"
            self._open_url()
        elif re.fullmatch(r"\d+", self.spec) or self.spec.startswith("/dev/"):
            self.kind = "device"
            self._target: int | str = int(self.spec) if self.spec.isdigit() else self.spec
            self._open_device()
        elif Path(self.spec).exists():
            self.kind = "file"
            self._open_file()
        else:
            raise InputError(
                f"--camera {self.spec}: no such file, and not a camera index, device path or URL",
                "give a camera index (0), a device (/dev/video0), a video file or a URL (udp://..., rtsp://...)",
            )
        if self.kind != "device" and (width or height or fps):
            log.info("note: --width/--height/--fps apply to webcams; %s plays at its own size and rate", self.spec)

    # -- opening -----------------------------------------------------------------------------------------------------

    def _open_device(self) -> None:
        w, h, fps = self._req
        try:
            self._cap, first = _open_capture(self._target, w, h, fps)
        except (OSError, cv2.error) as exc:
            raise _no_camera_error(self.spec, str(exc).strip().splitlines()[-1]) from None
        self._pending = first
        self.height, self.width = first.shape[:2]
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0) or fps
        code = int(self._cap.get(cv2.CAP_PROP_FOURCC) or 0)
        self.fourcc = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip("\0 ") if code else ""
        name = sysfs_name(self.spec if self.spec.startswith("/dev/") else f"/dev/video{self.spec}")
        self.description = f"camera {self.spec}" + (f" ({name})" if name else "")

    def _open_file(self) -> None:
        self._file = FileSource(self.spec)
        info = self._file.info
        self.width, self.height = info.width, info.height
        self.fps = float(info.fps) if info.fps else DEFAULT_FPS
        self._tb = info.time_base
        self._frames = self._file.frames()
        self.description = f"file {self.spec}"

    def _open_url(self) -> None:
        try:
            self._container = av.open(self.spec, "r", timeout=(URL_OPEN_TIMEOUT_S, URL_READ_TIMEOUT_S))
        except (av.FFmpegError, OSError) as exc:
            detail = " ".join(str(exc).split())
            if "Immediate exit requested" in detail:  # FFmpeg's words for its own timeout
                detail = f"nothing arrived within {URL_OPEN_TIMEOUT_S:g} s"
            raise InputError(
                f"cannot open camera URL {self.spec}: {detail}",
                "check the address, and that the sender is running and sending video",
            ) from None
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.spec} has no video stream", "give a URL that carries video")
        vs = self._container.streams.video[0]
        vs.thread_type = "AUTO"
        self._frames = self._container.decode(vs)
        first = self._next_url_frame()
        if first is None:
            raise InputError(f"{self.spec} sent no video frames", "check that the sender is running")
        self._pending = first  # shown, not only measured
        self.height, self.width = first.shape[:2]
        rate = vs.average_rate or vs.guessed_rate
        self.fps = float(rate) if rate else DEFAULT_FPS
        self.description = f"stream {self.spec}"

    # -- reading -----------------------------------------------------------------------------------------------------

    def read(self, stop: threading.Event | None = None) -> np.ndarray | None:
        """The next frame (BGR), paced for files and URLs; None when the source has ended."""
        stop = stop or threading.Event()
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self.kind == "device":
            return self._read_device(stop)
        if self.kind == "file":
            return self._read_file(stop)
        return self._read_url(stop)

    def _read_device(self, stop: threading.Event) -> np.ndarray | None:
        ok, frame = self._cap.read() if self._cap is not None else (False, None)
        if ok and frame is not None:
            return frame
        log.warning("warning: %s stopped delivering frames; retrying for %g s", self.description, RETRY_S)
        deadline = time.monotonic() + RETRY_S
        while time.monotonic() < deadline and not stop.is_set():
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            try:
                self._cap, frame = _open_capture(self._target, self.width, self.height, self.fps)
            except (OSError, cv2.error):
                stop.wait(0.5)
                continue
            if frame.shape[:2] == (self.height, self.width):
                log.warning("%s is back", self.description)
                return frame
            self._cap.release()  # came back in another mode: outputs are sized for the old one
            self._cap = None
            break
        if stop.is_set():
            return None
        raise self._lost()

    def _lost(self) -> CameraLostError:
        return CameraLostError(
            f"{self.description} stopped delivering frames and did not come back within {RETRY_S:g} s",
            "check the cable or the sender, and that no other app took the camera; outputs so far were saved",
        )

    def _pace(self, media_t: float, stop: threading.Event) -> None:
        """Hold a frame until its time comes; if we fall behind, re-anchor instead of racing to catch up."""
        now = time.monotonic()
        if self._clock is None:
            self._clock = (now, media_t)
            return
        due = self._clock[0] + (media_t - self._clock[1])
        if due > now + 1.0 or now > due + 0.25:  # a jump in timestamps, or slow decoding: start again from here
            self._clock = (now, media_t)
            return
        if due > now:
            stop.wait(due - now)

    def _read_file(self, stop: threading.Event) -> np.ndarray | None:
        item = next(self._frames, None)
        if item is None:
            if not self.loop or self._file is None:
                return None
            self._file.close()
            self._open_file()  # play it again, its last frame shown for its time (a still image: 1/fps)
            self._loop_offset, self._pass_end = self._loop_offset + self._pass_end, 0.0
            item = next(self._frames, None)
            if item is None:
                return None
        t = float(item.pts * self._tb)
        shown = float(item.duration * self._tb) if item.duration else 1.0 / self.fps
        self._pass_end = max(self._pass_end, t + shown)
        self._pace(self._loop_offset + t, stop)
        return item.image

    def _next_url_frame(self) -> np.ndarray | None:
        try:
            frame = next(self._frames, None)
        except (av.FFmpegError, OSError):
            return None
        if frame is None:
            return None
        self._url_t = float(frame.time) if frame.time is not None else None
        return frame.to_ndarray(format="bgr24")

    def _read_url(self, stop: threading.Event) -> np.ndarray | None:
        image = self._next_url_frame()
        if image is None:
            live = self.spec.split("://", 1)[0].lower() in LIVE_PROTOCOLS
            if not live and not self.loop:
                return None  # a finite file over http(s): it ended
            log.warning("warning: %s stopped delivering frames; retrying for %g s", self.description, RETRY_S)
            deadline = time.monotonic() + RETRY_S
            while image is None and time.monotonic() < deadline and not stop.is_set():
                self._close_container()
                try:
                    self._container = av.open(self.spec, "r", timeout=(RETRY_S / 2, URL_READ_TIMEOUT_S))
                    self._frames = self._container.decode(self._container.streams.video[0])
                except (av.FFmpegError, OSError, IndexError):
                    stop.wait(0.5)
                    continue
                image = self._next_url_frame()
            if stop.is_set():
                return None
            if image is None:
                raise self._lost()
            if image.shape[:2] != (self.height, self.width):
                raise ProcessingError(
                    f"{self.spec} came back at {image.shape[1]}x{image.shape[0]}, not {self.width}x{self.height}",
                    "restart nstvideo webcam for the new size",
                )
            self._clock = None
        if self._url_t is not None:
            self._pace(self._url_t, stop)
        return image

    # -- closing -----------------------------------------------------------------------------------------------------

    def _close_container(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None

    def close(self) -> None:
        """Release the camera / demuxer."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._close_container()

    def __enter__(self) -> CameraSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def frame_rate(self) -> Fraction:
        """The source's rate as a fraction (for encoders)."""
        return Fraction(self.fps).limit_denominator(1001)
