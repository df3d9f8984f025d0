"""Tests for the command line, run as a user would: `python -m nstvideo ...` in a subprocess, real clips and styles.

Every refusal must print `error: ...` and `hint: ...` on stderr, exit with the DESIGN.md code, show no traceback,
and leave nothing behind in the output folder (neither the output nor its hidden `.part` temp file).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

try:  # tests/ may or may not be a package
    from tests.clips import make_audio_only, make_clip, make_garbage, make_truncated
    from tests.conftest import reap, run_cli
except ModuleNotFoundError:
    from clips import make_audio_only, make_clip, make_garbage, make_truncated  # type: ignore[no-redef]
    from conftest import reap, run_cli  # type: ignore[no-redef]

WIDE = {"COLUMNS": "200"}  # rich wraps tables at 80 columns when stdout is not a terminal

# -- helpers -------------------------------------------------------------------------------------------------------


def cli(*args: str | Path, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    return run_cli(*map(str, args), env={**WIDE, **(env or {})}, **kw)


def stylise(models_dir: Path, command: str, *args: str | Path, **kw) -> subprocess.CompletedProcess:
    """`nstvideo COMMAND ARGS --models-dir MODELS --style tiny`."""
    return cli(command, *args, "--models-dir", models_dir, "--style", "tiny", **kw)


def temp_files(folder: Path) -> list[str]:
    """Hidden partial outputs (`.NAME.xxxx.part.SUFFIX`) left in `folder`."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and ".part" in p.name)


