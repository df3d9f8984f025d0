"""The one place that builds ONNX Runtime sessions: provider choice, fallback and a log of what actually runs."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import logging
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from nstvideo.errors import DeviceUnavailableError, MissingDependencyError, ModelError, UsageError
from nstvideo.pipeline import log_once, usable_cores

log = logging.getLogger("nstvideo")

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
TRT, CUDA, DML, COREML, CPU = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
    "CPUExecutionProvider",
)
AUTO_ORDER = (TRT, CUDA, DML, COREML, CPU)
GPU_LIBRARY = {CUDA: "cuda", TRT: "tensorrt"}  # onnxruntime/capi/libonnxruntime_providers_<name>.so (.dll)
SHORT = {TRT: "tensorrt", CUDA: "cuda", DML: "directml", COREML: "coreml", CPU: "cpu"}
# TensorRT shape profile: any frame from 16 px to 4K, batches up to 8; an engine is built once per profile and cached.
TRT_MAX_BATCH, TRT_MAX_HEIGHT, TRT_MAX_WIDTH = 8, 2160, 3840
TRT_PROFILE = {
    "min": "frames:1x16x16x3",
    "opt": "frames:1x720x1280x3",
    "max": f"frames:{TRT_MAX_BATCH}x{TRT_MAX_HEIGHT}x{TRT_MAX_WIDTH}x3",
}


def trt_profile_problem(batch: int, height: int, width: int) -> str:
    """Why a model call of this shape cannot run on the cached TensorRT engine ('' if it can): a clear refusal
    instead of TensorRT's own failure. A portrait 4K frame (2160 wide, 3840 high) at its own size is outside."""
    if batch <= TRT_MAX_BATCH and height <= TRT_MAX_HEIGHT and width <= TRT_MAX_WIDTH:
        return ""
    return (
        f"{batch} frame(s) of {width}x{height} are outside TensorRT's engine profile "
        f"(up to {TRT_MAX_BATCH} frames of {TRT_MAX_WIDTH}x{TRT_MAX_HEIGHT})"
    )


#: From the CPU build to the GPU one: both provide the `onnxruntime` module, so they cannot be installed together.
GPU_INSTALL = 'pip uninstall onnxruntime && pip install "nstvideo[gpu]" (on a machine with an NVIDIA driver)'


def ort_module() -> ModuleType:
    """onnxruntime, or an error saying which extra installs it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError(
            "ONNX Runtime is not installed",
            'install one runtime: pip install "nstvideo[gpu]" (NVIDIA) or pip install "nstvideo[cpu]"',
        ) from exc
    return onnxruntime


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    path = Path(user_cache_dir("nstvideo")) / "tensorrt"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _provider_options(provider: str) -> dict[str, str]:
    if provider == TRT:
        cache = str(cache_dir())
        return {
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": cache,
            "trt_profile_min_shapes": TRT_PROFILE["min"],
            "trt_profile_opt_shapes": TRT_PROFILE["opt"],
            "trt_profile_max_shapes": TRT_PROFILE["max"],
        }
    if provider == CUDA:
        return {"cudnn_conv_algo_search": "HEURISTIC"}
    return {}


@dataclass
class SessionInfo:
    """What was asked for, what runs, and why the providers before it were skipped."""

    provider: str
    skipped: list[str] = field(default_factory=list)

    @property
    def device(self) -> str:
        return SHORT.get(self.provider, self.provider)


@contextlib.contextmanager
def _prints_to_debug(source: str) -> Iterator[None]:
    """onnxruntime prints to stdout (what preload_dlls could not load, "EP Error ... Falling back" banners): keep that
    for --debug; the skip reasons say it in words."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):
            yield
    finally:
        for line in said.getvalue().splitlines():
            log.debug("%s: %s", source, line)


@functools.cache
def _load_gpu_libraries(ort: ModuleType) -> None:
    """pip's onnxruntime-gpu[cuda,cudnn] puts CUDA and cuDNN under site-packages/nvidia, where the loader does not
    look: without this a machine with only the NVIDIA driver fell back to the CPU (libcublasLt.so.13 not found)."""
    preload = getattr(ort, "preload_dlls", None)  # onnxruntime >= 1.21
    if preload is None:
        return
    try:
        with _prints_to_debug("onnxruntime.preload_dlls"):
            preload()
    except Exception as exc:
        log.debug("onnxruntime.preload_dlls: %s", exc)


def load_problem(ort: ModuleType, provider: str) -> str:
    """Why a GPU provider did not start, in words a user can act on ('' when its library loads): ONNX Runtime
    itself only logs a generic failure."""
    if provider not in GPU_LIBRARY:
        return ""
    libs = sorted((Path(ort.__file__).parent / "capi").glob(f"*onnxruntime_providers_{GPU_LIBRARY[provider]}.*"))
    if not libs:
        return ""
    try:
        ctypes.CDLL(str(libs[0]))
    except OSError as exc:
        missing = re.match(r"(\S+): cannot open shared object file", str(exc))
        if not missing:
            return ""
        name = missing.group(1)
        if name.startswith("libcuda.so"):
            return f"no NVIDIA driver ({name} not found)"
        if name.startswith(("libnvinfer", "libnvonnxparser")):
            return f"TensorRT is not installed ({name} not found)"
        return f'CUDA/cuDNN library {name} not found (pip install "onnxruntime-gpu[cuda,cudnn]" brings them)'
    return ""


