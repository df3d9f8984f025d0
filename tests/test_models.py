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
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
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
    with pytest.raises(ModelError, match="contract") as err:
        read_model(tmp_path / "float.onnx")
    # every problem at once, and the command that adopts a net made elsewhere
    for problem in ("one input named 'frames'", "must be uint8", "[N, H, W, 3]"):
        assert problem in err.value.message
    assert "nstvideo import MODEL" in err.value.hint
    (tmp_path / "tiny.onnx").write_bytes((models_dir / "tiny.onnx").read_bytes())
    problems: list[str] = []
    assert [m.name for m in list_styles([tmp_path], errors=problems) if not m.bundled] == ["tiny"]
    assert any("contract" in p for p in problems)


def test_bundled_styles_obey_the_contract():
    bundled = [m for m in list_styles() if m.bundled]
    for m in bundled:
        assert m.get("loss_network_weights"), f"{m.name} must say where its loss network came from"
        assert m.licence != "unknown" or m.name == "mosaic"
    # the folder travels with every GPU call (64 MiB in all; bench/gpu/prepare_runtime.py sizes the wheel parts to
    # what the checkout leaves): fp16 weights keep each full net near 3.5 MB, a lite net 0.6 MB
    sizes = [m.path.stat().st_size for m in bundled]
    assert sum(sizes) <= 32e6
    assert all(size < 4e6 for size in sizes)


def contract_model(path, shape, version="1"):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("frames", TensorProto.UINT8, shape)
    y = helper.make_tensor_value_info("stylized", TensorProto.UINT8, shape)
    model = helper.make_model(
        helper.make_graph([helper.make_node("Identity", ["frames"], ["stylized"])], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,  # what the oldest onnxruntime we support (1.23, Python 3.10) reads
    )
    model.metadata_props.add(key="nstvideo.format_version", value=version)
    onnx.save(model, str(path))
    return path


def test_a_fixed_size_model_is_refused_on_load_not_mid_run(tmp_path):
    with pytest.raises(ModelError, match="must be free"):
        read_model(contract_model(tmp_path / "fixed.onnx", [1, 224, 224, 3]))


def test_a_newer_format_asks_for_a_newer_nstvideo(tmp_path):
    with pytest.raises(ModelError, match="format 2") as err:
        read_model(contract_model(tmp_path / "v2.onnx", ["N", "H", "W", 3], version="2"))
    assert "upgrade nstvideo" in err.value.hint


def test_odd_metadata_and_hidden_twins_are_handled(tmp_path, models_dir):
    import shutil

    model = onnx.load(str(contract_model(tmp_path / "huge.onnx", ["N", "H", "W", 3])))
    model.metadata_props.add(key="nstvideo.recommended_size", value="100000")
    onnx.save(model, str(tmp_path / "huge.onnx"))
    assert read_model(tmp_path / "huge.onnx").recommended_size == 512  # not a 150000x100000 frame
    twin = tmp_path / "twins"
    twin.mkdir()
    shutil.copy(models_dir / "tiny.onnx", twin / "tiny-copy.onnx")
    problems: list[str] = []
    styles = list_styles([models_dir, twin], errors=problems)
    assert [m.path.parent for m in styles if m.name == "tiny"] == [models_dir]
    assert any("tiny-copy.onnx is hidden by" in p for p in problems)


def test_a_folder_named_twice_is_read_once_and_any_case_finds_one_style(tmp_path, models_dir):
    import shutil

    problems: list[str] = []
    list_styles([models_dir, models_dir], errors=problems)
    assert not any("hidden by" in p for p in problems)
    shouted = tmp_path / "TINY2.onnx"  # a file whose name, in capitals, is another style's name
    shutil.copy(models_dir / "tiny.onnx", shouted)
    found = {resolve_style(name, [models_dir, tmp_path]).name for name in ("TINY2", "Tiny2", "tiny2")}
    assert found == {"tiny2"}  # the style named so, whatever the case typed and the filesystem
    with pytest.raises(StyleNotFoundError) as err:
        resolve_style("mine", [tmp_path / "typo"])
    assert "--models-dir" in err.value.hint and "does not exist" in err.value.hint
