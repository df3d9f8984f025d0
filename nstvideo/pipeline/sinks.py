"""Frame sinks other than video files (which live in media.py): still images, and the live sinks: preview
window, virtual camera and network stream."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
import socket
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from nstvideo.errors import DeviceUnavailableError, ProcessingError, UsageError
from nstvideo.pipeline.outputs import atomic_output
from nstvideo.pipeline.sources import IMAGE_SUFFIXES

JPEG_QUALITY = 95


def check_image_suffix(path: str | Path) -> None:
    """Refuse an output image name whose type we cannot write (before any work is done)."""
    p = Path(path)
    if p.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(
            f"output {p} has an unsupported image type",
            f"use one of: {', '.join(IMAGE_SUFFIXES)}" + ("" if p.suffix else f"; or write {p}/ for a folder"),
        )


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode by the file's suffix and write atomically (temp file beside it, then rename)."""
    p = Path(path)
    check_image_suffix(p)
    suffix = p.suffix.lower()
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]}
    params[".webp"] = [cv2.IMWRITE_WEBP_QUALITY, JPEG_QUALITY]
    ok, buf = cv2.imencode(suffix, image, params.get(suffix, []))
    if not ok:
        raise ProcessingError(f"could not encode {p}", "try another image format")
    try:
        with atomic_output(p) as tmp, open(tmp, "wb") as f:
            f.write(buf.tobytes())  # numpy's tofile loses the errno (a full disk said "N requested and M written")
    except OSError as exc:
        reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc) or "write failed")
        raise ProcessingError(f"cannot write {p}: {reason}", "check free disk space and permissions") from exc


# -- live sinks: each is open (constructor), send(image), close(), like pyvirtualcam's Camera -----------------------


def display_problem() -> str:
    """Why no window can open here ('' if one can): Qt-based OpenCV aborts the whole process, without a Python
    error, when it cannot reach the display, so the display is checked first."""
    if sys.platform.startswith(("win", "darwin")):
        return ""
    display = os.environ.get("DISPLAY", "")
    if not display:
        if os.environ.get("WAYLAND_DISPLAY"):
            return "OpenCV's window needs X11, and this Wayland session has no XWayland ($DISPLAY is not set)"
        return "no display to open the preview window on ($DISPLAY and $WAYLAND_DISPLAY are not set)"
    if not _x_display_answers(display):
        return f"cannot connect to the X display {display!r} ($DISPLAY)"
    if not _x_display_accepts(display):
        return f"the X display {display!r} refused the connection (not authorised: check $XAUTHORITY, or xhost)"
    return ""


def _x_display_answers(display: str) -> bool:
    """Whether an X server listens for DISPLAY ([host]:N[.screen]): its Unix socket locally, else TCP 6000+N."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not number.isdigit():
        return False
    if host.startswith("/"):  # macOS XQuartz style: a socket path
        return Path(display).exists() or Path(host).exists()
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(f"/tmp/.X11-unix/X{number}")
            return True
        with socket.create_connection((host, 6000 + int(number)), timeout=1):
            return True
    except OSError:
        return False


def _x_display_accepts(display: str) -> bool:
    """Whether the X server completes the connection handshake (authorisation included), asked through libxcb as
    Qt asks; True where libxcb cannot be loaded (nothing to ask with: Qt will say what is wrong)."""
    name = ctypes.util.find_library("xcb")
    if name is None:
        return True
    try:
        xcb = ctypes.CDLL(name)
    except OSError:
        return True
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    with _stderr_silenced():  # libxcb prints "Authorization required, ..." itself; our error line says it
        conn = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        xcb.xcb_disconnect(conn)


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Silence what C libraries write to file descriptor 2 (Python's own sys.stderr is untouched)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quiet_qt_fonts() -> None:
    """OpenCV's PyPI wheels bundle Qt without fonts, and Qt then prints a warning per draw; point it at the
    system's fonts (the overlay itself is drawn by OpenCV and needs none)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_FONTDIR"):
        return
    for root in ("/usr/share/fonts", "/usr/local/share/fonts"):
        font = next(Path(root).glob("**/*.ttf"), None) if Path(root).is_dir() else None
        if font is not None:
            os.environ["QT_QPA_FONTDIR"] = str(font.parent)
            return


def opencv_gui() -> str:
    """OpenCV's GUI backend (GTK, QT, WIN32, COCOA...) from its build information; '' for a headless build."""
    lines = cv2.getBuildInformation().splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("GUI:"):
            value = line.split(":", 1)[1].strip()
            if value.upper() == "NONE":
                return ""
            if value:
                return value
            for nxt in lines[i + 1 : i + 6]:  # older builds list the backends below: "GTK+: YES (ver ...)"
                key, _, val = nxt.strip().partition(":")
                if key.strip().upper().startswith(("GTK", "QT", "WIN32", "COCOA")) and "YES" in val.upper():
                    return key.strip()
            return ""
    return ""


