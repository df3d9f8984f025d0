"""Shared fixtures: tiny real style models exported by the tests, tiny real clips encoded by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def export_tiny(path: Path, name: str, seed: int = 0, arch: str = "lite", size: str = "64") -> Path:
    """A real random transform net exported through the real exporter (needs torch)."""
    torch = pytest.importorskip("torch")
    from nstvideo.export.nets import build_net
    from nstvideo.export.onnx_export import export_onnx

    torch.manual_seed(seed)
    export_onnx(
        build_net(arch), path, {"style": name, "title": name.title(), "artist": "Test", "recommended_size": size},
        overwrite=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two tiny styles, 'tiny' and 'tiny2'.

    On a Python without torch (the runtime half alone, e.g. another Python version), NSTVIDEO_TEST_MODELS may name a
    folder where `python tests/conftest.py DIR` exported them beforehand, so the runtime tests still run there.
    """
    if prebuilt := os.environ.get("NSTVIDEO_TEST_MODELS"):
        return Path(prebuilt).resolve()  # tests run the CLI from other folders
    return export_models(tmp_path_factory.mktemp("models"))


def export_models(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    export_tiny(d / "tiny.onnx", "tiny", seed=0)
    export_tiny(d / "tiny2.onnx", "tiny2", seed=1)
    return d


@pytest.fixture(scope="session")
def tiny_model(models_dir: Path) -> Path:
    return models_dir / "tiny.onnx"


@pytest.fixture()
def frame() -> np.ndarray:
    """A smooth non-square BGR frame whose sides are not multiples of 4."""
    y, x = np.mgrid[0:37, 0:54]
    img = np.stack([x * 4, y * 6, (x + y) * 2], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "nstvideo", *args], capture_output=True, text=True, env=full_env, timeout=timeout, **kw
    )


def reap(proc: subprocess.Popen) -> None:
    """Kill a CLI subprocess a failed test left running, and collect its pipes."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


if __name__ == "__main__":  # python tests/conftest.py DIR: the tiny styles for NSTVIDEO_TEST_MODELS
    export_models(Path(sys.argv[1]))
