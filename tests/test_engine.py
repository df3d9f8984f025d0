"""Stylizer on real ONNX Runtime sessions: sizes, batching, post-processing, devices."""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from nstvideo import Stylizer
from nstvideo.errors import DeviceUnavailableError, InputError, UsageError
from nstvideo.pipeline import post
from nstvideo.pipeline.engine import scaled_size
from nstvideo.pipeline.session import driver_cuda_version, driver_problem, load_problem, trt_profile_problem


def test_output_keeps_input_size(tiny_model, frame):
    s = Stylizer(tiny_model, size=0, device="cpu")
    out = s(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert s.provider == "cpu"


def test_processing_size_is_the_short_side(tiny_model, frame):
    s = Stylizer(tiny_model, size=20, device="cpu")
    seen = []
    infer = s.infer
    s.infer = lambda batch: seen.append(batch.shape) or infer(batch)
    assert s(frame).shape == frame.shape
    assert seen == [(1, 20, 29, 3)]


def test_default_size_comes_from_metadata(tiny_model):
    assert Stylizer(tiny_model, device="cpu").size == 64


def test_output_size(tiny_model, frame):
    out = Stylizer(tiny_model, size=0, output_size=74, device="cpu")(frame)
    assert out.shape == (74, 108, 3)


def test_batch_and_stream_match_single_calls(tiny_model, frame):
    s = Stylizer(tiny_model, size=0, device="cpu")
    frames = [frame, np.ascontiguousarray(frame[::-1]), np.ascontiguousarray(frame[:, ::-1])]
    single = [s(f) for f in frames]
    batched = s.stylize_batch(frames)
    streamed = list(s.stream(iter(frames), batch_size=2))
    for a, b, c in zip(single, batched, streamed, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
        assert np.abs(a.astype(int) - c.astype(int)).max() <= 1


def test_parallel_lanes_stylise_as_one_session_does(tiny_model, frame, monkeypatch):
    # two frames at once on half the cores each: 26 % more frames a second on a CPU, the same pictures
    import threading

    from nstvideo.pipeline import engine

    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    frames = [np.roll(frame, 5 * i, axis=1) for i in range(6)]
    one = Stylizer(tiny_model, size=0, device="cpu")
    expected = [one(f) for f in frames]
    s = Stylizer(tiny_model, size=0, device="cpu")
    assert s.parallel_lanes() == 2 and s.parallel_lanes() == 2  # split once
    got: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, s(frames[i]))) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(got[i], expected[i]) for i in range(6))
    # frames that must stay in order, a thread count chosen, or one core: one lane
    assert Stylizer(tiny_model, device="cpu", smooth=0.5).parallel_lanes() == 1
    assert Stylizer(tiny_model, device="cpu", threads=2).parallel_lanes() == 1
    assert Stylizer(tiny_model, device="cpu", size=0).parallel_lanes(3840, 2160) == 1  # two 4K frames: memory
    assert Stylizer(tiny_model, device="cpu", size=256).parallel_lanes(3840, 2160) == 2  # processed at 256 px
    assert s.parallel_lanes(3840, 2160) == 1 and not s._in_lanes  # a folder run's 4K clip: one frame, all cores
    assert np.array_equal(s(frames[0]), expected[0])
    monkeypatch.setattr(engine, "usable_cores", lambda: 1)
    assert Stylizer(tiny_model, device="cpu").parallel_lanes() == 1
    s.close()
    assert s.parallel_lanes() == 1  # closed stays closed
    with pytest.raises(UsageError, match="closed"):
        s(frame)


def test_strength_zero_is_the_original(tiny_model, frame):
    assert np.array_equal(Stylizer(tiny_model, size=0, strength=0.0, device="cpu")(frame), frame)


def test_usable_cores_follow_a_containers_cpu_quota(tmp_path):
    # `docker --cpus 2` on a many-core host: its threads beyond 2 would only fight over the same cores
    from nstvideo.pipeline import usable_cores

    def cgroup(name: str, files: dict[str, str]) -> str:  # one folder a case: the answer is cached per path
        for rel, text in files.items():
            (tmp_path / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / rel).write_text(text + "\n")
        return str(tmp_path / name)

    many = usable_cores(str(tmp_path / "none"))  # no cgroup files: the affinity alone
    assert usable_cores(cgroup("v2", {"cpu.max": "150000 100000"})) == min(many, 2)  # 1.5 CPUs: 2 threads
    assert usable_cores(cgroup("v2-free", {"cpu.max": "max 100000"})) == many
    v1 = {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}
    assert usable_cores(cgroup("v1", v1)) == 1
    assert usable_cores(cgroup("v1-free", {**v1, "cpu/cpu.cfs_quota_us": "-1"})) == many


