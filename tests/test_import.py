"""`nstvideo import`: nets made elsewhere (pytorch/examples .pth, model-zoo-like ONNX, other conventions) become
styles that obey the contract and give what the original gives."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from nstvideo.errors import InputError, ModelError, UsageError  # noqa: E402
from nstvideo.export.importer import _examples_net, import_model  # noqa: E402
from nstvideo.pipeline.engine import Stylizer  # noqa: E402
from nstvideo.pipeline.models import read_model, resolve_style  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")  # torch's exporter warns about its own legacy path


def smooth_frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(n, h, w, 3))
    return np.clip(np.cumsum(noise, axis=2) // 16, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """A fast_neural_style TransformerNet as pytorch/examples saves one: a state dict, with the InstanceNorm running
    stats that old PyTorch versions stored."""
    torch.manual_seed(0)
    net = _examples_net().eval()
    with torch.no_grad():
        net.deconv3.conv2d.weight.mul_(100)  # a picture around mid-grey, not a flat clip at 0
        net.deconv3.conv2d.bias.fill_(127.5)
    state = dict(net.state_dict())
    state["in1.running_mean"] = torch.zeros(32)
    state["res1.in2.running_var"] = torch.ones(128)
    path = tmp_path_factory.mktemp("examples") / "candy.pth"
    torch.save(state, path)
    return path, net


def by_pytorch(net: torch.nn.Module, frames: np.ndarray) -> np.ndarray:
    """What pytorch/examples' stylize() gives (RGB 0..255, clamped), as uint8 BGR."""
    x = torch.from_numpy(frames[..., ::-1].copy()).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        y = net(x).clamp(0, 255).round().to(torch.uint8)
    return y.permute(0, 2, 3, 1).numpy()[..., ::-1]


def test_a_pytorch_examples_pth_becomes_a_style(examples, tmp_path: Path) -> None:
    pth, net = examples
    out = import_model(pth, tmp_path / "candy.onnx", title="Candy", recommended_size=384)
    model = read_model(out)
    assert model.name == "candy" and model.title == "Candy" and model.architecture == "imported"
    assert model.recommended_size == 384
    assert "fast_neural_style" in model.get("imported_from") and "RGB 0-255" in model.get("imported_conventions")
    stylizer = Stylizer(model, size=0, device="cpu")
    frames = smooth_frames(2, 40, 52)  # sides the net takes as they are (multiples of 4)
    got = np.stack(stylizer.stylize_batch(list(frames)))
    expected = by_pytorch(net, frames)
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert expected.std() > 5, "the check must compare pictures, not two flat clips"
    odd = smooth_frames(1, 37, 54)[0]  # other sides are padded for the net and cropped back
    assert stylizer(odd).shape == (37, 54, 3)


def test_a_style_imported_again_keeps_working(examples, tmp_path: Path) -> None:
    # An nstvideo style (ours, or imported before) is a net like any other: its wrapper's names must not clash.
    pth, net = examples
    first = import_model(pth, tmp_path / "a.onnx")
    again = import_model(first, tmp_path / "b.onnx", name="b")
    frames = smooth_frames(1, 40, 52)
    got = Stylizer(str(again), size=0, device="cpu").stylize_batch(list(frames))[0]
    assert np.abs(got.astype(int) - by_pytorch(net, frames)[0]).max() <= 1
    # what a style says about itself (painting, licence, training) survives, unless the options replace it
    bundled = resolve_style("mosaic-lite")
    copy = read_model(import_model(bundled.path, tmp_path / "copy.onnx", artist="Someone"))
    assert copy.name == "mosaic-lite" and copy.title == bundled.title and copy.licence == bundled.licence
    assert copy.artist == "Someone" and copy.get("recipe") == bundled.get("recipe")
    assert onnx.load(str(tmp_path / "copy.onnx")).producer_name == "nstvideo"


def test_a_model_zoo_onnx_of_fixed_size_and_old_opset_becomes_a_style(examples, tmp_path: Path) -> None:
    _, net = examples
    zoo = tmp_path / "mosaic-9.onnx"  # as the ONNX model zoo ships them: input1, 1x3x224x224, opset 9
    torch.onnx.export(net, (torch.rand(1, 3, 64, 64) * 255,), str(zoo), input_names=["input1"],
                      output_names=["output1"], opset_version=9, dynamo=False)  # fmt: skip
    out = import_model(zoo, tmp_path / "zoo.onnx", name="zoo-mosaic")
    stylizer = Stylizer(read_model(out), size=0, device="cpu")
    frames = smooth_frames(2, 48, 80, seed=1)  # another size and a batch: the fixed sizes became free
    got = np.stack(stylizer.stylize_batch(list(frames)))
    assert np.abs(got.astype(int) - by_pytorch(net, frames)).max() <= 1


