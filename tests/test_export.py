"""Export: the file obeys the model contract, matches PyTorch, carries its metadata, stays small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from nstvideo.errors import ModelError  # noqa: E402
from nstvideo.export.graph_passes import subpixel_output_convs  # noqa: E402
from nstvideo.export.nets import ContractWrapper, build_net  # noqa: E402
from nstvideo.export.onnx_export import export_onnx, round_weights_to_fp16  # noqa: E402
from nstvideo.pipeline.models import read_model  # noqa: E402
from nstvideo.pipeline.session import create_session  # noqa: E402


@pytest.fixture(scope="module")
def johnson(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(3)
    net = build_net("johnson")
    path = tmp_path_factory.mktemp("export") / "j.onnx"
    diff = export_onnx(net, path, {"style": "j", "artist": "A. Painter", "recommended_size": "384"})
    assert diff <= 1
    return path, net


def test_johnson_file_is_compact_and_self_contained(johnson):
    path, net = johnson
    params = sum(p.numel() for p in net.parameters())
    assert 1.5e6 < params < 1.9e6  # Johnson et al.: 3 convs down, 5 residual blocks at 128, 2 up, 1 out
    size = path.stat().st_size
    assert size < params * 2 + 200_000, "weights must be stored as fp16"
    assert not list(path.parent.glob("*.data")), "no external-data side file"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].name == "frames" and model.graph.output[0].name == "stylized"


def test_metadata_travels_in_the_file(johnson):
    path, _ = johnson
    m = read_model(path)
    assert m.name == "j" and m.artist == "A. Painter" and m.architecture == "johnson"
    assert m.recommended_size == 384
    assert m.metadata["nstvideo.format_version"] == "1"


@pytest.mark.parametrize("shape", [(1, 37, 54, 3), (2, 16, 16, 3), (1, 61, 23, 3), (3, 40, 44, 3)])
def test_ort_matches_pytorch_on_any_shape(johnson, shape):
    path, net = johnson
    wrapper = ContractWrapper(net).eval()
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=shape, dtype=np.uint8)
    frames = np.clip(np.cumsum(frames.astype(np.int32), axis=2) // 20, 0, 255).astype(np.uint8)
    with torch.no_grad():
        expected = wrapper(torch.from_numpy(frames)).numpy()
    sess, _ = create_session(path, "cpu")
    got = sess.run(["stylized"], {"frames": frames})[0]
    assert got.dtype == np.uint8 and got.shape == shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_the_output_conv_is_rewritten_for_cpus(johnson):
    path, _ = johnson
    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    assert "DepthToSpace" in ops
    props = {p.key: p.value for p in model.metadata_props}
    assert "subpixel" in props["nstvideo.graph_rewrites"]
    shapes = {i.name: list(i.dims) for i in model.graph.initializer}
    thin = [n.name for n in model.graph.node if n.op_type == "Conv" and shapes.get(n.input[1] + "__fp16", [99])[0] <= 4]
    assert not thin, f"left as 3-channel convs: {thin}"


def _one_conv(cout: int, cin: int, kh: int, kw: int, bias: bool) -> onnx.ModelProto:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(cout + kh)
    inits = [numpy_helper.from_array(rng.standard_normal((cout, cin, kh, kw)).astype(np.float32), "w")]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "b"))
    conv = helper.make_node("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["y"], name="conv")
    graph = helper.make_graph(
        [conv], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, None, None])], inits,
    )  # fmt: skip
    # IR 8 (opset 17's): onnxruntime 1.23, the last for Python 3.10, refuses the newest IR onnx writes by default
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize(("cout", "kh", "kw", "bias"), [(3, 9, 9, True), (1, 5, 7, False), (4, 9, 9, True)])
def test_subpixel_rewrite_gives_the_same_output_at_any_size(cout, kh, kw, bias):
    import onnxruntime as ort

    model = _one_conv(cout, 8, kh, kw, bias)
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert subpixel_output_convs(model) == 1
    onnx.checker.check_model(model, full_check=True)
    after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for h, w in [(kh, kw), (23, 31), (24, 32), (kh + 1, kw + 2)]:  # odd and even outputs, down to 1x1
        x = rng.standard_normal((1, 8, h, w)).astype(np.float32)
        want, got = before.run(None, {"x": x})[0], after.run(None, {"x": x})[0]
        assert got.shape == want.shape == (1, cout, h - kh + 1, w - kw + 1)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_subpixel_rewrite_leaves_wide_and_small_convs_alone():
    for cout, k in ((16, 9), (3, 3)):
        model = _one_conv(cout, 8, k, k, True)
        assert subpixel_output_convs(model) == 0
        assert [n.op_type for n in model.graph.node] == ["Conv"]


def test_weights_rounded_to_fp16_are_what_the_file_stores(johnson):
    _, net = johnson
    before = [p.detach().clone() for p in net.parameters()]
    round_weights_to_fp16(net)  # idempotent after export
    for a, b in zip(before, net.parameters(), strict=True):
        assert torch.equal(a, b)


def test_wrapper_converts_bgr_and_crops_back():
    """Identity-like behaviour of the wrapper itself: channel order and stride padding are handled in the graph."""

    class Echo(torch.nn.Module):
        arch = "echo"

        def forward(self, x):
            assert x.shape[2] % 4 == 0 and x.shape[3] % 4 == 0
            return x * torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)  # keep R only

    frame = np.zeros((1, 18, 21, 3), np.uint8)
    frame[..., 2] = 200  # BGR: red channel
    out = ContractWrapper(Echo())(torch.from_numpy(frame)).numpy()
    assert out.shape == frame.shape
    assert (out[..., 2] == 200).all() and (out[..., :2] == 0).all()


def test_existing_output_is_refused(tmp_path):
    path = tmp_path / "x.onnx"
    path.write_bytes(b"keep")
    with pytest.raises(ModelError):
        export_onnx(build_net("lite"), path, {"style": "x"})
    assert path.read_bytes() == b"keep"