def test_strength_and_colour_per_call(tiny_model, frame):
    # the webcam's two lanes each pass the hotkeys' values instead of setting them on the shared Stylizer
    s = Stylizer(tiny_model, size=0, device="cpu")
    assert np.array_equal(s.stylize_batch([frame], strength=0.0)[0], frame)
    assert s.strength == 1.0 and not np.array_equal(s(frame), frame)
    with pytest.raises(UsageError):
        s.stylize_batch([frame], strength=2.0)


def test_strength_blends(tiny_model, frame):
    full = Stylizer(tiny_model, size=0, device="cpu")(frame).astype(float)
    half = Stylizer(tiny_model, size=0, strength=0.5, device="cpu")(frame).astype(float)
    assert np.abs(half - (full + frame) / 2).max() <= 1


def test_preserve_color_keeps_chroma(frame):
    styl = np.full_like(frame, (30, 200, 90))
    out = post.preserve_color(frame, styl)
    cc_out = cv2.cvtColor(out, cv2.COLOR_BGR2YCrCb).astype(int)
    cc_in = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb).astype(int)
    cc_st = cv2.cvtColor(styl, cv2.COLOR_BGR2YCrCb).astype(int)
    assert np.abs(cc_out[..., 0] - cc_st[..., 0]).mean() < 3
    assert np.abs(cc_out[..., 1:] - cc_in[..., 1:]).mean() < 3


