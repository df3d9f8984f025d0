"""The one place that builds ONNX Runtime sessions: provider choice, fallback and a log of what actually runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from nstvideo.errors import DeviceUnavailableError, MissingDependencyError, ModelError, UsageError

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


def _try(ort: ModuleType, path: Path, provider: str, options: object):  # noqa: ANN202
    chain = [(provider, _provider_options(provider))]
    if provider == TRT:  # nodes TensorRT cannot take run on CUDA, not the CPU
        chain.append((CUDA, _provider_options(CUDA)))
    if provider != CPU:
        chain.append((CPU, {}))
    sess = ort.InferenceSession(
        str(path), options, providers=[p for p, _ in chain], provider_options=[o for _, o in chain]
    )
    return sess


def create_session(path: str | Path, device: str = "auto", threads: int = 0):  # noqa: ANN201
    """Build a session on the best available provider for `device`; returns (session, SessionInfo)."""
    if device not in DEVICES:
        raise UsageError(f"unknown device '{device}'", f"choose one of: {', '.join(DEVICES)}")
    ort = ort_module()
    available = ort.get_available_providers()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
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
            skipped.append(f"{name}: could not initialise (drivers or libraries missing); fell back")
            continue
        info = SessionInfo(active, skipped)
        for reason in skipped:
            # DirectML/CoreML exist on other platforms only: not worth a line on every run
            quiet = reason.startswith(("directml: not in", "coreml: not in"))
            log.log(logging.DEBUG if quiet else logging.INFO, "skipped %s", reason)
        log.info("running on %s (%s)", SHORT[active], active)
        return sess, info
    if device != "auto":
        hint = {
            "cuda": 'pip install "nstvideo[gpu]" on a machine with an NVIDIA driver and CUDA, or use --device cpu',
            "tensorrt": "install TensorRT and onnxruntime-gpu, or use --device cuda / auto",
        }.get(device, "use --device auto")
        raise DeviceUnavailableError(f"--device {device} is not available: {'; '.join(skipped)}", hint)
    raise DeviceUnavailableError(f"no usable execution provider: {'; '.join(skipped)}", "reinstall onnxruntime")