def assert_ok(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr
    assert "error:" not in r.stderr


def assert_error(
    r: subprocess.CompletedProcess, code: int | tuple[int, ...], *mentions: str, hint: bool = True
) -> tuple[str, str]:
    """Exit code, one `error:` line (and a `hint:` line), no traceback; returns (error text, hint text)."""
    codes = code if isinstance(code, tuple) else (code,)
    assert r.returncode in codes, f"exit {r.returncode}, wanted {codes}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line[len("error: ") :] for line in r.stderr.splitlines() if line.startswith("error: ")]
    hints = [line[len("hint: ") :] for line in r.stderr.splitlines() if line.startswith("hint: ")]
    assert len(errors) == 1, f"want exactly one error: line\nstderr:\n{r.stderr}"
    if hint:
        assert len(hints) == 1 and hints[0].strip(), f"want one non-empty hint: line\nstderr:\n{r.stderr}"
    for word in mentions:
        assert word.lower() in errors[0].lower(), f"{word!r} not in error: {errors[0]!r}"
    return errors[0], hints[0] if hints else ""


def interrupt(cmd: list[str], signum: int, code: int, before: Callable[[subprocess.Popen], None]) -> str:
    """Start `cmd`, wait with `before(proc)`, send `signum`: it must exit with `code` and no traceback. Its stderr."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        before(proc)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        reap(proc)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    return stderr


def handlers_installed(proc: subprocess.Popen) -> None:
    """Wait until the CLI catches SIGTERM (nstvideo.entry's first act), so a signal sent now is ours to handle
    however slowly Python starts on a loaded machine; Python itself dies of a signal before that."""
    status = Path(f"/proc/{proc.pid}/status")
    if not status.exists():  # not Linux: a fixed wait
        time.sleep(0.3)
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            lines = status.read_text().splitlines()
        except OSError:  # it has just ended
            return
        caught = next((line for line in lines if line.startswith("SigCgt:")), "0 0")
        if int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.005)


def assert_nothing_written(folder: Path, *expected: str) -> None:
    """`folder` holds exactly the files the test put there: no output, no partial temp file."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)


def video_packets(path: Path) -> tuple[int, str, str, int, int]:
    """(decoded frame count, codec, pix_fmt, coded width, coded height) of the first video stream."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        n = sum(1 for _ in c.decode(vs))
        return n, vs.codec_context.name, vs.codec_context.pix_fmt, vs.codec_context.width, vs.codec_context.height


def audio_payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size > 0]


def write_image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 3 + seed * 20, y * 4, (x + y) * 2], axis=-1) % 256
    assert cv2.imwrite(str(path), img.astype(np.uint8))
    return path


# -- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only-by-convention folder of input clips shared by the module (tests write elsewhere)."""
    d = tmp_path_factory.mktemp("clips")
    make_clip(d / "aac.mp4", width=64, height=48, frames=12, fps=12, audio="aac")
    make_clip(d / "odd.mp4", width=65, height=49, frames=8, fps=12, pix_fmt="yuv444p")  # 4:2:0 needs even sides
    make_clip(d / "noise.mp4", width=64, height=48, frames=24, fps=12, pattern="noise", faststart=True)
    make_truncated(d / "noise.mp4", d / "truncated.mp4", keep=0.6)
    make_garbage(d / "garbage.mp4")
    make_audio_only(d / "audio.m4a")
    (d / "empty.mp4").write_bytes(b"")
    write_image(d / "photo.jpg", 64, 48)
    (d / "notes.jpg").write_text("this is a text file, not a picture\n")
    return d


@pytest.fixture()
def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


# -- styles --------------------------------------------------------------------------------------------------------


def test_styles_lists_the_folder_with_columns(models_dir: Path) -> None:
    r = cli("styles", "--models-dir", models_dir)
    assert_ok(r)
    for column in ("name", "title", "artist", "arch", "size", "licence", "where"):
        assert column in r.stdout
    rows = {line.split("│")[1].strip() for line in r.stdout.splitlines() if line.count("│") > 2}
    assert {"tiny", "tiny2"} <= rows
    assert "Tiny2" in r.stdout and "lite" in r.stdout


def test_styles_name_shows_every_field_of_one_style(models_dir: Path) -> None:
    r = cli("styles", "tiny2", "--models-dir", models_dir)
    assert_ok(r)
    for field in ("file", "tiny2.onnx", "style", "title", "Tiny2", "artist", "Test", "architecture", "format_version"):
        assert field in r.stdout
    assert "tiny " not in r.stdout.replace("tiny2", "")  # one style, not the list


def test_styles_name_of_a_bundled_style_spells_out_its_recipe() -> None:
    r = cli("styles", "mosaic")
    assert_ok(r)
    # the recipe is stored as JSON; shown as one "name: value" per line
    assert "loss_network_weights" in r.stdout and "CRAFT" in r.stdout
    assert "temporal_weight: 2000.0" in r.stdout and '"temporal_weight"' not in r.stdout


def test_styles_name_unknown_is_refused_with_the_closest(models_dir: Path) -> None:
    r = cli("styles", "tiny3", "--models-dir", models_dir)
    _, hint = assert_error(r, 2, "unknown style")
    assert "tiny" in hint


def test_styles_with_nothing_installed_says_so(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    r = cli("styles", "--models-dir", tmp_path / "a", env={"NSTVIDEO_MODELS": str(tmp_path / "b")})
    assert_ok(r)
    # The bundled folder may hold styles or be empty: either a "none installed" note or a table of bundled ones.
    assert "No styles are installed" in r.stdout or ("nstvideo styles" in r.stdout and "tiny" not in r.stdout)
    if "No styles are installed" in r.stdout:
        assert "--models-dir" in r.stdout and "nstvideo train" in r.stdout


def test_models_env_var_finds_styles_without_the_flag(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = cli(
        "image", clips / "photo.jpg", out_dir / "o.png", "--style", "tiny", env={"NSTVIDEO_MODELS": str(models_dir)}
    )
    assert_ok(r)
    assert (out_dir / "o.png").is_file()
    r = cli("styles", env={"NSTVIDEO_MODELS": str(models_dir)})
    assert_ok(r)
    assert "tiny2" in r.stdout


# -- image ---------------------------------------------------------------------------------------------------------


def test_image_to_png_keeps_size(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = stylise(models_dir, "image", clips / "photo.jpg", out_dir / "styled.png")
    assert_ok(r)
    img = cv2.imread(str(out_dir / "styled.png"))
    assert img is not None and img.shape == (48, 64, 3)
    assert_nothing_written(out_dir, "styled.png")


def test_a_photo_is_decoded_once(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # checked before the model loads, then stylised: a 24-megapixel JPEG was decoded four times
    import cv2

    from nstvideo import cli

    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    decodes = []
    real = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decodes.append(a[1]) or real(*a))
    assert cli.main(["image", str(photo), str(tmp_path / "out.jpg"), "--style", str(tiny_model)]) == 0
    assert decodes == [cv2.IMREAD_COLOR]
    assert cv2.imread(str(tmp_path / "out.jpg")).shape == (40, 60, 3)


def test_image_directory_to_directory(models_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    sizes = {"a.jpg": (64, 48), "b.png": (48, 64), "c.jpg": (80, 40)}
    for i, (name, (w, h)) in enumerate(sizes.items()):
        write_image(src / name, w, h, seed=i)
    (src / "readme.txt").write_text("not an image; ignored")
    (src / "._a.jpg").write_bytes(b"\0\5\26\7 Mac OS X metadata")  # macOS's companion on an exFAT card: ignored
    assert_error(stylise(models_dir, "image", src, tmp_path / "styled.jpg"), 2, "is an image name")
    dst = tmp_path / "styled"  # does not exist yet: created
    r = stylise(models_dir, "image", src, dst)
    assert_ok(r)
    assert sorted(p.name for p in dst.iterdir()) == sorted(sizes)
    for name, (w, h) in sizes.items():
        img = cv2.imread(str(dst / name))
        assert img is not None and img.shape == (h, w, 3), name
    (dst / "b.png").unlink()  # as after an interrupted run
    r = stylise(models_dir, "image", src, dst, "--skip-existing")
    assert_ok(r)
    assert "2 of 3 already written" in r.stderr and sorted(p.name for p in dst.iterdir()) == sorted(sizes)
    assert "nothing to do" in stylise(models_dir, "image", src, dst, "--skip-existing").stderr


def test_image_directory_skips_what_it_cannot_read_and_says_so(models_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    write_image(src / "a.jpg", 64, 48)
    (src / "b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    write_image(src / "c.png", 48, 64)
    dst = tmp_path / "styled"
    r = stylise(models_dir, "image", src, dst)
    error, hint = assert_error(r, 1, "1 of 3 images", "b.jpg")
    assert "other 2 were written" in hint
    assert sorted(p.name for p in dst.iterdir()) == ["a.jpg", "c.png"]
    (src / "a.jpg").write_bytes(b"")
    (src / "c.png").write_bytes(b"")
    assert_error(stylise(models_dir, "image", src, tmp_path / "none"), 1, "3 of 3 images")
    assert not (tmp_path / "none").exists()  # a folder made for nothing is removed


def test_image_transparency_is_kept_where_the_output_can_hold_it(models_dir: Path, tmp_path: Path) -> None:
    logo = np.zeros((48, 64, 4), np.uint16)  # 16 bits per channel, as photo editors export PNGs
    logo[:, :, :3] = 200 * 257
    logo[:, 32:, 3] = 65535  # left half transparent
    cv2.imwrite(str(tmp_path / "logo.png"), logo)
    r = stylise(models_dir, "image", tmp_path / "logo.png", tmp_path / "out.png")
    assert_ok(r)
    assert "logo.png has 16 bits per channel" in r.stdout + r.stderr
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (48, 64, 4) and out.dtype == np.uint8
    assert out[:, :28, 3].max() == 0 and out[:, 36:, 3].min() == 255
    r = stylise(models_dir, "image", tmp_path / "logo.png", tmp_path / "out.jpg")
    assert_ok(r)
    assert "transparency is dropped" in r.stdout + r.stderr


def test_one_input_in_several_styles_to_compare_them(models_dir: Path, clips: Path, tmp_path: Path) -> None:
    # which style suits this photo, this clip? One file per style, side by side in one folder
    def several(command: str, inp: Path, out: str | Path, styles: str, *args: str) -> subprocess.CompletedProcess:
        return cli(command, inp, out, "--models-dir", models_dir, "--style", styles, *args)

    out = tmp_path / "looks"
    r = several("image", clips / "photo.jpg", f"{out}/", "tiny2, tiny,TINY")  # spaces, case, twice: each once
    assert_ok(r)
    assert sorted(p.name for p in out.iterdir()) == ["photo-tiny.jpg", "photo-tiny2.jpg"]
    assert "style 1 of 2: tiny2" in r.stderr
    assert_error(several("image", clips / "photo.jpg", out, "tiny,tiny2"), 2, "photo-tiny.jpg already exists")
    r = several("image", clips / "photo.jpg", out, "all", "--skip-existing")
    assert_ok(r)
    names = sorted(p.name for p in out.iterdir())
    assert "photo-mosaic.jpg" in names and "photo-tiny.jpg" in names and len(names) >= 4
    assert "2 of" in r.stderr and "already there" in r.stderr
    assert cv2.imread(str(out / "photo-mosaic.jpg")).shape == cv2.imread(str(clips / "photo.jpg")).shape
    # refused before any work: an unknown name (with the closest), OUT not a folder, a folder as IN
    _, hint = assert_error(several("image", clips / "photo.jpg", tmp_path / "new/", "tiny,tinny3"), 2, "tinny3")
    assert "tiny" in hint
    _, hint = assert_error(several("image", clips / "photo.jpg", tmp_path / "one.txt", "tiny,tiny2"), 2, "not a folder")
    assert "one/" in hint
    assert_error(several("image", clips / "photo.jpg", tmp_path / "new/", "tiny," + "a" * 300), 2, "unknown style")
    assert not (tmp_path / "new").exists()
    # OUT an image name: one contact sheet, the photo first, then each style, labelled, 2 a row for 3 tiles
    assert_ok(several("image", clips / "photo.jpg", tmp_path / "sheet.png", "tiny,tiny2"))
    sheet, photo = cv2.imread(str(tmp_path / "sheet.png")), cv2.imread(str(clips / "photo.jpg"))
    assert sheet.shape == (2 * (270 + 26), 2 * 360, 3)  # 64x48 tiles at 360x270, a 26-px label under each
    first = cv2.resize(photo, (360, 270), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(sheet[:270, :360].astype(int) - first).mean() < 2
    assert np.abs(sheet[:270, 360:].astype(int) - first).mean() > 2  # a style, not the photo again
    assert sheet[296:566, 360:].max() == 0  # the fourth place is empty
    assert_error(several("image", clips / "photo.jpg", tmp_path / "sheet.png", "tiny,tiny2"), 2, "already exists")
    assert_error(several("image", clips / "photo.jpg", tmp_path / "s2.png", "tiny,tiny2", "--output-size", "90"), 2,
                 "--output-size is not for a contact sheet")  # fmt: skip
    r = several("file", clips / "aac.mp4", f"{tmp_path / 'clips'}/", "tiny,tiny2", "--preset", "ultrafast")
    assert_ok(r)
    assert [video_packets(tmp_path / "clips" / f"aac-{n}.mp4")[0] for n in ("tiny", "tiny2")] == [
        video_packets(clips / "aac.mp4")[0]
    ] * 2


def test_a_folder_in_several_styles_gets_a_folder_per_style(models_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "photos"
    (src / "june").mkdir(parents=True)
    write_image(src / "a.jpg", 48, 32)
    write_image(src / "june" / "b.png", 32, 48, seed=1)
    out = src / "styled"  # inside IN: no style's outputs are read as input, on this run or the next
    r = cli("image", src, out, "-r", "--models-dir", models_dir, "--style", "tiny,tiny2")
    assert_ok(r)
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*.*"))
    assert made == ["tiny/a.jpg", "tiny/june/b.png", "tiny2/a.jpg", "tiny2/june/b.png"]
    assert "style 2 of 2: tiny2" in r.stderr
    (out / "tiny2" / "a.jpg").unlink()
    r = cli("image", src, out, "-r", "--skip-existing", "--models-dir", models_dir, "--style", "tiny,tiny2")
    assert_ok(r)
    assert "every output of tiny is in" in r.stderr and (out / "tiny2" / "a.jpg").is_file()
    # every style's outputs are checked before the first model loads
    assert_error(cli("image", src, out, "-r", "--models-dir", models_dir, "--style", "tiny,tiny2"), 2, "already holds")
    # refused: OUT named as an image (a sheet takes one photo), OUT == IN; an unreadable input is skipped in every
    # style, and every style still runs (exit 1 at the end, one line)
    assert_error(cli("image", src, tmp_path / "s.jpg", "--style", "mosaic,candy"), 2, "needs a folder as OUT")
    assert_error(cli("image", src, src, "--style", "mosaic,candy"), 2, "is the input directory")
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    r = cli("image", src, tmp_path / "b", "--models-dir", models_dir, "--style", "tiny,tiny2")
    _, hint = assert_error(r, 1, "2 of 2 styles skipped inputs", "broken.jpg")
    assert "--skip-existing" in hint
    assert sorted(str(p.relative_to(tmp_path / "b")) for p in (tmp_path / "b").rglob("*.*")) == [
        "tiny/a.jpg", "tiny2/a.jpg",
    ]  # fmt: skip
    clips = tmp_path / "clips"
    clips.mkdir()
    make_clip(clips / "a.mp4", frames=2)
    make_clip(clips / "b.avi", frames=2, codec="mpeg4")
    r = cli("file", clips, tmp_path / "v", "--models-dir", models_dir, "--style", "tiny,tiny2", "--preset", "ultrafast")
    assert_ok(r)
    assert sorted(str(p.relative_to(tmp_path / "v")) for p in (tmp_path / "v").rglob("*.*")) == [
        "tiny/a.mp4", "tiny/b.mp4", "tiny2/a.mp4", "tiny2/b.mp4",
    ]  # fmt: skip


def test_several_styles_that_would_share_a_file_or_fail_midway(models_dir: Path, clips: Path, tmp_path: Path) -> None:
    from nstvideo.errors import ProcessingError
    from nstvideo.pipeline import runner
    from nstvideo.pipeline.models import resolve_style

    (tmp_path / "retrained").mkdir()
    shutil.copy(models_dir / "tiny.onnx", tmp_path / "retrained" / "tiny.onnx")  # its own name is tiny too
    styles = f"tiny,{tmp_path / 'retrained' / 'tiny.onnx'}"
    r = cli("image", clips / "photo.jpg", f"{tmp_path / 'looks'}/", "--models-dir", models_dir, "--style", styles)
    assert_error(r, 2, "would both be written as photo-tiny.jpg")
    assert not (tmp_path / "looks").exists()
    (tmp_path / "my style,v2.onnx").write_bytes((models_dir / "tiny2.onnx").read_bytes())
    r = cli(
        "image", clips / "photo.jpg", f"{tmp_path / 'looks'}/", "--style", f"mosaic,{tmp_path / 'my style,v2.onnx'}"
    )
    _, hint = assert_error(r, 2, "not found")
    assert "split at its commas" in hint
    # a style that fails while working is named, with what was written
    photo = cv2.imread(str(clips / "photo.jpg"))

    class Broken:
        def __init__(self, model: object) -> None:
            self.model = model

        def __enter__(self) -> Broken:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def __call__(self, frame: np.ndarray) -> np.ndarray:
            if self.model.name == "tiny2":
                raise RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT")
            return frame

    targets = [(resolve_style(n, [models_dir]), tmp_path / f"p-{n}.png") for n in ("tiny", "tiny2")]
    with pytest.raises(ProcessingError, match=r"style tiny2: failed while working: RuntimeError.*; 1 of 2 styles"):
        runner.stylize_with_styles(clips / "photo.jpg", targets, Broken, video=False, photo=photo)
    assert (tmp_path / "p-tiny.png").is_file() and not (tmp_path / "p-tiny2.png").exists()


def test_image_output_size_sets_the_short_side(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = stylise(models_dir, "image", clips / "photo.jpg", out_dir / "small.png", "--output-size", "32")
    assert_ok(r)
    img = cv2.imread(str(out_dir / "small.png"))
    assert img.shape[0] == 32 and abs(img.shape[1] - 43) <= 1  # 64x48 -> 43x32, aspect kept


def test_image_strength_zero_returns_the_input(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = stylise(models_dir, "image", clips / "photo.jpg", out_dir / "same.png", "--strength", "0")
    assert_ok(r)
    original = cv2.imread(str(clips / "photo.jpg")).astype(int)
    result = cv2.imread(str(out_dir / "same.png")).astype(int)
    assert result.shape == original.shape
    assert np.abs(result - original).max() <= 2


# -- file ----------------------------------------------------------------------------------------------------------


def test_file_keeps_frames_and_copies_audio_bytes(models_dir: Path, clips: Path, out_dir: Path) -> None:
    out = out_dir / "styled.mp4"
    r = stylise(models_dir, "file", clips / "aac.mp4", out, "--preset", "ultrafast")
    assert_ok(r)
    assert_nothing_written(out_dir, "styled.mp4")
    n_in = video_packets(clips / "aac.mp4")[0]
    n_out, codec, pix_fmt, w, h = video_packets(out)
    assert n_in == 12
    assert (n_out, codec, pix_fmt, w, h) == (n_in, "h264", "yuv420p", 64, 48)
    audio_in, audio_out = audio_payloads(clips / "aac.mp4"), audio_payloads(out)
    assert audio_in and audio_out == audio_in  # copied packet for packet, never re-encoded


def test_file_on_a_folder_stylises_every_video_with_one_model_load(models_dir: Path, tmp_path: Path) -> None:
    # an editor's folder of clips: each comes out under its name (.mkv and .mov kept, others as .mp4), the same
    # frames and the audio; other files are left alone
    src = tmp_path / "clips"
    src.mkdir()
    make_clip(src / "a.mp4", frames=6, audio=True)
    make_clip(src / "b.mkv", frames=5)
    make_clip(src / "c.avi", frames=4, codec="mpeg4")
    write_image(src / "poster.jpg", 32, 32)
    (src / "notes.txt").write_text("take 2 is the good one")
    (src / "._a.mp4").write_bytes(b"\0\5\26\7 Mac OS X metadata")  # what macOS leaves on an exFAT card
    out = tmp_path / "styled"
    r = stylise(models_dir, "file", src, out, "--preset", "ultrafast")
    assert_ok(r)
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mkv", "c.mp4"]
    assert [video_packets(out / n)[0] for n in ("a.mp4", "b.mkv", "c.mp4")] == [6, 5, 4]
    assert audio_payloads(out / "a.mp4") == audio_payloads(src / "a.mp4")
    assert "video 3 of 3: c.avi" in r.stderr
    assert r.stderr.count("style tiny on cpu") == 3


def test_file_on_a_folder_skips_a_broken_video_and_says_so(models_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "clips"
    src.mkdir()
    make_clip(src / "a.mp4", frames=4)
    make_garbage(src / "b.mp4")
    # fails mid-run, in the pipeline: that must not read as a Ctrl-C for the rest of the run (it did: exit 130)
    make_truncated(make_clip(tmp_path / "long.mkv", frames=48, pattern="noise"), src / "b2.mkv")
    make_clip(src / "c.mkv", frames=4)
    out = tmp_path / "styled"
    r = stylise(models_dir, "file", src, out, "--preset", "ultrafast")
    assert_error(r, 1, "2 of 4 videos skipped", "b.mp4")
    assert "warning: skipped b.mp4" in r.stderr and "warning: skipped b2.mkv" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "c.mkv"]  # no partial file of b or b2


def test_file_on_a_folder_refuses_what_would_stop_it_halfway(models_dir: Path, tmp_path: Path) -> None:
    # each of these stopped the run after the first video with exit 2 ("refused before starting")
    src = tmp_path / "clips"
    src.mkdir()
    make_clip(src / "a.mp4", frames=2)
    make_clip(src / "b.mp4", frames=2)
    out = tmp_path / "o"
    (out / "b.mp4").mkdir(parents=True)  # a folder where an output goes
    assert_error(stylise(models_dir, "file", src, out, "--overwrite"), 2, "b.mp4", "is a directory")
    (out / "b.mp4").rmdir()
    os.link(src / "b.mp4", out / "b.mp4")  # the input itself, linked in
    assert_error(stylise(models_dir, "file", src, out, "--overwrite"), 2, "is the input b.mp4")
    (out / "b.mp4").unlink()
    long = src / ("x" * 252 + ".ts")  # a legal name whose .mp4 output is one byte too long
    make_clip(long, frames=2)
    _, hint = assert_error(stylise(models_dir, "file", src, out), 2, "file names hold 255")
    assert "rename that input" in hint
    assert sorted(p.name for p in out.iterdir()) == []  # nothing was started


def test_file_on_a_folder_skips_videos_the_options_or_their_type_do_not_fit(models_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "clips"
    src.mkdir()
    make_clip(src / "a.mp4", frames=12, fps=60)
    make_clip(src / "b.mp4", frames=12, fps=10)  # --duration 0.03 selects none of its frames
    write_image(src / "c.png", 64, 48).rename(src / "c.mp4")  # a photo under a video's name
    (src / "d.mp4").symlink_to(tmp_path / "unplugged.mp4")  # footage on a drive that is not there
    out = tmp_path / "o"
    r = stylise(models_dir, "file", src, out, "--duration", "0.03", "--preset", "ultrafast")
    error, hint = assert_error(r, 1, "2 of 3 videos skipped", "b.mp4")
    assert "warning: skipped c.mp4" in r.stderr and "still image" in r.stderr
    assert r.stderr.count("d.mp4 links to") == 1 and "missing" in r.stderr
    assert "--skip-existing" in hint
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]


def test_an_interrupted_folder_run_is_finished_with_skip_existing(models_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "clips"
    src.mkdir()
    for name in ("a.mp4", "b.mkv", "c.mp4"):
        make_clip(src / name, frames=3)
    out = tmp_path / "o"
    out.mkdir()
    assert_ok(stylise(models_dir, "file", src / "a.mp4", out / "a.mp4", "--preset", "ultrafast"))
    before = (out / "a.mp4").read_bytes()
    _, hint = assert_error(stylise(models_dir, "file", src, out), 2, "already holds outputs of this run: 1 of 3")
    assert "--skip-existing" in hint
    assert_error(stylise(models_dir, "file", src, out, "--skip-existing", "--overwrite"), 2, "contradict")
    r = stylise(models_dir, "file", src, out, "--skip-existing", "--preset", "ultrafast")
    assert_ok(r)
    assert r.stderr.count("1 of 3 already written") == 1 and "video 2 of 2: c.mp4" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mkv", "c.mp4"]
    assert (out / "a.mp4").read_bytes() == before
    r = stylise(models_dir, "file", src, out, "--skip-existing")
    assert_ok(r)
    assert "nothing to do" in r.stderr
    # one file into the folder: its output there is the one skipped
    r = stylise(models_dir, "file", src / "a.mp4", out, "--skip-existing")
    assert_ok(r)
    assert "a.mp4 is there already: skipped" in r.stderr and (out / "a.mp4").read_bytes() == before


def test_a_signal_just_after_a_video_is_written_stops_the_folder_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the moment between a video's rename and the next one: a Ctrl-C there was lost (the run went on, exit 0)
    from nstvideo.errors import Interrupted
    from nstvideo.pipeline import runner

    src = tmp_path / "clips"
    src.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (src / name).write_bytes(b"")
    tried = []

    def stylize_file(inp: str, out: str, *_a: object, **_k: object) -> int:
        tried.append(Path(inp).name)
        Path(out).write_bytes(b"video")
        os.kill(os.getpid(), signal.SIGINT)  # lands after the output is in place
        return 1

    monkeypatch.setattr(runner, "stylize_file", stylize_file)
    with pytest.raises(Interrupted, match="1 of 3 videos written"):
        runner.stylize_videos(src, tmp_path / "out", None)
    assert tried == ["a.mp4"]


def test_file_on_a_folder_stops_at_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a video that cannot be read is skipped; one that cannot be written ends the run (so would the next ones)
    from nstvideo.errors import InputError, ProcessingError
    from nstvideo.pipeline import runner

    src = tmp_path / "clips"
    src.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4", "d.mp4"):
        (src / name).write_bytes(b"")
    tried = []

    def stylize_file(inp: str, out: str, *_a: object, **_k: object) -> int:
        tried.append(Path(inp).name)
        if inp.endswith("a.mp4"):
            raise InputError("a.mp4 cannot be read")
        if inp.endswith("c.mp4"):
            try:
                raise OSError(28, "No space left on device")
            except OSError as exc:
                raise ProcessingError("cannot finish writing", "the disk is full") from exc
        Path(out).write_bytes(b"video")
        return 1

    monkeypatch.setattr(runner, "stylize_file", stylize_file)
    with pytest.raises(ProcessingError, match="cannot finish writing"):
        runner.stylize_videos(src, tmp_path / "out", None)
    assert tried == ["a.mp4", "b.mp4", "c.mp4"]


def test_recursive_folder_runs_keep_the_subfolders(models_dir: Path, tmp_path: Path) -> None:
    # a card or a project folder: clips in day folders. The tree comes out as it went in; a dot folder (macOS's
    # .Trashes on a card) is passed over, and OUT inside IN is not read as input on the next run
    src = tmp_path / "card"
    for rel in ("day1/a.mp4", "day1/cam/b.mov", "day2/c.avi", ".Trashes/old.mp4", "$RECYCLE.BIN/S-1-5/$R1.mp4"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        make_clip(src / rel, frames=3, codec="mpeg4" if rel.endswith(".avi") else "libx264")
    out = src / "styled"
    _, hint = assert_error(stylise(models_dir, "file", src, out), 2, "has no videos", "subfolders have 3")
    assert "--recursive" in hint
    assert_ok(stylise(models_dir, "file", src, out, "-r", "--preset", "ultrafast"))
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert made == ["day1/a.mp4", "day1/cam/b.mov", "day2/c.mp4"]
    assert [video_packets(out / n)[0] for n in made] == [3, 3, 3]
    (out / "day2" / "c.mp4").unlink()  # as after an interrupted run
    r = stylise(models_dir, "file", src, out, "--recursive", "--skip-existing", "--preset", "ultrafast")
    assert_ok(r)
    assert "styled is the output folder: not read as input" in r.stderr and "video 1 of 1: day2/c.avi" in r.stderr
    assert (out / "day2" / "c.mp4").is_file()
    # a file where an output's subfolder goes: refused before any work, nothing written
    shutil.rmtree(out)
    (out / "day1").mkdir(parents=True)
    (out / "day1" / "cam").write_text("a file, not a folder")
    assert_error(stylise(models_dir, "file", src, out, "-r"), 2, "day1/cam", "is a file")
    assert sorted(p.name for p in (out / "day1").iterdir()) == ["cam"]


def test_a_recursive_run_never_writes_over_an_input(models_dir: Path, tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "in" / "in").mkdir(parents=True)
    make_clip(top / "in" / "a.mp4", frames=2)
    make_clip(top / "in" / "in" / "a.avi", frames=2, codec="mpeg4")  # its output would be top/in/a.mp4, an input
    before = (top / "in" / "a.mp4").read_bytes()
    for flag in ("--overwrite", "--skip-existing"):
        assert_error(stylise(models_dir, "file", top / "in", top, "-r", flag), 2, "would be the input")
    assert (top / "in" / "a.mp4").read_bytes() == before
    src, out = tmp_path / "src", tmp_path / "out"
    for i, sub in enumerate(("s", "t")):
        (src / sub).mkdir(parents=True)
        write_image(src / sub / "x.png", 32, 24, seed=i)
    out.mkdir()
    (out / "s").symlink_to(src / "t")  # OUT's s/ is IN's t/: s/x.png's output would be the input t/x.png
    assert_error(stylise(models_dir, "image", src, out, "-r", "--overwrite"), 2, "would be the input")
    assert cv2.imread(str(src / "t" / "x.png")).shape == (24, 32, 3)


def test_a_recursive_run_refuses_up_front_what_would_stop_it(models_dir: Path, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "s").mkdir(parents=True)
    write_image(src / "s" / "x.png", 32, 24)
    out.mkdir()
    (out / "s").symlink_to(tmp_path / "nowhere")  # where s/'s outputs go
    assert_error(
        stylise(models_dir, "image", src, out, "-r"), 2, "s, where s/x.png's output goes, is a link to nothing"
    )
    (out / "s").unlink()
    write_image(src / "s" / "X.PNG", 32, 24)  # one output name on macOS, Windows and exFAT disks
    assert_error(stylise(models_dir, "image", src, out, "-r"), 2, "differ only in case")
    clips = tmp_path / "clips"
    (clips / "a.mp4").mkdir(parents=True)  # a folder named like a video: a.avi's output would be its name
    make_clip(clips / "a.mp4" / "x.mp4", frames=2)
    make_clip(clips / "a.avi", frames=2, codec="mpeg4")
    assert_error(stylise(models_dir, "file", clips, tmp_path / "o", "-r"), 2, "as a folder of outputs")
    assert sorted(p.name for p in out.iterdir()) == [] and not (tmp_path / "o").exists()


def test_recursive_image_run_and_what_it_leaves_when_nothing_is_written(models_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "photos"
    (src / "2024" / "june").mkdir(parents=True)
    (src / "scans").mkdir()
    write_image(src / "top.jpg", 40, 32)
    write_image(src / "2024" / "june" / "a.png", 32, 40, seed=1)
    (src / "scans" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (src / "2024" / "loop").symlink_to("..")  # a link back up: followed once, not for ever
    (src / "0-link").symlink_to("2024")  # first by name, but 2024 is the real folder: its name is kept
    out = tmp_path / "styled"
    r = stylise(models_dir, "image", src, out, "-r")
    assert_error(r, 1, "1 of 3 images", "broken.jpg")
    assert r.stderr.count(", read already: passed over") == 2 and f"0-link is {src / '2024'}," in r.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "2024",
        "2024/june",
        "2024/june/a.png",
        "top.jpg",
    ]
    assert cv2.imread(str(out / "2024" / "june" / "a.png")).shape == (40, 32, 3)
    (src / "top.jpg").write_bytes(b"")
    (src / "2024" / "june" / "a.png").write_bytes(b"")
    assert_error(stylise(models_dir, "image", src, tmp_path / "none", "-r"), 1, "3 of 3 images")
    assert not (tmp_path / "none").exists()  # the folders made for nothing are removed, subfolders too


def test_one_input_into_a_folder_keeps_its_name(models_dir: Path, clips: Path, tmp_path: Path) -> None:
    # as cp does: OUT a folder (or a name ending in /, made inside an existing folder) gets IN's name
    make_clip(tmp_path / "take.avi", frames=3, codec="mpeg4")
    write_image(tmp_path / "still.png", 40, 30)
    there = tmp_path / "there"
    there.mkdir()
    assert_ok(stylise(models_dir, "file", tmp_path / "take.avi", there, "--preset", "ultrafast"))
    assert_ok(stylise(models_dir, "image", tmp_path / "still.png", there))
    assert sorted(p.name for p in there.iterdir()) == ["still.png", "take.mp4"]
    assert video_packets(there / "take.mp4")[0] == 3
    assert_error(stylise(models_dir, "image", tmp_path / "still.png", there), 2, "still.png already exists")
    assert_ok(stylise(models_dir, "file", tmp_path / "take.avi", f"{tmp_path / 'new'}/", "--preset", "ultrafast"))
    assert (tmp_path / "new" / "take.mp4").is_file()
    assert_error(stylise(models_dir, "file", tmp_path / "take.avi", f"{tmp_path / 'no' / 'new'}/"), 2, "does not exist")
    assert_error(stylise(models_dir, "image", tmp_path / "still.png", f"{tmp_path / 'still.png'}/"), 2, "is a file")
    assert_error(stylise(models_dir, "image", tmp_path / "still.png", f"{tmp_path / ('L' * 300)}/"), 2, "bytes long")
    assert_error(stylise(models_dir, "image", tmp_path / "still.png", f"{tmp_path / 'no' / 'new'}/"), 2, "not exist")
    for empty in (("", there), (tmp_path / "still.png", "")):  # an unset variable: not "the current folder"
        assert_error(stylise(models_dir, "image", *empty), 2, "is empty")
    shutil.copy(tmp_path / "take.avi", tmp_path / "take.2024.06.01")  # a suffix that is no video's
    assert_ok(stylise(models_dir, "file", tmp_path / "take.2024.06.01", there, "--preset", "ultrafast"))
    assert (there / "take.2024.06.01.mp4").is_file()
    # IN a folder: OUT/ is a folder whatever its name
    (tmp_path / "clips").mkdir()
    shutil.copy(tmp_path / "take.avi", tmp_path / "clips")
    assert_ok(stylise(models_dir, "file", tmp_path / "clips", f"{tmp_path / 'styled.mp4'}/", "--preset", "ultrafast"))
    assert (tmp_path / "styled.mp4" / "take.mp4").is_file()
    # a folder made for an output that then fails is removed (an image's is made before the style is read)
    assert_error(cli("image", tmp_path / "still.png", f"{tmp_path / 'gone'}/", "--style", "nosuch"), 2, "nosuch")
    assert not (tmp_path / "gone").exists()
    broken = tmp_path / "cut.mkv"
    make_truncated(make_clip(tmp_path / "long.mkv", frames=48, pattern="noise"), broken)
    assert_error(stylise(models_dir, "file", broken, f"{tmp_path / 'gone'}/", "--preset", "ultrafast"), 1)
    assert not (tmp_path / "gone").exists()


def test_a_hard_stop_removes_the_folders_made_for_nothing(tmp_path: Path) -> None:
    # the third Ctrl-C ends at once (os._exit): the temp files go, and the folders made for them with them
    from nstvideo.pipeline import outputs
    from nstvideo.pipeline.runner import output_folder

    with output_folder(tmp_path / "out") as make:
        make(tmp_path / "out" / "day1" / "cam")
        make(tmp_path / "out" / "day2")
        (tmp_path / "out" / "day2" / "done.mp4").write_bytes(b"finished")
        tmp = outputs.temp_path_for(tmp_path / "out" / "day1" / "cam" / "a.mp4")
        outputs.remove_unfinished()
        assert not tmp.exists() and not (tmp_path / "out" / "day1").exists()
        assert (tmp_path / "out" / "day2" / "done.mp4").is_file()
    assert outputs.made_folders == []


def test_file_on_a_folder_refuses_before_any_work(models_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "clips"
    src.mkdir()
    (src / "notes.txt").write_text("no video here")
    assert_error(stylise(models_dir, "file", src, tmp_path / "o"), 2, "has no videos")
    make_clip(src / "take.avi", frames=2, codec="mpeg4")
    make_clip(src / "take.mp4", frames=2)
    assert_error(stylise(models_dir, "file", src, tmp_path / "o"), 2, "take.avi and take.mp4", "take.mp4")
    (src / "take.avi").unlink()
    assert_error(stylise(models_dir, "file", src, src), 2, "is the input directory")
    assert_error(stylise(models_dir, "file", src, tmp_path / "o.mp4"), 2, "is a video name")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "take.mp4").write_bytes(b"earlier")
    assert_error(stylise(models_dir, "file", src, tmp_path / "o"), 2, "already holds")
    assert (tmp_path / "o" / "take.mp4").read_bytes() == b"earlier"
    assert_error(stylise(models_dir, "file", src, tmp_path / "p", "--crf", "60"), 2, "crf")
    assert_error(stylise(models_dir, "file", src, tmp_path / "p", "--start", "-1"), 2, "start")  # not per video
    assert_error(stylise(models_dir, "file", src, tmp_path / ("p" * 300)), 2, "bytes long")
    assert not (tmp_path / "p").exists()


def test_prores_outputs_are_mov_files(models_dir: Path, clips: Path, tmp_path: Path) -> None:
    src = tmp_path / "clips"
    src.mkdir()
    make_clip(src / "a.mp4", frames=3, audio=True)
    make_clip(src / "b.mkv", frames=2)
    r = stylise(models_dir, "file", src, tmp_path / "edit", "--encoder", "prores")
    assert_ok(r)
    assert sorted(p.name for p in (tmp_path / "edit").iterdir()) == ["a.mov", "b.mkv"]  # .mkv takes ProRes too
    with av.open(str(tmp_path / "edit" / "a.mov")) as c:
        assert [s.codec_context.name for s in c.streams] == ["prores", "pcm_s24le"]
    assert_ok(stylise(models_dir, "file", src / "a.mp4", f"{tmp_path / 'one'}/", "--encoder", "prores"))
    assert (tmp_path / "one" / "a.mov").is_file()
    _, hint = assert_error(
        stylise(models_dir, "file", src / "a.mp4", tmp_path / "a.mp4", "--encoder", "prores"), 2, ".mp4"
    )
    assert ".mov" in hint
    assert_error(stylise(models_dir, "file", src / "a.mp4", tmp_path / "a.mov", "--encoder", "prores", "--crf", "10"),
                 2, "--crf and --preset are for H.264")  # fmt: skip


def test_file_start_and_duration_select_frames(models_dir: Path, clips: Path, out_dir: Path) -> None:
    out = out_dir / "cut.mkv"
    r = stylise(
        models_dir, "file", clips / "aac.mp4", out, "--start", "0.5", "--duration", "0.25", "--preset", "ultrafast"
    )
    assert_ok(r)
    assert video_packets(out)[0] == 3  # 12 fps: frames at 0.5, 0.583, 0.667 s


def test_file_smooth_keeps_every_frame_and_the_audio(models_dir: Path, clips: Path, out_dir: Path) -> None:
    out = out_dir / "smooth.mp4"
    assert_ok(stylise(models_dir, "file", clips / "aac.mp4", out, "--smooth", "0.5", "--preset", "ultrafast"))
    assert video_packets(out)[:2] == (12, "h264")
    assert audio_payloads(out) == audio_payloads(clips / "aac.mp4")


def test_file_odd_size_is_padded(models_dir: Path, clips: Path, out_dir: Path) -> None:
    out = out_dir / "odd.mov"
    r = stylise(models_dir, "file", clips / "odd.mp4", out, "--preset", "ultrafast")
    assert_ok(r)
    assert "pad" in r.stderr.lower()
    n, codec, pix_fmt, w, h = video_packets(out)
    assert (n, codec, pix_fmt) == (8, "h264", "yuv420p")
    assert (w, h) == (66, 50)


def test_existing_output_needs_overwrite(models_dir: Path, clips: Path, out_dir: Path) -> None:
    out = out_dir / "x.mp4"
    out.write_bytes(b"precious bytes")
    r = stylise(models_dir, "file", clips / "aac.mp4", out)
    assert_error(r, 2, "exists")
    assert "--overwrite" in r.stderr
    assert out.read_bytes() == b"precious bytes"
    assert_nothing_written(out_dir, "x.mp4")

    r = stylise(models_dir, "file", clips / "aac.mp4", out, "--overwrite", "--preset", "ultrafast")
    assert_ok(r)
    assert video_packets(out)[0] == 12
    assert_nothing_written(out_dir, "x.mp4")


def test_existing_image_output_needs_overwrite(models_dir: Path, clips: Path, out_dir: Path) -> None:
    out = out_dir / "x.png"
    out.write_bytes(b"precious bytes")
    assert_error(stylise(models_dir, "image", clips / "photo.jpg", out), 2, "exists")
    assert out.read_bytes() == b"precious bytes"
    assert_ok(stylise(models_dir, "image", clips / "photo.jpg", out, "--overwrite"))
    assert cv2.imread(str(out)).shape == (48, 64, 3)


def test_long_output_names_work_up_to_the_filesystem_limit(models_dir: Path, clips: Path, out_dir: Path) -> None:
    longest = out_dir / ("é" * 125 + ".png")  # 254 bytes: legal, though its temp file's name would not have been
    assert_ok(stylise(models_dir, "image", clips / "photo.jpg", longest))
    assert cv2.imread(str(longest)).shape == (48, 64, 3)
    assert_error(stylise(models_dir, "image", clips / "photo.jpg", out_dir / ("L" * 300 + ".png")), 2, "bytes long")


@pytest.mark.parametrize("command", ["file", "image"])
def test_output_permissions_follow_the_umask(models_dir: Path, clips: Path, out_dir: Path, command: str) -> None:
    src, out = (clips / "aac.mp4", out_dir / "o.mp4") if command == "file" else (clips / "photo.jpg", out_dir / "o.png")
    assert_ok(stylise(models_dir, command, src, out, preexec_fn=lambda: os.umask(0o022)))
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # what `open()` or ffmpeg would create under umask 022


# -- refused inputs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "mentions"),
    [
        ("missing.mp4", 2, ("missing.mp4",)),
        ("empty.mp4", 2, ("empty",)),
        ("garbage.mp4", 2, ("garbage.mp4",)),
        ("audio.m4a", 2, ("video stream",)),
    ],
)
def test_bad_video_inputs_are_refused(
    models_dir: Path, clips: Path, out_dir: Path, name: str, code: int, mentions: tuple[str, ...]
) -> None:
    r = stylise(models_dir, "file", clips / name, out_dir / "o.mp4")
    assert_error(r, code, *mentions)
    assert_nothing_written(out_dir)


def test_truncated_video_fails_without_leaving_output(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = stylise(models_dir, "file", clips / "truncated.mp4", out_dir / "o.mp4")
    # Cut mid-stream (faststart): it fails while working (1); a lost header would be refused at open (2).
    assert_error(r, (1, 2))
    assert_nothing_written(out_dir)


@pytest.mark.parametrize(
    ("name", "mentions"),
    [("missing.jpg", ("not found",)), ("notes.jpg", ("decode",)), ("aac.mp4", ("not a supported image",))],
)
def test_bad_image_inputs_are_refused(
    models_dir: Path, clips: Path, out_dir: Path, name: str, mentions: tuple[str, ...]
) -> None:
    r = stylise(models_dir, "image", clips / name, out_dir / "o.png")
    assert_error(r, 2, *mentions)
    assert_nothing_written(out_dir)


def test_unknown_style_suggests_close_names(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = cli("file", clips / "aac.mp4", out_dir / "o.mp4", "--models-dir", models_dir, "--style", "tinny")
    _, hint = assert_error(r, 2, "tinny")
    assert "tiny" in hint
    assert_nothing_written(out_dir)


def test_a_well_known_style_we_do_not_ship_says_why_and_what_to_do(clips: Path, out_dir: Path) -> None:
    r = cli("image", clips / "photo.jpg", out_dir / "o.png", "--style", "udnie")
    _, hint = assert_error(r, 2, "udnie", "not bundled")
    assert "nstvideo train" in hint and "keyframe" in hint
    assert "nstvideo import udnie.pth udnie.onnx" in hint  # pytorch/examples publishes one
    assert_nothing_written(out_dir)


def test_a_broken_style_named_on_the_command_line_says_why(clips: Path, tmp_path: Path, out_dir: Path) -> None:
    folder = tmp_path / "styles"
    folder.mkdir()
    (folder / "sketchy.onnx").write_bytes(b"not a protobuf at all")
    r = cli("image", clips / "photo.jpg", out_dir / "o.png", "--models-dir", folder, "--style", "sketchy")
    error, _ = assert_error(r, 2, "sketchy.onnx")
    assert "unknown style" not in error
    assert_nothing_written(out_dir)


def test_a_painting_given_as_style_points_to_style_image(clips: Path, out_dir: Path) -> None:
    r = cli("image", clips / "photo.jpg", out_dir / "o.png", "--style", clips / "photo.jpg")
    _, hint = assert_error(r, 2, "is an image")
    assert "--style-image" in hint


def test_corrupt_onnx_is_refused(clips: Path, tmp_path: Path, out_dir: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    r = cli("file", clips / "aac.mp4", out_dir / "o.mp4", "--style", bad)
    assert_error(r, 2, "broken.onnx")
    assert_nothing_written(out_dir)


def test_onnx_breaking_the_contract_is_refused(clips: Path, tmp_path: Path, out_dir: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, None, None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, None, None])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / "identity.onnx"
    onnx.save(model, str(path))
    r = cli("file", clips / "aac.mp4", out_dir / "o.mp4", "--style", path)
    assert_error(r, 2, "contract")
    assert_nothing_written(out_dir)


def test_unavailable_cuda_is_an_error_not_a_cpu_run(models_dir: Path, clips: Path, out_dir: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    r = stylise(models_dir, "file", clips / "aac.mp4", out_dir / "o.mp4", "--device", "cuda")
    assert_error(r, 2, "cuda")
    assert_nothing_written(out_dir)


def test_unavailable_nvenc_is_an_error(models_dir: Path, clips: Path, out_dir: Path) -> None:
    from nstvideo.pipeline.media import available_h264_encoders

    if "h264_nvenc" in available_h264_encoders():
        pytest.skip("NVENC works here")
    r = stylise(models_dir, "file", clips / "aac.mp4", out_dir / "o.mp4", "--encoder", "h264_nvenc")
    assert_error(r, 2, "h264_nvenc")
    assert_nothing_written(out_dir)


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("--strength", "1.5"), ("strength",)),
        (("--size", "3"), ("size",)),
        (("--size", "100000"), ("size", "4320")),
        (("--crf", "99"), ("crf",)),
        (("--start", "-1"), ("start",)),
        (("--start", "50"), ("beyond the end",)),
        (("--output-size", "4"), ("output-size",)),
        (("--output-size", "9000"), ("output-size",)),
        (("--preset", "warp"), ("preset",)),
        (("--device", "quantum"), ("device",)),
        (("--batch-size", "0"), ("batch-size",)),
        (("--duration", "0"), ("duration",)),
        (("--smooth", "1.5"), ("smooth",)),
    ],
)
def test_bad_values_are_refused(
    models_dir: Path, clips: Path, out_dir: Path, args: tuple[str, ...], mentions: tuple[str, ...]
) -> None:
    r = stylise(models_dir, "file", clips / "aac.mp4", out_dir / "o.mp4", *args)
    assert_error(r, 2, *mentions)
    assert_nothing_written(out_dir)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="address-space limit (RLIMIT_AS) as on Linux")
def test_out_of_memory_is_one_line_and_writes_nothing(models_dir: Path, clips: Path, out_dir: Path) -> None:
    """A --size the machine cannot hold: ONNX Runtime's allocation failure becomes an error naming --size."""
    import resource

    def three_gib() -> None:  # in the child only: an 8K-ish frame needs more than this
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    r = stylise(models_dir, "image", clips / "photo.jpg", out_dir / "o.png", "--size", "4000", preexec_fn=three_gib)
    _, hint = assert_error(r, 1, "out of memory", "on cpu")
    assert "--size" in hint and "[E:onnxruntime" not in r.stderr  # no ONNX Runtime log lines around it
    assert_nothing_written(out_dir)


def test_duration_shorter_than_a_frame_blames_the_duration(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = stylise(models_dir, "file", clips / "aac.mp4", out_dir / "o.mp4", "--duration", "0.01")
    assert_error(r, 2, "duration")
    assert_nothing_written(out_dir)


def test_image_bad_strength_is_refused(models_dir: Path, clips: Path, out_dir: Path) -> None:
    assert_error(
        stylise(models_dir, "image", clips / "photo.jpg", out_dir / "o.png", "--strength", "-0.1"), 2, "strength"
    )
    assert_nothing_written(out_dir)


def test_unsupported_output_container(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = stylise(models_dir, "file", clips / "aac.mp4", out_dir / "o.avi")
    _, hint = assert_error(r, 2, ".avi")
    assert ".mp4" in hint
    assert_nothing_written(out_dir)


def test_unknown_flag_exits_2(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = stylise(models_dir, "file", clips / "aac.mp4", out_dir / "o.mp4", "--bogus")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "--bogus" in r.stderr
    assert_nothing_written(out_dir)


def test_unknown_flag_uses_the_error_hint_format(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = stylise(models_dir, "file", clips / "aac.mp4", out_dir / "o.mp4", "--bogus")
    assert_error(r, 2, "--bogus")


# -- refused outputs -----------------------------------------------------------------------------------------------


def test_missing_output_directory(models_dir: Path, clips: Path, tmp_path: Path) -> None:
    r = stylise(models_dir, "file", clips / "aac.mp4", tmp_path / "nowhere" / "o.mp4")
    _, hint = assert_error(r, 2, "nowhere")
    assert "mkdir" in hint
    assert_nothing_written(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0555 directory anyway")
def test_unwritable_output_directory(models_dir: Path, clips: Path, out_dir: Path) -> None:
    out_dir.chmod(0o555)
    try:
        r = stylise(models_dir, "file", clips / "aac.mp4", out_dir / "o.mp4")
        assert_error(r, 2, "writable")
        assert_nothing_written(out_dir)
    finally:
        out_dir.chmod(0o755)


@pytest.mark.parametrize("command", ["file", "image"])
def test_output_under_a_regular_file(models_dir: Path, clips: Path, out_dir: Path, command: str) -> None:
    (out_dir / "somefile.txt").write_text("a file, not a folder")
    src, name = (clips / "aac.mp4", "o.mp4") if command == "file" else (clips / "photo.jpg", "o.png")
    r = stylise(models_dir, command, src, out_dir / "somefile.txt" / name)
    assert_error(r, 2, "somefile.txt")
    assert (out_dir / "somefile.txt").read_text() == "a file, not a folder"
    assert_nothing_written(out_dir, "somefile.txt")


def test_output_under_a_regular_file_says_not_a_directory(models_dir: Path, clips: Path, out_dir: Path) -> None:
    (out_dir / "somefile.txt").write_text("a file, not a folder")
    r = stylise(models_dir, "file", clips / "aac.mp4", out_dir / "somefile.txt" / "o.mp4")
    _, hint = assert_error(r, 2, "not a directory")
    assert "mkdir" not in hint


@pytest.mark.parametrize("spelling", ["same", "dot-slash", "symlink", "symlinked-input"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_output_equal_to_input_is_refused(
    models_dir: Path, clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str, overwrite: bool
) -> None:
    shutil.copy(clips / "aac.mp4", tmp_path / "x.mp4")
    before = (tmp_path / "x.mp4").read_bytes()
    inp, out = "x.mp4", "x.mp4"
    if spelling == "dot-slash":
        out = "./x.mp4"
    elif spelling == "symlink":
        (tmp_path / "link.mp4").symlink_to("x.mp4")
        out = "link.mp4"
    elif spelling == "symlinked-input":
        (tmp_path / "link.mp4").symlink_to("x.mp4")
        inp = "link.mp4"
    flags = ["--overwrite"] if overwrite else []
    r = stylise(models_dir, "file", inp, out, *flags, cwd=tmp_path)
    assert_error(r, 2, "input")
    assert (tmp_path / "x.mp4").read_bytes() == before
    assert not temp_files(tmp_path)
    assert (tmp_path / "link.mp4").is_symlink() or spelling in ("same", "dot-slash")


def test_image_output_equal_to_input_is_refused(models_dir: Path, clips: Path, tmp_path: Path) -> None:
    shutil.copy(clips / "photo.jpg", tmp_path / "p.jpg")
    before = (tmp_path / "p.jpg").read_bytes()
    r = stylise(models_dir, "image", "p.jpg", "./p.jpg", "--overwrite", cwd=tmp_path)
    assert_error(r, 2, "input")
    assert (tmp_path / "p.jpg").read_bytes() == before
    assert_nothing_written(tmp_path, "p.jpg")


# -- signals -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Several seconds of work for the tiny style at native size on a loaded 2-core machine."""
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", width=160, height=120, frames=240, fps=24)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_and_removes_partial_output(
    models_dir: Path, long_clip: Path, out_dir: Path, signum: int, code: int
) -> None:
    out = out_dir / "long.mp4"
    cmd = [sys.executable, "-m", "nstvideo", "file", str(long_clip), str(out), "--style", "tiny"]
    cmd += ["--models-dir", str(models_dir), "--size", "0", "--preset", "ultrafast"]

    def working(proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + 30
        while not temp_files(out_dir) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, f"finished before it could be interrupted:\n{proc.communicate()[1]}"
        assert temp_files(out_dir), "the hidden temp output never appeared"
        time.sleep(0.3)  # let a few frames go through

    stderr = interrupt(cmd, signum, code, working)
    assert any(line.startswith("error: ") for line in stderr.splitlines()), stderr
    assert_nothing_written(out_dir)


def test_a_signal_in_a_folder_run_keeps_the_finished_videos(models_dir: Path, long_clip: Path, tmp_path: Path) -> None:
    src, out = tmp_path / "clips", tmp_path / "styled"
    src.mkdir()
    make_clip(src / "a.mp4", frames=2)
    shutil.copy(long_clip, src / "b.mp4")
    cmd = [sys.executable, "-m", "nstvideo", "file", str(src), str(out), "--style", "tiny"]
    cmd += ["--models-dir", str(models_dir), "--size", "0", "--preset", "ultrafast"]

    def on_the_second(proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + 30
        while not (out.is_dir() and any(t.startswith(".b.") for t in temp_files(out))):  # b's hidden part
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.02)
        time.sleep(0.3)

    stderr = interrupt(cmd, signal.SIGINT, 130, on_the_second)
    assert "1 of 2 videos written" in stderr, stderr
    assert_nothing_written(out, "a.mp4")
    assert video_packets(out / "a.mp4")[0] == 2


def test_a_signal_while_the_error_is_reported_is_ignored() -> None:
    # a third quick Ctrl-C landed while the first's "interrupted" line was printed: a traceback and exit 1
    code = (
        "import os, signal\n"
        "from nstvideo import cli, entry\n"
        "entry.install()\n"
        "rc = cli._fail('interrupted by SIGINT', None, 130, False)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "print('reported', rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "reported 130" in r.stdout, r.stderr
    assert "Traceback" not in r.stderr


def test_a_third_stop_signal_gives_up_what_is_unfinished(tmp_path: Path) -> None:
    # A shutdown that takes long (a 4K recording's queue, a slow disk): the second Ctrl-C says what is happening, the
    # third ends the process at once, removing the temp files it was still writing.
    code = (
        "from pathlib import Path\n"
        "from nstvideo.pipeline.outputs import temp_path_for\n"
        "from nstvideo.pipeline.runner import StopFlag\n"
        f"temp_path_for(Path({str(tmp_path / 'o.mp4')!r}))\n"
        "flag = StopFlag()\n"
        "for _ in range(3):\n"
        "    flag.set(2)\n"
        "print('not reached')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 130 and "not reached" not in r.stdout
    assert "press Ctrl-C 1 more" in r.stderr and "gave up the outputs not yet finished" in r.stderr
    assert list(tmp_path.iterdir()) == []


# -- without torch -------------------------------------------------------------------------------------------------


@pytest.fixture()
def no_torch(tmp_path: Path) -> dict[str, str]:
    """Environment whose PYTHONPATH shadows torch with a package that refuses to import."""
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("torch blocked for this test")\n')
    path = os.pathsep.join(p for p in (str(blocker.parent), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}


def test_runtime_never_imports_torch(no_torch: dict[str, str], models_dir: Path, clips: Path, out_dir: Path) -> None:
    env = {**os.environ, **no_torch}
    check = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True, env=env, timeout=60)
    assert "torch blocked for this test" in check.stderr  # the blocker works
    code = (
        "import sys, nstvideo.pipeline, nstvideo, nstvideo.cli, nstvideo.pipeline.media, nstvideo.pipeline.runner; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr

    out = out_dir / "o.mp4"
    r = stylise(models_dir, "file", clips / "aac.mp4", out, "--preset", "ultrafast", env=no_torch)
    assert_ok(r)
    assert video_packets(out)[0] == 12


def test_train_without_torch_names_the_extra(no_torch: dict[str, str], tmp_path: Path) -> None:
    r = cli("train", "--style-image", "x.jpg", "--name", "n", "--data", "d", env=no_torch, cwd=tmp_path)
    _, hint = assert_error(r, 2, "torch")
    assert "nstvideo[train]" in hint


# -- --debug -------------------------------------------------------------------------------------------------------


def test_debug_shows_the_traceback(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = cli("--debug", "file", clips / "missing.mp4", out_dir / "o.mp4", "--models-dir", models_dir, "--style", "tiny")
    assert r.returncode != 0
    assert "Traceback" in r.stderr
    assert "missing.mp4" in r.stderr
    assert_nothing_written(out_dir)


def test_debug_after_the_command_works_too(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = cli("file", clips / "missing.mp4", out_dir / "o.mp4", "--models-dir", models_dir, "--style", "tiny", "--debug")
    assert r.returncode == 2
    assert "Traceback" in r.stderr and "No such option" not in r.stderr


def test_help_before_the_command_is_the_command_s_help() -> None:
    r = cli("-h", "file")
    assert_ok(r)
    assert "--start" in r.stdout and "--encoder" in r.stdout  # file's own options, not the list of commands


def test_version() -> None:
    from nstvideo import __version__

    r = cli("--version")
    assert_ok(r)
    assert r.stdout.strip() == f"nstvideo {__version__}"


def test_no_command_shows_the_help_without_an_error_line() -> None:
    r = cli()
    assert r.returncode == 2
    assert "Commands" in r.stdout
    assert "error:" not in r.stderr


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_starting_is_one_line(clips: Path, out_dir: Path, signum: int, code: int) -> None:
    # While Python imports the CLI, numpy, onnxruntime, or loads the model: no traceback, the signal's code.
    cmd = [sys.executable, "-m", "nstvideo", "image", str(clips / "photo.jpg"), str(out_dir / "o.png")]
    stderr = interrupt(cmd, signum, code, handlers_installed)
    assert f"error: interrupted by {signal.Signals(signum).name}" in stderr
    assert_nothing_written(out_dir)


def test_debug_keeps_the_exit_code(models_dir: Path, clips: Path, out_dir: Path) -> None:
    r = cli("--debug", "file", clips / "missing.mp4", out_dir / "o.mp4", "--models-dir", models_dir, "--style", "tiny")
    assert "Traceback" in r.stderr
    assert r.returncode == 2


def test_animations_stills_and_tiff_go_where_they_belong(models_dir: Path, clips: Path, tmp_path: Path) -> None:
    from PIL import Image

    pictures = [Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)) for i in range(3)]
    pictures[0].save(tmp_path / "anim.webp", save_all=True, append_images=pictures[1:], duration=100)
    r = stylise(models_dir, "image", tmp_path / "anim.webp", tmp_path / "first.png")
    assert_ok(r)
    assert "anim.webp is animated; only its first frame" in r.stdout + r.stderr
    assert_error(stylise(models_dir, "file", tmp_path / "anim.webp", tmp_path / "o.mp4"), 2, "animated WebP")
    error, hint = assert_error(stylise(models_dir, "file", clips / "photo.jpg", tmp_path / "o.mp4"), 2, "still image")
    assert "nstvideo image" in hint
    cv2.imwrite(str(tmp_path / "scan.tif"), cv2.imread(str(clips / "photo.jpg")))
    assert_ok(stylise(models_dir, "image", tmp_path / "scan.tif", tmp_path / "scan-styled.tiff"))
    assert cv2.imread(str(tmp_path / "scan-styled.tiff")).shape == (48, 64, 3)


def test_photos_in_another_colour_space_are_read_in_srgb(models_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    from nstvideo.pipeline.sources import read_image
    from tests.clips import adobe_rgb_icc

    pixels = np.zeros((32, 48, 3), np.uint8)
    pixels[:, :24] = (200, 60, 60)  # RGB: a red in Adobe RGB is a redder red in sRGB
    pixels[:, 24:] = 128
    Image.fromarray(pixels).save(tmp_path / "adobe.png", icc_profile=adobe_rgb_icc())
    Image.fromarray(pixels).save(tmp_path / "srgb.png")  # untagged: sRGB, read as it is
    red, grey = read_image(tmp_path / "adobe.png")[5, [5, 40], ::-1].astype(int)
    assert red[0] > 220 and red[1] < 60 and red[2] < 60
    assert np.abs(grey - 128).max() <= 2  # the same white: a grey stays grey
    assert (read_image(tmp_path / "srgb.png")[:, :, ::-1] == pixels).all()
    r = stylise(models_dir, "image", tmp_path / "adobe.png", tmp_path / "out.png", "--strength", "0")
    assert_ok(r)
    assert (r.stdout + r.stderr).count("converted from Adobe RGB (test) to sRGB") == 1
    assert cv2.imread(str(tmp_path / "out.png"))[5, 5, 2] > 220


def test_a_signal_after_the_output_is_in_place_does_not_undo_the_run(
    models_dir: Path, clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C the moment the file is renamed into place: the job is done, and says so (it said "interrupted", 130).
    from nstvideo import cli as cli_module
    from nstvideo import entry

    real_finish = entry.finish

    def finish_with_a_ctrl_c_at_the_worst_moment() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # held back while the output is committed
        real_finish()

    monkeypatch.setattr(entry, "finish", finish_with_a_ctrl_c_at_the_worst_moment)
    out = tmp_path / "o.png"
    code = cli_module.main(
        ["image", str(clips / "photo.jpg"), str(out), "--models-dir", str(models_dir), "--style", "tiny"]
    )
    assert code == 0 and cv2.imread(str(out)).shape == (48, 64, 3)


def test_a_half_transparent_tiff_keeps_its_colours(tmp_path: Path) -> None:
    from PIL import Image

    from nstvideo.pipeline.sources import read_image

    colours = np.zeros((32, 64, 3), np.uint8)
    colours[:] = (200, 120, 40)
    alpha = np.tile(np.linspace(0, 255, 64).astype(np.uint8)[None], (32, 1))  # clear to opaque, left to right
    Image.fromarray(np.dstack([colours, alpha]), "RGBA").save(tmp_path / "logo.tiff")  # as Pillow, GIMP write it
    read = read_image(tmp_path / "logo.tiff")[:, :, ::-1].astype(int)
    seen = alpha > 32  # where there is enough of the colour to recover it
    assert np.abs(read[seen] - colours[seen]).max() <= 8  # OpenCV alone gave them multiplied by alpha: darker