def driver_cuda_version(library: str = "") -> tuple[int, int] | None:
    """The newest CUDA the installed NVIDIA driver runs (cuDriverGetVersion), or None without a driver."""
    try:
        cuda = ctypes.CDLL(library or ("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"))
        version = ctypes.c_int(0)
        if cuda.cuDriverGetVersion(ctypes.byref(version)) != 0 or version.value <= 0:
            return None
    except (OSError, AttributeError):
        return None
    return version.value // 1000, version.value % 1000 // 10


def driver_problem(ort: ModuleType, library: str = "") -> str:
    """A driver older than the CUDA this onnxruntime-gpu was built for: the usual reason a CUDA provider whose
    libraries all load still does not start ('' when that is not it)."""
    built = str(getattr(ort, "cuda_version", "") or "")
    have = driver_cuda_version(library)
    if have is None or not built.split(".")[0].isdigit() or have[0] >= int(built.split(".")[0]):
        return ""
    return (
        f"the NVIDIA driver runs CUDA up to {have[0]}.{have[1]} and this onnxruntime-gpu ({ort.__version__}) needs "
        f"CUDA {built}: update the driver, or install an onnxruntime-gpu built for CUDA {have[0]}"
    )


def _try(ort: ModuleType, path: Path, provider: str, options: object):  # noqa: ANN202
    chain = [(provider, _provider_options(provider))]
    if provider == TRT:  # nodes TensorRT cannot take run on CUDA, not the CPU
        chain.append((CUDA, _provider_options(CUDA)))
    if provider != CPU:
        chain.append((CPU, {}))
    with _prints_to_debug("onnxruntime"):
        sess = ort.InferenceSession(
            str(path), options, providers=[p for p, _ in chain], provider_options=[o for _, o in chain]
        )
    # A provider failing mid-run must raise (our one error line), not switch to the CPU behind the user's back.
    sess.disable_fallback()
    return sess


def create_session(path: str | Path, device: str = "auto", threads: int = 0):  # noqa: ANN201
    """Build a session on the best available provider for `device`; returns (session, SessionInfo)."""
    if device not in DEVICES:
        raise UsageError(f"unknown device '{device}'", f"choose one of: {', '.join(DEVICES)}")
    ort = ort_module()
    available = ort.get_available_providers()
    # ONNX Runtime's own log of a provider that fails to load is a screenful of red; ours is one line (--debug: both)
    ort.set_default_logger_severity(2 if log.isEnabledFor(logging.DEBUG) else 4)
    if any(p in available for p in GPU_LIBRARY) and device in ("auto", "cuda", "tensorrt"):
        _load_gpu_libraries(ort)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if not threads and (cores := usable_cores()) < (os.cpu_count() or 1):  # a container's quota, a taskset
        threads = cores
    if threads:
        options.intra_op_num_threads = threads
    wanted = {"cpu": (CPU,), "cuda": (CUDA,), "tensorrt": (TRT,)}.get(device, AUTO_ORDER)
    skipped: list[str] = []
    for provider in wanted:
        name = SHORT[provider]
        if provider not in available:
            skipped.append(f"{name}: not in this onnxruntime build ({ort.__version__})")
            continue
        try:
            sess = _try(ort, Path(path), provider, options)
        except Exception as exc:
            text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            if provider == CPU:
                raise ModelError(f"cannot load {path}: {text}", "re-export the model") from exc
            skipped.append(f"{name}: failed to start ({text})")
            continue
        active = sess.get_providers()[0]
        if active != provider:
            why = load_problem(ort, provider) or driver_problem(ort) or "its libraries load, but it did not start"
            skipped.append(f"{name}: could not initialise: {why}")
            continue
        info = SessionInfo(active, skipped)
        for reason in skipped:
            # DirectML/CoreML exist on other platforms only: not worth a line on every run
            quiet = reason.startswith(("directml: not in", "coreml: not in"))
            log_once(f"skipped {reason}", logging.DEBUG if quiet else logging.INFO)
        log_once(f"running on {SHORT[active]} ({active})")
        return sess, info
    if device != "auto":
        gpu_build = "CUDAExecutionProvider" in ort.get_available_providers()
        hint = {
            "cuda": "the reason is above (nstvideo doctor shows more), or use --device cpu"
            if gpu_build
            else f"{GPU_INSTALL}, or use --device cpu",
            "tensorrt": "install TensorRT 10 on the library path, or use --device cuda / auto"
            if gpu_build
            else f"{GPU_INSTALL} and TensorRT 10, or use --device auto",
        }.get(device, "use --device auto")
        raise DeviceUnavailableError(f"--device {device} is not available: {'; '.join(skipped)}", hint)
    raise DeviceUnavailableError(f"no usable execution provider: {'; '.join(skipped)}", "reinstall onnxruntime")