def test_smooth_steadies_a_still_camera_and_reset_starts_afresh(tiny_model):
    """Sensor noise on a still picture: with smoothing the output changes less from frame to frame."""
    y, x = np.mgrid[0:72, 0:96]
    still = np.clip(np.stack([x * 2, y * 3, 128 + 40 * np.sin(x / 6)], -1), 0, 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    noisy = [np.clip(still + rng.normal(0, 6, still.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    plain = [Stylizer(tiny_model, device="cpu", size=48)(f) for f in noisy]
    smooth = Stylizer(tiny_model, device="cpu", size=48, smooth=0.6)
    out = [smooth(f) for f in noisy]

    def change(frames: list[np.ndarray]) -> float:
        return float(np.mean([cv2.absdiff(a, b).mean() for a, b in zip(frames, frames[1:], strict=False)]))

    assert out[0].shape == still.shape
    assert change(out[2:]) < 0.7 * change(plain[2:])
    smooth.reset()
    assert np.array_equal(smooth(noisy[5]), plain[5])


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_bad_strength(tiny_model, bad):
    with pytest.raises(UsageError):
        Stylizer(tiny_model, strength=bad, device="cpu")


@pytest.mark.parametrize(
    ("bad", "mention"),
    [(None, "imread"), (np.zeros((0, 0, 3), np.uint8), "empty"), ("photo.jpg", "str"), (np.zeros((8, 8)), "float64")],
)
def test_bad_frames_are_input_errors(tiny_model, bad, mention):
    # cv2.imread returns None for a missing file: the error says so instead of an AttributeError
    with pytest.raises(InputError, match=mention):
        Stylizer(tiny_model, device="cpu")(bad)


def test_api_misuse_is_a_usage_error_not_a_python_error(tiny_model, frame):
    s = Stylizer(tiny_model, device="cpu", size=32)
    assert len(s.stylize_batch(np.stack([frame, frame]))) == 2  # an N x H x W x 3 array is a batch
    with pytest.raises(InputError, match="None"):
        list(s.stream([frame, None], batch_size=4))
    with pytest.raises(UsageError, match="batch_size"):
        list(s.stream([frame], batch_size=0))
    for bad in ({"size": "128"}, {"size": 128.5}, {"strength": "0.5"}, {"smooth": "x"}, {"output_size": 1e3}):
        with pytest.raises(UsageError):
            Stylizer(tiny_model, device="cpu", **bad)
    assert Stylizer(tiny_model, device="cpu", size=np.int64(48), strength=np.float32(0.5)).size == 48


def test_explicit_cuda_without_gpu_is_an_error_not_a_cpu_run(tiny_model):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    with pytest.raises(DeviceUnavailableError, match="cuda"):
        Stylizer(tiny_model, device="cuda")


def test_unknown_device(tiny_model):
    with pytest.raises(UsageError):
        Stylizer(tiny_model, device="tpu")


def test_scaled_size():
    assert scaled_size(640, 360, 180) == (320, 180)
    assert scaled_size(360, 640, 180) == (180, 320)
    assert scaled_size(640, 360, 0) == (640, 360)


def test_auto_logs_why_faster_providers_were_skipped(tiny_model, caplog, monkeypatch):
    import onnxruntime as ort

    import nstvideo.pipeline

    if "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has TensorRT")
    monkeypatch.setattr(nstvideo.pipeline, "_said", set())  # a process says each provider line once
    with caplog.at_level("INFO", logger="nstvideo"):
        s = Stylizer(tiny_model, device="auto")
        Stylizer(tiny_model, device="auto")  # a second style: nothing new to say
    assert any(r.startswith("tensorrt:") for r in s.session_info.skipped)
    assert caplog.text.count("running on") == 1 and caplog.text.count("skipped tensorrt") == 1


def _shared_library(lib: Path, source: str, *flags: str) -> Path:
    """Compile C `source` into the real shared library `lib` (skips the test without gcc)."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to build a shared library")
    src = lib.parent / "src" / f"{lib.name}.c"  # not beside the library: load_problem globs the provider's folder
    src.parent.mkdir(exist_ok=True)
    src.write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", lib, src, *flags], check=True)
    return lib


def _provider_library(tmp_path: Path, provider_stem: str, needs: str, remove: bool = True) -> SimpleNamespace:
    """A real onnxruntime/capi/libonnxruntime_providers_<stem>.so that needs the library `needs`, removed unless told
    not to: dlopen then fails as on a machine without that library. Returns a stand-in for the module."""
    with contextlib.suppress(OSError):
        ctypes.CDLL(needs)
        pytest.skip(f"{needs} is installed here")
    capi, deps = tmp_path / "onnxruntime" / "capi", tmp_path / "deps"
    capi.mkdir(parents=True)
    deps.mkdir()
    _shared_library(deps / needs, "int dep_fn(void) { return 1; }\n", f"-Wl,-soname,{needs}")
    _shared_library(capi / f"libonnxruntime_providers_{provider_stem}.so",
                    "extern int dep_fn(void);\nint provider_fn(void) { return dep_fn(); }\n",
                    f"-L{deps}", f"-l:{needs}", f"-Wl,-rpath,{deps}")  # fmt: skip
    if remove:
        (deps / needs).unlink()
    return SimpleNamespace(__file__=str(tmp_path / "onnxruntime" / "__init__.py"))


@pytest.mark.parametrize(
    ("provider", "stem", "needs", "says"),
    [
        ("CUDAExecutionProvider", "cuda", "libcuda.so.1", "no NVIDIA driver (libcuda.so.1 not found)"),
        ("CUDAExecutionProvider", "cuda", "libcublasLt.so.13", 'libcublasLt.so.13 not found (pip install "onnxruntime'),
        ("TensorrtExecutionProvider", "tensorrt", "libnvinfer.so.10", "TensorRT is not installed"),
    ],
)
def test_a_gpu_provider_that_cannot_load_is_explained(tmp_path, provider, stem, needs, says):
    # onnxruntime only logs "Failed to create CUDAExecutionProvider"; the user is told what is missing
    assert says in load_problem(_provider_library(tmp_path, stem, needs), provider)


def test_a_provider_library_that_loads_is_not_blamed(tmp_path):
    # it loads, so the GPU itself (or its driver's version) is why the provider did not start: no library to name
    fake_ort = _provider_library(tmp_path, "cuda", "libnstvideo-test-dep.so", remove=False)
    assert load_problem(fake_ort, "CUDAExecutionProvider") == ""
    assert load_problem(fake_ort, "TensorrtExecutionProvider") == ""  # no TensorRT library in this build at all


@pytest.mark.parametrize(("built", "says"), [("13.0", "runs CUDA up to 12.4"), ("12.2", ""), ("", "")])
def test_a_driver_too_old_for_the_build_is_named(tmp_path, built, says):
    # a library with the driver API's version call, answering as a CUDA 12.4 driver does
    lib = _shared_library(tmp_path / "libfakecuda.so", "int cuDriverGetVersion(int *v) { *v = 12040; return 0; }\n")
    assert driver_cuda_version(str(lib)) == (12, 4)
    problem = driver_problem(SimpleNamespace(cuda_version=built, __version__="1.31.1"), str(lib))
    assert (says in problem) if says else problem == ""
    if says:
        assert "needs CUDA 13.0" in problem and "update the driver" in problem
    assert driver_cuda_version(str(tmp_path / "missing.so")) is None


def test_explicit_tensorrt_without_it_is_an_error(tiny_model):
    import onnxruntime as ort

    if "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has TensorRT")
    with pytest.raises(DeviceUnavailableError, match="tensorrt"):
        Stylizer(tiny_model, device="tensorrt")


@pytest.mark.parametrize(
    ("batch", "width", "height", "fits"),
    [(1, 3840, 2160, True), (8, 1280, 720, True), (1, 2160, 3840, False), (9, 64, 64, False), (1, 4096, 2160, False)],
)
def test_tensorrt_profile_covers_landscape_4k_batches_of_8(batch: int, width: int, height: int, fits: bool) -> None:
    """What the cached TensorRT engine's shape profile takes; a portrait 4K frame at its own size needs --size."""
    problem = trt_profile_problem(batch, height, width)
    assert (problem == "") == fits
    if not fits:
        assert f"{width}x{height}" in problem and "3840x2160" in problem


def test_a_frame_too_large_for_memory_is_refused_with_a_size_that_fits(tiny_model):
    from nstvideo.pipeline.engine import MAX_PIXELS

    big = np.zeros((4100, 8200, 3), np.uint8)  # --size 0 on a big photo: 34 megapixels
    with pytest.raises(UsageError, match="processing size 8200x4100 is too large") as err:
        Stylizer(tiny_model, size=0, device="cpu")(big)
    fits = int(err.value.hint.split(": ")[1].split()[0])
    assert 2 * fits * fits <= MAX_PIXELS < 2 * (fits + 2) ** 2
    strip = np.zeros((16, 4000, 3), np.uint8)  # at the default size this strip is 64000 px long
    with pytest.raises(UsageError, match="too large"):
        Stylizer(tiny_model, size=256, device="cpu")(strip)
    assert Stylizer(tiny_model, size=0, device="cpu")(strip).shape == strip.shape
    with pytest.raises(UsageError, match="no --size fits") as err:  # 20000x16: too long at any size
        Stylizer(tiny_model, size=0, device="cpu")(np.zeros((16, 20000, 3), np.uint8))
    assert "crop" in err.value.hint


def test_api_misuse_gets_the_conversion_that_fixes_it(tiny_model, frame):
    s = Stylizer(tiny_model, size=0, device="cpu")
    cases = [
        (np.dstack([frame, frame[..., :1]]), "COLOR_BGRA2BGR"),
        (frame[..., 0], "COLOR_GRAY2BGR"),
        (frame.astype(np.float32) / 255, "* 255"),
        (np.ascontiguousarray(frame.transpose(2, 0, 1)), "transpose(1, 2, 0)"),
    ]
    for bad, fix in cases:
        with pytest.raises(InputError) as err:
            s(bad)
        assert fix in err.value.hint
    with pytest.raises(InputError, match="list of frames"):
        s.stylize_batch(frame)  # one frame, not a batch: iterating it would give rows
    with pytest.raises(InputError, match="smaller than 16"):
        s(np.zeros((8, 8, 3), np.uint8))
    for kw in ({"threads": -1}, {"threads": "2"}, {"preserve_color": "no"}):
        with pytest.raises(UsageError):
            Stylizer(tiny_model, device="cpu", **kw)
    with pytest.raises(UsageError, match="a name, a path"):
        Stylizer(None)


def test_close_frees_the_session(tiny_model, frame):
    with Stylizer(tiny_model, device="cpu") as s:
        assert s(frame).shape == frame.shape
    with pytest.raises(UsageError, match="closed"):
        s(frame)
