"""Style registry and the contract check on load."""

from __future__ import annotations

import numpy as np
import pytest

from nstvideo.errors import ModelError, StyleNotFoundError
from nstvideo.pipeline.models import list_styles, read_model, resolve_style

onnx = pytest.importorskip("onnx")


def contract_breaker(path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "H", "W"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_lists_styles_from_models_dir(models_dir):
    names = [m.name for m in list_styles([models_dir])]
    assert {"tiny", "tiny2"} <= set(names)


def test_env_var_adds_a_folder(models_dir, monkeypatch):
    monkeypatch.setenv("NSTVIDEO_MODELS", str(models_dir))
    assert resolve_style("tiny").path.name == "tiny.onnx"


def test_resolve_by_path(tiny_model):
    assert resolve_style(str(tiny_model)).name == "tiny"


def test_unknown_style_suggests_close_names(models_dir):
    with pytest.raises(StyleNotFoundError) as err:
        resolve_style("tinny", [models_dir])
    assert "tiny" in err.value.hint


def test_corrupt_onnx_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(ModelError):
        read_model(bad)


def test_contract_breaker_is_refused_but_does_not_hide_others(tmp_path, models_dir):
    contract_breaker(tmp_path / "float.onnx")
    with pytest.raises(ModelError, match="contract"):
        read_model(tmp_path / "float.onnx")
    (tmp_path / "tiny.onnx").write_bytes((models_dir / "tiny.onnx").read_bytes())
    problems: list[str] = []
    assert [m.name for m in list_styles([tmp_path], errors=problems) if not m.bundled] == ["tiny"]
    assert any("contract" in p for p in problems)


def test_bundled_styles_obey_the_contract():
    bundled = [m for m in list_styles() if m.bundled]
    for m in bundled:
        assert m.get("loss_network_weights"), f"{m.name} must say where its loss network came from"
        assert m.licence != "unknown" or m.name == "mosaic"
    # the folder travels with every GPU call (64 MiB in all): fp16 weights keep each full net near 3.4 MB
    sizes = [m.path.stat().st_size for m in bundled]
    assert sum(sizes) <= 30e6
    assert all(size < 4e6 for size in sizes)
