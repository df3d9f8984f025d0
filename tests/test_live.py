"""The live path (`nstvideo webcam`, `nstvideo doctor`), with real components: a clip plays the camera, tiny
exported styles stylise it, a UDP socket on loopback receives the stream, and the CLI runs in subprocesses.

What cannot run here is skipped with the reason: a real webcam, a GUI OpenCV window, a virtual-camera backend.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from nstvideo.errors import UsageError
from nstvideo.pipeline.hotkeys import ESC, LEFT_KEYS, RIGHT_KEYS, LiveControls, LiveState
from nstvideo.pipeline.live import CLOSED, TIMEOUT, LatestSlot, StyleBank, style_models
from nstvideo.pipeline.sinks import ffmpeg_protocols, opencv_gui

try:  # tests/ may or may not be a package
    from tests.clips import make_clip
    from tests.conftest import reap, run_cli
except ModuleNotFoundError:
    from clips import make_clip  # type: ignore[no-redef]
    from conftest import reap, run_cli  # type: ignore[no-redef]

WIDE = {"COLUMNS": "200"}  # rich wraps tables at 80 columns when stdout is not a terminal
SUMMARY = re.compile(
    r"live: (?P<shown>\d+) frames shown, (?P<dropped>\d+) dropped \((?P<captured>\d+) captured, "
    r"(?P<processed>\d+) processed\) in (?P<seconds>[\d.]+) s: (?P<fps>[\d.]+) fps"
)


# -- helpers -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 'camera': 2 s at 24 fps, 64x48."""
    return make_clip(tmp_path_factory.mktemp("live") / "cam.mp4", width=64, height=48, frames=48, fps=24)