def one_op_net(path: Path, shape: list, op: str, weight: np.ndarray, dtype: int = TensorProto.FLOAT) -> Path:
    """x -> op(x, weight): a net simple enough to say what every pixel must become."""
    w = numpy_helper.from_array(weight, "w")
    graph = helper.make_graph(
        [helper.make_node(op, ["x", "w"], ["y"])], "net", [helper.make_tensor_value_info("x", dtype, shape)],
        [helper.make_tensor_value_info("y", dtype, shape)], initializer=[w],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    return path


@pytest.mark.parametrize(
    ("shape", "weight", "args", "zeroed"),
    [
        # NCHW RGB in 0..1, drops red: in BGR frames that is channel 2
        (["N", 3, "H", "W"], np.array([0, 1, 1], np.float32).reshape(1, 3, 1, 1), ["--range", "0-1"], 2),
        # NHWC BGR in -1..1 (tanh-style nets), drops blue: channel 0; a fixed size that becomes free
        ([1, 64, 64, 3], np.array([0, 1, 1], np.float32), ["--colour", "bgr", "--range", "-1-1"], 0),
    ],
)
def test_conventions_reach_the_right_pixels(tmp_path: Path, shape, weight, args, zeroed) -> None:
    net = one_op_net(tmp_path / "net.onnx", shape, "Mul", weight)
    r = run_cli("import", str(net), str(tmp_path / "s.onnx"), *args)
    assert r.returncode == 0, r.stderr
    frame = smooth_frames(1, 37, 54)[0]
    got = Stylizer(str(tmp_path / "s.onnx"), size=0, device="cpu")(frame)
    kept = [c for c in range(3) if c != zeroed]
    if "-1-1" in args:  # x -> (x + 1) * 127.5 with x = 0 is mid-grey
        assert np.abs(got[..., zeroed].astype(int) - 128).max() <= 1
    else:
        assert got[..., zeroed].max() == 0
    assert np.abs(got[..., kept].astype(int) - frame[..., kept]).max() <= 1


def test_what_cannot_be_a_style_is_refused_saying_why(tmp_path: Path, examples) -> None:
    two = helper.make_graph(
        [helper.make_node("Mul", ["x", "a"], ["y"])], "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"]),
         helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H", "W"])],
    )  # fmt: skip
    onnx.save(
        helper.make_model(two, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(tmp_path / "two.onnx")
    )
    with pytest.raises(InputError, match="2 inputs"):
        import_model(tmp_path / "two.onnx", tmp_path / "o.onnx")
    up = tmp_path / "up.onnx"  # a super-resolution net: its output is not the input's size
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest")], "up",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H2", "W2"])],
        initializer=[numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(up))
    with pytest.raises(ModelError, match="same size|input's size"):
        import_model(up, tmp_path / "o.onnx")
    net = one_op_net(tmp_path / "u8.onnx", ["N", "H", "W", 3], "Add", np.array([0], np.uint8), TensorProto.UINT8)
    with pytest.raises(UsageError, match="0-255"):
        import_model(net, tmp_path / "o.onnx", value_range="0-1")
    square = one_op_net(tmp_path / "sq.onnx", ["N", 3, "H", 3], "Mul", np.ones(1, np.float32))
    with pytest.raises(UsageError, match="cannot tell where"):
        import_model(square, tmp_path / "o.onnx")
    cv2.imwrite(str(tmp_path / "painting.jpg"), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(UsageError, match="is an image"):
        import_model(tmp_path / "painting.jpg", tmp_path / "o.onnx")
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="state dict"):
        import_model(tmp_path / "junk.pth", tmp_path / "o.onnx")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")  # a whole pickled module, not a state dict
    with pytest.raises(InputError, match="whole pickled model"):
        import_model(tmp_path / "module.pth", tmp_path / "o.onnx")
    wide = dict(_examples_net().state_dict())
    wide["conv1.conv2d.weight"] = torch.zeros(16, 3, 9, 9)  # the same names, another size
    torch.save(wide, tmp_path / "wide.pth")
    with pytest.raises(InputError, match="other shapes"):
        import_model(tmp_path / "wide.pth", tmp_path / "o.onnx")
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="not a pytorch/examples"):
        import_model(tmp_path / "other.pth", tmp_path / "o.onnx")
    pth, _ = examples
    r = run_cli("import", str(pth), str(tmp_path / "o.jpg"))
    assert r.returncode == 2 and r.stderr.startswith("error: output ") and "Traceback" not in r.stderr
    assert not list(tmp_path.glob("o.*"))