class PreviewWindow:
    """An OpenCV highgui window; refuses with one line where OpenCV was built without GUI support."""

    def __init__(self, title: str = "nstvideo") -> None:
        self.title = title
        self._fullscreen = False
        no_gui = DeviceUnavailableError(
            "this OpenCV has no GUI support (opencv-python-headless), so there is no preview window",
            "pip install opencv-python (after pip uninstall opencv-python-headless), or pass --no-window",
        )
        if not opencv_gui():
            raise no_gui
        problem = display_problem()
        if problem:
            raise DeviceUnavailableError(problem, "run it from a desktop session, or pass --no-window (headless)")
        _quiet_qt_fonts()
        try:  # no toolbar or status bar (Qt's default): the picture is the whole window
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error:
            raise no_gui from None
        self._open = True
        self._sized = False

    def send(self, image: np.ndarray) -> None:
        """Show a frame (it appears at the next `poll_key`)."""
        if not self._sized:  # a resizable window starts at the first frame's size, not the toolkit's default
            self._sized = True
            cv2.resizeWindow(self.title, image.shape[1], image.shape[0])
        cv2.imshow(self.title, image)

    def poll_key(self, wait_ms: int = 1) -> int:
        """Run the GUI event loop for `wait_ms` and return the key pressed (-1: none); arrows keep their codes."""
        return cv2.waitKeyEx(wait_ms)

    @property
    def closed(self) -> bool:
        """True once the user closed the window with its close button."""
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def set_fullscreen(self, on: bool) -> None:
        if on != self._fullscreen:
            mode = cv2.WINDOW_FULLSCREEN if on else cv2.WINDOW_NORMAL
            cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, mode)
            self._fullscreen = on

    def close(self) -> None:
        if self._open:
            self._open = False
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # lets the GUI actually remove the window


def virtual_camera_hint() -> str:
    """How to get a virtual-camera backend on this OS."""
    if sys.platform.startswith("linux"):
        return (
            "load v4l2loopback: sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
            "(package v4l2loopback-dkms on Debian/Ubuntu/Arch, akmod-v4l2loopback from RPM Fusion on Fedora)"
        )
    return "install OBS Studio 26 or newer (macOS 13+: OBS 30+) and start its virtual camera once, then stop it"


class VirtualCameraSink:
    """Frames to a virtual webcam (v4l2loopback on Linux, OBS on Windows/macOS) through pyvirtualcam."""

    def __init__(self, width: int, height: int, fps: float, device: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise DeviceUnavailableError(
                "pyvirtualcam is not installed, so there is no virtual camera",
                f'pip install "nstvideo[virtualcam]"; it also needs a backend: {virtual_camera_hint()}',
            ) from None
        try:
            self._cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, device=device)
        except (RuntimeError, ValueError, OSError) as exc:
            text = " ".join(str(exc).split()).replace(" See also pyvirtualcam's documentation.", "")
            where = f" {device}" if device else ""
            raise DeviceUnavailableError(f"no virtual camera{where} available: {text}", virtual_camera_hint()) from None
        self.device = self._cam.device
        self.width, self.height = width, height

    def send(self, image: np.ndarray) -> None:
        """Hand one BGR frame to the virtual camera (it must be width x height)."""
        self._cam.send(image)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._cam.close()


@functools.lru_cache(maxsize=2)
def ffmpeg_protocols(output: bool = True) -> frozenset[str] | None:
    """Protocols the FFmpeg inside PyAV has (`avio_enum_protocols`); None where its library cannot be found.

    PyAV 18 has no `protocols_available`, and `av.open(url, "w")` connects lazily, so an open cannot tell either.
    """
    lib = _libavformat()
    if lib is None:
        return None
    try:
        enum = lib.avio_enum_protocols
        enum.restype = ctypes.c_char_p
        enum.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        opaque = ctypes.c_void_p(None)
        names = set()
        while (name := enum(ctypes.byref(opaque), int(output))) is not None:
            names.add(name.decode())
    except (AttributeError, OSError):
        return None
    return frozenset(names)


def _libavformat() -> ctypes.CDLL | None:
    """The libavformat PyAV loaded: from the process's memory map (Linux), else beside the av package."""
    import av

    candidates: list[str] = []
    with contextlib.suppress(OSError), open("/proc/self/maps") as maps:
        candidates += [line.split()[-1] for line in maps if "avformat" in line.rsplit("/", 1)[-1]]
    here = Path(av.__file__).resolve().parent
    for folder in (here.parent / "av.libs", here / ".dylibs", here):
        if folder.is_dir():
            candidates += [str(p) for p in folder.iterdir() if "avformat" in p.name]
    for path in dict.fromkeys(candidates):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


STREAM_SCHEMES = ("udp", "srt")
UDP_PACKET = 1316  # 7 MPEG-TS packets: fits one Ethernet frame, the size players and OBS expect