def webcam(models_dir: Path, *args: str | Path, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    """`nstvideo webcam --models-dir MODELS --style tiny ARGS`."""
    return run_cli("webcam", "--models-dir", str(models_dir), "--style", "tiny", *map(str, args),
                   env={**WIDE, **(env or {})}, timeout=60, **kw)  # fmt: skip


def summary(r: subprocess.CompletedProcess) -> dict[str, float]:
    m = SUMMARY.search(r.stdout)
    assert m, f"no summary line\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return {k: float(v) for k, v in m.groupdict().items()}


def assert_ok(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr
    assert "error:" not in r.stderr


def assert_error(r: subprocess.CompletedProcess, code: int, *mentions: str, hint: bool = True) -> tuple[str, str]:
    """Exit code, exactly one `error:` line (and one `hint:` line), no traceback; returns (error, hint)."""
    assert r.returncode == code, f"exit {r.returncode}, wanted {code}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line[len("error: ") :] for line in r.stderr.splitlines() if line.startswith("error: ")]
    hints = [line[len("hint: ") :] for line in r.stderr.splitlines() if line.startswith("hint: ")]
    assert len(errors) == 1 and len(hints) == int(hint), r.stderr
    for word in mentions:
        assert word.lower() in errors[0].lower(), f"{word!r} not in {errors[0]!r}"
    return errors[0], hints[0] if hints else ""


def frame_count(path: Path) -> tuple[int, int, int]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return len(frames), frames[0].width, frames[0].height


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_bound(port: int) -> bool:
    """Whether some process listens on UDP `port` (Linux /proc/net/udp)."""
    text = Path("/proc/net/udp").read_text()
    return f":{port:04X} " in text


# -- the pipeline, headless ----------------------------------------------------------------------------------------


def test_headless_clip_camera_runs_and_records(models_dir: Path, clip: Path, tmp_path: Path) -> None:
    rec = tmp_path / "rec.mp4"
    r = webcam(models_dir, "--camera", clip, "--no-window", "--max-frames", "12", "--record", rec, "--smooth", "0.5")
    assert_ok(r)
    s = summary(r)
    assert s["shown"] == 12
    assert s["processed"] >= 12 and s["captured"] >= s["processed"]
    assert "64x48 at 24 fps" in r.stderr  # the mode the 'camera' actually gives is reported
    n, w, h = frame_count(rec)
    assert 1 <= n <= 12 and (w, h) == (64, 48)
    assert leftovers(tmp_path) == []
    with av.open(str(rec)) as c:  # no B-frames: with live timing they left the mp4's duration short of its frames
        assert all(p.pts == p.dts for p in c.demux(video=0) if p.size)


def test_stale_frames_are_dropped_when_inference_is_slower(models_dir: Path, clip: Path) -> None:
    r = webcam(models_dir, "--camera", clip, "--no-window", "--max-fps", "4")
    assert_ok(r)
    s = summary(r)
    assert s["captured"] >= 40  # the clip plays at its own pace, whatever inference does
    assert s["dropped"] > 0
    expected = 4 * s["seconds"]
    assert 0.5 * expected <= s["processed"] <= 1.5 * expected + 1, s
    assert s["shown"] <= s["processed"]


def test_a_list_of_styles_is_the_set_to_switch_between(models_dir: Path, clip: Path) -> None:
    from nstvideo.pipeline.live import style_models

    models, index = style_models("tiny2,tiny", [models_dir])
    assert [m.name for m in models] == ["tiny2", "tiny"] and index == 0
    r = webcam(models_dir, "--camera", clip, "--no-window", "--max-frames", "3", "--style", "tiny2,tiny")
    assert_ok(r)
    assert "style tiny2 on cpu" in r.stderr


def test_low_latency_keeps_one_frame_in_flight(models_dir: Path, clip: Path) -> None:
    from nstvideo.pipeline import usable_cores

    r = webcam(models_dir, "--camera", clip, "--no-window", "--max-frames", "6", "--device", "cpu")
    assert_ok(r)
    assert ("two frames at once" in r.stderr) == (usable_cores() >= 2)  # the CPU's lanes (a GPU keeps one)
    r = webcam(models_dir, "--camera", clip, "--no-window", "--max-frames", "6", "--device", "cpu", "--low-latency")
    assert_ok(r)
    assert "two frames at once" not in r.stderr and summary(r)["shown"] == 6


@contextlib.contextmanager
def udp_receiver() -> Iterator[tuple[int, list[bytes]]]:
    """A UDP socket on loopback, bound before any sender starts (so nothing is lost), collecting datagrams."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    datagrams: list[bytes] = []
    done = threading.Event()

    def receive() -> None:
        while not done.is_set():
            try:
                datagrams.append(rx.recv(65536))
            except TimeoutError:
                continue

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    try:
        yield rx.getsockname()[1], datagrams
        time.sleep(0.3)
    finally:
        done.set()
        t.join()
        rx.close()


def decode_ts(datagrams: list[bytes]) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(b"".join(datagrams)), format="mpegts") as c:
        assert c.streams.video[0].codec_context.name == "h264"
        return list(c.decode(video=0))


def test_stream_udp_is_decodable_h264_mpegts(models_dir: Path, clip: Path) -> None:
    with udp_receiver() as (port, datagrams):
        # --loop + --max-frames: enough frames are sent however many a loaded machine drops (newest wins)
        r = webcam(models_dir, "--camera", clip, "--no-window", "--loop", "--max-frames", "60",
                   "--stream", f"udp://127.0.0.1:{port}")  # fmt: skip
    assert_ok(r)
    assert datagrams
    assert all(len(d) % 188 == 0 and len(d) <= 1316 for d in datagrams)  # whole TS packets, pkt_size 1316
    frames = decode_ts(datagrams)
    assert len(frames) >= 40
    assert {(f.width, f.height) for f in frames} == {(64, 48)}
    keys = [i for i, f in enumerate(frames) if f.key_frame]
    assert len(keys) >= 2 and keys[1] - keys[0] <= 25  # a keyframe about every second: late joiners start fast
    assert {int(f.pict_type) for f in frames} <= {1, 2}  # AV_PICTURE_TYPE_I, _P: no B-frames, no reordering delay


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/net/udp to know the receiver is up")
def test_lost_stream_camera_exits_cleanly(models_dir: Path, clip: Path) -> None:
    """A live source that stops: a warning, a retry, then one error line and exit 1, no hang, no traceback."""
    port = free_udp_port()
    cmd = [sys.executable, "-m", "nstvideo", "webcam", "--models-dir", str(models_dir), "--style", "tiny",
           "--no-window", "--camera", f"udp://127.0.0.1:{port}"]  # fmt: skip
    receiver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not udp_bound(port) and receiver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert udp_bound(port), "the receiver never listened"
        sender = webcam(models_dir, "--camera", clip, "--no-window", "--stream", f"udp://127.0.0.1:{port}")
        assert_ok(sender)
        out, err = receiver.communicate(timeout=30)
    finally:
        reap(receiver)
    r = subprocess.CompletedProcess(cmd, receiver.returncode, out, err)
    assert_error(r, 1, "stopped delivering frames")
    assert "retrying" in err
    assert summary(r)["shown"] >= 10  # it did show the stream while it lasted


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])  # HUP: terminal closed
def test_a_stop_signal_finalises_the_recording(
    models_dir: Path, clip: Path, tmp_path: Path, signum: int, code: int
) -> None:
    rec = tmp_path / "rec.mkv"
    cmd = [sys.executable, "-m", "nstvideo", "webcam", "--models-dir", str(models_dir), "--style", "tiny",
           "--no-window", "--camera", str(clip), "--loop", "--record", str(rec)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(1.5)  # the recording is open; let frames flow
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        reap(proc)
    name = signal.Signals(signum).name
    assert_error(subprocess.CompletedProcess(cmd, proc.returncode, out, err), code, name, str(rec), hint=False)
    assert frame_count(rec)[0] >= 5
    assert leftovers(tmp_path) == []


def test_a_failing_recording_leaves_the_stream_running(models_dir: Path, clip: Path, tmp_path: Path) -> None:
    # The disk under the recording fills (here: a file size limit): the stream and the run go on; the run still
    # ends with the recording's error.
    import resource

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (4_000, 4_000))

    rec = tmp_path / "rec.mp4"
    camera = make_clip(tmp_path / "noise.mp4", width=320, height=240, frames=24, fps=24, pattern="noise")
    r = webcam(models_dir, "--no-window", "--camera", camera, "--loop", "--record", rec, "--stream",
               "udp://127.0.0.1:5129", "--max-frames", "60", preexec_fn=small_files)  # fmt: skip
    assert_error(r, 1, "File too large")
    assert "failed (" in r.stderr and "the other outputs go on" in r.stderr
    assert summary(r)["shown"] == 60
    assert leftovers(tmp_path) == [] and not rec.exists()


# -- refusals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("display", [None, ":99"])
def test_window_refused_without_gui_or_display(models_dir: Path, clip: Path, display: str | None) -> None:
    """No display (or one nobody answers on) must be a one-line refusal: Qt would abort the process instead."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display:
        assert not Path("/tmp/.X11-unix/X99").exists(), "an X server runs on :99; pick another display for this test"
        env["DISPLAY"] = display
    r = subprocess.run(
        [sys.executable, "-m", "nstvideo", "webcam", "--models-dir", str(models_dir), "--style", "tiny",
         "--camera", str(clip)], capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    if not opencv_gui():
        _, hint = assert_error(r, 2, "no GUI support")
        assert "pip install opencv-python" in hint and "--no-window" in hint
    else:
        _, hint = assert_error(r, 2, "display", *([display] if display else []))
        assert "--no-window" in hint


def _virtual_camera_backend_present() -> bool:
    if sys.platform.startswith("linux"):
        return Path("/sys/module/v4l2loopback").exists()
    return True  # OBS may be installed: the refusal cannot be provoked reliably


@pytest.mark.skipif(_virtual_camera_backend_present(), reason="a virtual-camera backend may be present")
def test_virtual_cam_without_a_backend_is_refused(models_dir: Path, clip: Path, tmp_path: Path) -> None:
    r = webcam(models_dir, "--camera", clip, "--no-window", "--virtual-cam", "--record", tmp_path / "r.mp4")
    _, hint = assert_error(r, 2, "virtual camera")
    assert "modprobe v4l2loopback" in hint and "exclusive_caps=1" in hint
    assert list(tmp_path.iterdir()) == []  # nothing was started, so nothing was written


def test_virtual_cam_without_pyvirtualcam_names_the_extra(models_dir: Path, clip: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker" / "pyvirtualcam"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("pyvirtualcam blocked for this test")\n')
    path = os.pathsep.join(p for p in (str(blocker.parent), os.environ.get("PYTHONPATH", "")) if p)
    r = webcam(models_dir, "--camera", clip, "--no-window", "--virtual-cam", env={"PYTHONPATH": path})
    _, hint = assert_error(r, 2, "pyvirtualcam is not installed")
    assert "nstvideo[virtualcam]" in hint


@pytest.mark.skipif(Path("/dev/video7").exists(), reason="this machine has a /dev/video7")
def test_camera_that_does_not_open_lists_the_ones_that_do(models_dir: Path) -> None:
    r = webcam(models_dir, "--camera", "7", "--no-window")
    error, hint = assert_error(r, 2, "camera 7", "cameras that open here")
    if not any(Path("/dev").glob("video*")):
        assert "none found" in error
    assert "--camera" in hint


@pytest.mark.skipif("srt" in (ffmpeg_protocols() or {"srt"}), reason="this FFmpeg has SRT (or it cannot be told)")
def test_srt_without_ffmpeg_support_is_refused(models_dir: Path, clip: Path) -> None:
    r = webcam(models_dir, "--camera", clip, "--no-window", "--stream", "srt://127.0.0.1:9000")
    _, hint = assert_error(r, 2, "SRT")
    assert "udp://" in hint


@pytest.mark.parametrize(
    ("args", "mention"),
    [
        (["--max-fps", "0"], "--max-fps"),
        (["--max-fps", "nan"], "--max-fps"),
        (["--width", "-1"], "--width"),
        (["--fps", "0"], "--fps"),
        (["--max-frames", "0"], "--max-frames"),
        (["--smooth", "-1"], "--smooth"),
        (["--stream", "rtmp://127.0.0.1/live"], "unsupported protocol"),
        (["--stream", "udp://127.0.0.1"], "port"),
        (["--camera", "no-such-clip.mp4"], "no such file"),
    ],
)
def test_bad_live_options_are_refused(models_dir: Path, clip: Path, args: list[str], mention: str) -> None:
    camera = [] if "--camera" in args else ["--camera", str(clip)]
    assert_error(webcam(models_dir, "--no-window", *camera, *args), 2, mention)


def test_stream_urls_are_checked_as_ffmpeg_will_use_them() -> None:
    from nstvideo.pipeline.sinks import check_stream_url

    assert check_stream_url("UDP://127.0.0.1:5000").startswith("udp://127.0.0.1:5000?")  # FFmpeg knows no "UDP"
    with pytest.raises(UsageError, match="broadcast"):
        check_stream_url("udp://255.255.255.255:5000")
    assert "broadcast=1" in check_stream_url("udp://255.255.255.255:5000?broadcast=1")
    with pytest.raises(UsageError, match="cannot find host"):
        check_stream_url("udp://no.such.host.invalid:5000")


def test_a_full_net_on_the_cpu_points_to_the_lite_one() -> None:
    from nstvideo.pipeline.live import _cpu_speed_hint
    from nstvideo.pipeline.models import resolve_style

    full, lite = resolve_style("mosaic"), resolve_style("mosaic-lite")
    names = ["mosaic", "mosaic-lite", "candy"]
    assert "--style mosaic-lite" in _cpu_speed_hint(full, "cpu", names)
    assert "lite style or a smaller --size" in _cpu_speed_hint(resolve_style("candy"), "cpu", names)
    assert _cpu_speed_hint(lite, "cpu", names) == "" and _cpu_speed_hint(full, "cuda", names) == ""


def test_without_a_style_a_cpu_gets_the_lite_net(clip: Path) -> None:
    # a first try (`nstvideo webcam`) must run fluidly: mosaic's full net gives a few fps on a CPU
    r = run_cli("webcam", "--no-window", "--camera", str(clip), "--max-frames", "3", "--device", "cpu", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "no --style given and no GPU: mosaic-lite" in r.stderr
    assert "style mosaic-lite on cpu" in r.stderr and "full-size nets are slow" not in r.stderr
    r = run_cli("webcam", "--no-window", "--camera", str(clip), "--max-frames", "3", "--style", "mosaic", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "style mosaic on cpu" in r.stderr and "--style mosaic-lite" in r.stderr  # asked for: kept, with the hint


def test_recording_never_replaces_the_camera_file(models_dir: Path, clip: Path, tmp_path: Path) -> None:
    camera = tmp_path / "cam.mp4"
    shutil.copy(clip, camera)
    before = camera.read_bytes()
    for spec in (camera, f"file://{camera}"):  # FFmpeg reads file: URLs too
        r = webcam(models_dir, "--no-window", "--camera", spec, "--record", camera, "--overwrite")
        assert_error(r, 2, "is the input")
    assert camera.read_bytes() == before


def test_headless_run_loads_only_its_own_style(models_dir: Path, clip: Path) -> None:
    # Without a window there are no hotkeys to switch styles: the others are never loaded (nor logged).
    r = webcam(models_dir, "--no-window", "--camera", clip, "--max-frames", "12")
    assert r.returncode == 0, r.stderr
    assert (r.stdout + r.stderr).count("running on cpu") == 1


# -- doctor --------------------------------------------------------------------------------------------------------


def test_doctor_reports_and_exits_0(models_dir: Path) -> None:
    r = run_cli("doctor", "--models-dir", str(models_dir), env=WIDE, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    text = r.stdout
    for word in ("onnxruntime", "Execution providers", "cpu", "libx264", "srt", "Cameras", "Virtual camera", "tiny",
                 "Studio", "--vgg craft"):  # fmt: skip
        assert word in text, f"{word!r} missing from doctor's report:\n{text}"
    assert re.search(r"│ cpu\s+│ yes\s+│ yes", text), text  # the CPU provider was actually tried, and ran


# -- pure parts, in process ----------------------------------------------------------------------------------------


def test_hotkeys_change_the_state() -> None:
    state = LiveState(["a", "b", "c"])
    keys = LiveControls(state)
    assert keys.handle(-1) is None  # no key this frame
    assert keys.handle(ord("n")) == "style" and state.style_index == 1
    assert keys.handle(next(iter(RIGHT_KEYS))) == "style" and state.style_index == 2
    keys.handle(ord("n"))
    assert state.style_index == 0  # wraps around
    keys.handle(ord("p"))
    assert state.style_index == 2
    for code in LEFT_KEYS:  # GTK, Windows, macOS and Qt codes all mean "previous"
        state.style_index = 1
        keys.handle(code)
        assert state.style_index == 0
    assert keys.handle(ord("3")) == "style" and state.style_index == 2
    assert keys.handle(ord("1")) == "style" and state.style_index == 0
    assert keys.handle(ord("9")) is None and state.style_index == 0  # no ninth style
    assert keys.handle(ord("+")) == "strength" and state.strength == 1.0  # capped
    keys.handle(ord("-"))
    assert state.strength == pytest.approx(0.9)
    for _ in range(20):
        keys.handle(ord("-"))
    assert state.strength == 0.0
    keys.handle(ord("+"))
    assert state.strength == pytest.approx(0.1)
    for key, attr in ((ord("c"), "preserve_color"), (ord(" "), "show_original"), (ord("m"), "mirror"),
                      (ord("f"), "fullscreen"), (ord("h"), "show_help")):  # fmt: skip
        before = getattr(state, attr)
        keys.handle(key)
        assert getattr(state, attr) is (not before)
        keys.handle(key)
        assert getattr(state, attr) is before
    assert keys.handle(ord("s")) == "snapshot"
    assert state.take_snapshot_request() and not state.take_snapshot_request()  # one snapshot per press
    assert keys.handle(ord("r")) == "record"
    assert state.take_record_toggle() and not state.take_record_toggle()
    assert keys.handle(ord("x")) is None and keys.handle(0xFFBE) is None  # unbound letter, F1
    assert not state.quit
    assert keys.handle(ord("q")) == "quit" and state.quit
    state.quit = False
    assert keys.handle(ESC) == "quit" and state.quit


def test_latest_slot_keeps_the_newest_and_counts_drops() -> None:
    slot = LatestSlot()
    assert slot.get(0.01) is TIMEOUT
    assert slot.put(1) is False
    assert slot.put(2) is True  # 1 was never taken: dropped
    assert slot.get(0.01) == 2
    assert slot.get(0.01) is TIMEOUT
    slot.put(3)
    slot.close()
    assert slot.get(0.01) == 3  # drained after close
    assert slot.get(0.01) is CLOSED


def test_two_lanes_hand_their_results_on_in_capture_order() -> None:
    # on a CPU two frames are stylised at once; a lane finishing after the other's newer frame is dropped, and
    # the display's slot closes only when both lanes are done
    from nstvideo.pipeline.live import InOrder, LiveFrame, LiveStats

    slot, stats = LatestSlot(), LiveStats()
    hand_on = InOrder(slot, stats, lanes=2)
    shown = []
    for t in (1.0, 3.0, 2.0, 4.0):
        hand_on(LiveFrame(np.zeros((2, 2, 3), np.uint8), t))
        shown.append(slot.get(0.01).t if t != 2.0 else None)
    assert shown == [1.0, 3.0, None, 4.0]
    assert (stats.processed, stats.dropped_output) == (4, 1)
    hand_on.lane_ended()
    assert slot.get(0.01) is TIMEOUT  # one lane still running
    hand_on.lane_ended()
    assert slot.get(0.01) is CLOSED


def test_style_bank_builds_each_style_once(models_dir: Path) -> None:
    from nstvideo.pipeline.engine import Stylizer

    models, index = style_models("tiny2", [models_dir])
    assert [m.name for m in models][index] == "tiny2"
    built: list[str] = []

    def make(model):  # noqa: ANN001, ANN202
        built.append(model.name)
        return Stylizer(model, device="cpu", size=0)

    bank = StyleBank(models, make)
    first = bank.get(index)
    assert bank.get(index) is first
    bank.preload(threading.Event())
    assert sorted(built) == sorted(m.name for m in models)  # each once
    frame = np.zeros((24, 32, 3), np.uint8)
    assert bank.get(0)(frame).shape == frame.shape


# -- the preview window, on a virtual X screen ------------------------------------------------------------------


@contextlib.contextmanager
def xvfb(*args: str) -> Iterator[str]:
    """A private Xvfb screen (Debian: apt install xvfb); the display number is Xvfb's own free pick."""
    if not (sys.platform.startswith("linux") and shutil.which("Xvfb")):
        pytest.skip("Xvfb is not installed (Debian/Ubuntu: apt install xvfb)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "800x600x24", "-nolisten", "tcp", *args],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as f:
            ready, _, _ = select.select([f], [], [], 20)
            number = f.readline().strip() if ready else ""
        if not number.isdigit():
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def x_display() -> Iterator[str]:
    """A screen to drive with xdotool and photograph with PIL."""
    if not shutil.which("xdotool"):
        pytest.skip("xdotool is not installed (Debian/Ubuntu: apt install xdotool)")
    if not opencv_gui():
        pytest.skip("this OpenCV has no GUI support (opencv-python-headless)")
    pytest.importorskip("PIL.ImageGrab")
    with xvfb() as display:
        yield display


def test_window_refused_where_the_x_server_wants_a_cookie(models_dir: Path, clip: Path, tmp_path: Path) -> None:
    """A display that answers but refuses us (no cookie: another user's session, sudo) must be a one-line
    refusal too: Qt would abort the process."""
    if not opencv_gui():
        pytest.skip("this OpenCV has no GUI support (opencv-python-headless)")
    cookie = [b"", b"0", b"MIT-MAGIC-COOKIE-1", os.urandom(16)]  # an Xauthority entry: family, then 4 counted fields
    auth = tmp_path / "Xauthority"
    auth.write_bytes(struct.pack(">H", 0xFFFF) + b"".join(struct.pack(">H", len(f)) + f for f in cookie))
    with xvfb("-auth", str(auth)) as display:
        r = subprocess.run(
            [sys.executable, "-m", "nstvideo", "webcam", "--models-dir", str(models_dir), "--style", "tiny",
             "--camera", str(clip)], capture_output=True, text=True, timeout=60,
            env={**os.environ, "DISPLAY": display, "XAUTHORITY": os.devnull},
        )  # fmt: skip
    _, hint = assert_error(r, 2, "not authorised", display)
    assert "--no-window" in hint and "Authorization required" not in r.stderr  # libxcb's own line is silenced


class XScreen:
    """The virtual screen as a user sees it: find a window, press keys, look at it."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.env = {**os.environ, "DISPLAY": display}

    def xdotool(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], capture_output=True, text=True, env=self.env, timeout=20).stdout

    def find_window(self, name: str, proc: subprocess.Popen, timeout: float = 40) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.xdotool("search", "--onlyvisible", "--name", f"^{name}$").split()
            if ids:
                return ids[0]
            assert proc.poll() is None, f"exited {proc.returncode} before its window appeared: {proc.communicate()}"
            time.sleep(0.2)
        raise AssertionError(f"no window named {name!r} after {timeout} s")

    def wait_painted(self, window: str, timeout: float = 5) -> None:
        """Qt on a bare X server (no window manager) now and then loses a new window's first Expose and never
        paints it (about 1 in 10 on a loaded machine, reproduced with a bare cv2.imshow loop; keys still work).
        Mapping it again, as a window manager's reparenting would, makes Qt paint."""
        if not wait_for(lambda: bool(self.shot(window).any()), timeout):
            self.xdotool("windowunmap", "--sync", window)
            self.xdotool("windowmap", "--sync", window)

    def press(self, window: str, key: str) -> None:
        self.xdotool("windowfocus", "--sync", window)
        self.xdotool("key", key)

    def shot(self, window: str) -> np.ndarray:
        """The window's pixels (RGB) from a screenshot of the whole screen."""
        from PIL import ImageGrab

        geometry = dict(line.split("=", 1) for line in self.xdotool("getwindowgeometry", "--shell", window).split())
        x, y, w, h = (int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        screen = np.asarray(ImageGrab.grab(xdisplay=self.display).convert("RGB"))
        return screen[y : y + h, x : x + w]


def overlay_box_height(image: np.ndarray) -> int:
    """Rows of the overlay's dark box, read in a column inside the box left of the text (the box starts at
    x=8 and its text at x=14); the picture behind it is flat grey 128, which the box darkens to about 51."""
    column = image[:, 10].astype(int)
    return int(((column < 90).all(axis=1)).sum())


def wait_for(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if (value is not None if isinstance(value, np.ndarray) else value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_preview_window_shows_the_overlay_and_obeys_hotkeys(models_dir: Path, tmp_path: Path, x_display: str) -> None:
    """The real window on a real (virtual) X server: real key events in, a screenshot out; a recording and a
    network stream run from the same pipeline at the same time."""
    cam = make_clip(tmp_path / "grey.mp4", width=320, height=240, frames=48, fps=24, pattern="grey")
    screen = XScreen(x_display)
    rec = tmp_path / "rec.mp4"
    with contextlib.ExitStack() as stack:
        port, datagrams = stack.enter_context(udp_receiver())
        cmd = [sys.executable, "-m", "nstvideo", "webcam", "--models-dir", str(models_dir), "--style", "tiny",
               "--camera", str(cam), "--loop", "--output-dir", str(tmp_path), "--record", str(rec),
               "--stream", f"udp://127.0.0.1:{port}"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**screen.env, **WIDE})  # fmt: skip
        stack.callback(reap, proc)
        out, err, snapshots = _drive_window(screen, proc, tmp_path)
    r = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    assert_ok(r)
    assert "preview window open" in err
    assert summary(r)["shown"] >= 2
    snap = cv2.imread(str(snapshots[0]))
    assert snap.shape == (240, 320, 3)
    assert abs(float(snap.mean()) - 128) < 8, "the snapshot is the shown frame (the original, no overlay)"
    n, w, h = frame_count(rec)
    assert n >= 2 and (w, h) == (320, 240), "the recording ran beside the window"
    streamed = decode_ts(datagrams)
    assert len(streamed) >= 2 and {(f.width, f.height) for f in streamed} == {(320, 240)}


def _drive_window(screen: XScreen, proc: subprocess.Popen, folder: Path) -> tuple[str, str, list[Path]]:
    """Show the original (space), check the status overlay, open the help (h), snapshot (s), quit (q)."""
    window = screen.find_window("nstvideo", proc)
    screen.wait_painted(window)
    screen.press(window, "space")  # the original: flat grey, with the overlay over it

    def status_overlay() -> np.ndarray | None:
        img = screen.shot(window)
        plain = img[img.shape[0] // 2 :, img.shape[1] // 2 :]  # below and right of the overlay
        return img if abs(float(plain.mean()) - 128) < 8 and overlay_box_height(img) > 10 else None

    img = wait_for(status_overlay)
    assert img is not None, "the window never showed the original frames with the status overlay"
    assert img.shape[:2] == (240, 320), f"the window should open at the frame's size, not {img.shape[:2]}"
    status_rows = overlay_box_height(img)
    box = img[8 : 8 + status_rows, 14:]
    assert (box > 200).all(axis=2).sum() > 50, "no white text in the overlay box"

    screen.press(window, "h")
    help_rows = wait_for(lambda: (lambda n: n if n > 3 * status_rows else 0)(overlay_box_height(screen.shot(window))))
    assert help_rows > 3 * status_rows, f"help overlay not shown ({help_rows} rows vs {status_rows})"

    screen.press(window, "s")
    snapshots = wait_for(lambda: sorted(folder.glob("nstvideo-tiny-*.png")))
    assert len(snapshots) == 1, "the s hotkey wrote no snapshot"

    screen.press(window, "q")
    out, err = proc.communicate(timeout=30)
    return out, err, snapshots