def check_stream_url(url: str) -> str:
    """Refuse a --stream URL that cannot work before anything starts; returns the URL to open (with pkt_size)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in STREAM_SCHEMES:
        raise UsageError(
            f"--stream {url}: unsupported protocol {scheme or '(none)'}",
            "use udp://HOST:PORT (e.g. udp://127.0.0.1:5000), or srt://HOST:PORT where FFmpeg has SRT",
        )
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or not port:
        raise UsageError(f"--stream {url}: needs a host and a port", f"e.g. {scheme}://127.0.0.1:5000")
    protocols = ffmpeg_protocols(output=True)
    if scheme not in (protocols or {scheme}):
        raise DeviceUnavailableError(
            f"this FFmpeg build (in PyAV's wheel) has no {scheme.upper()} support, so --stream {scheme}:// cannot work",
            "use --stream udp://HOST:PORT, or install PyAV built against an FFmpeg with libsrt",
        )
    try:
        socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(
            f"--stream {url}: cannot find host {parts.hostname} ({exc.strerror if isinstance(exc, OSError) else exc})",
            "check the name, or give the receiver's IP address",
        ) from None
    url = scheme + url[len(parts.scheme) :]  # FFmpeg knows "udp", not "UDP"
    query = parse_qs(parts.query)
    if scheme == "udp" and parts.hostname == "255.255.255.255" and "broadcast" not in query:
        raise UsageError(
            f"--stream {url}: sending to the broadcast address needs FFmpeg's broadcast option",
            f"add it: --stream '{url}{'&' if parts.query else '?'}broadcast=1' (or send to one address)",
        )
    if scheme == "udp" and "pkt_size" not in query:
        # PyAV 18 does not pass open options to the protocol, so the datagram size goes in the URL.
        url = f"{url}{'&' if parts.query else '?'}pkt_size={UDP_PACKET}"
    return url


class StreamSink:
    """Low-latency H.264 in MPEG-TS over UDP (or SRT): libx264 zerolatency, no B-frames, a keyframe every second
    so a player that joins late starts within a second (OBS Media Source, VLC, ffplay)."""

    def __init__(self, url: str, width: int, height: int, fps: float, preset: str = "veryfast") -> None:
        import av
        from av.video.reformatter import VideoReformatter

        self.url = url
        self.width, self.height = width, height
        self._pad = (width + width % 2, height + height % 2)  # yuv420p needs even sides
        self._reformatter = VideoReformatter()
        self._last_pts = -1
        self._av = av
        target = check_stream_url(url)
        if "libx264" not in av.codecs_available:
            raise DeviceUnavailableError("this FFmpeg build has no libx264 encoder", "install PyAV's official wheel")
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)
        try:
            self._out = av.open(target, "w", format="mpegts", container_options={"flush_packets": "1"})
            vs = self._out.add_stream("libx264", rate=rate)
            vs.width, vs.height = self._pad
            vs.pix_fmt = "yuv420p"
            cc = vs.codec_context
            cc.time_base = Fraction(1, 1000)  # frames are timed by their capture time, in ms
            cc.framerate = rate
            cc.gop_size = max(1, round(float(rate)))
            cc.max_b_frames = 0
            cc.colorspace = cc.color_primaries = cc.color_trc = 1  # BT.709
            cc.color_range = 1  # limited
            cc.options = {"preset": preset, "tune": "zerolatency", "crf": "23"}
            self._stream = vs
            self._out.start_encoding()  # opens the socket now, so a bad address is refused before frames flow
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._abort()
            raise DeviceUnavailableError(
                f"cannot open stream {url}: {' '.join(str(exc).split())}", "check the host and port"
            ) from None

    def send(self, image: np.ndarray, t: float) -> None:
        """Encode and send one BGR frame captured `t` seconds after the stream started."""
        from nstvideo.pipeline.media import bgr_to_yuv

        av = self._av
        if self._pad != (self.width, self.height):
            image = cv2.copyMakeBorder(
                image, 0, self._pad[1] - self.height, 0, self._pad[0] - self.width, cv2.BORDER_REPLICATE
            )
        pts = max(int(round(t * 1000)), self._last_pts + 1)
        self._last_pts = pts
        yuv = bgr_to_yuv(self._reformatter, image)
        yuv.pts = pts
        yuv.time_base = Fraction(1, 1000)
        try:
            self._out.mux(self._stream.encode(yuv))
        except (av.FFmpegError, OSError) as exc:
            if getattr(exc, "errno", None) == errno.ECONNREFUSED:
                return  # nobody listening yet (ICMP port unreachable): a live stream just carries on
            raise ProcessingError(
                f"stream {self.url} failed: {' '.join(str(exc).split())}",
                "check the network and the receiver's address; --debug shows FFmpeg's own messages",
            ) from None

    def _abort(self) -> None:
        out = getattr(self, "_out", None)
        if out is not None:
            with contextlib.suppress(Exception):
                out.close()
            self._out = None

    def close(self) -> None:
        """Flush the encoder and close the connection."""
        if getattr(self, "_out", None) is None:
            return
        with contextlib.suppress(Exception):
            self._out.mux(self._stream.encode(None))
        self._abort()
