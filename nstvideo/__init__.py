"""nstvideo: real-time neural style transfer for video files, webcams and live streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nstvideo.pipeline.engine import Stylizer
    from nstvideo.pipeline.models import StyleModel, list_styles

__version__ = "0.1.0"
__all__ = ["StyleModel", "Stylizer", "list_styles", "__version__"]


def __dir__() -> list[str]:
    return sorted({*__all__, *(n for n in globals() if n.startswith("__"))})  # tab completion sees the lazy names


def __getattr__(name: str) -> Any:
    # Imported on first use: the CLI starts (and answers Ctrl-C as itself) before numpy and OpenCV load.
    if name == "Stylizer":
        from nstvideo.pipeline.engine import Stylizer

        return Stylizer
    if name in ("StyleModel", "list_styles"):
        from nstvideo.pipeline import models

        return getattr(models, name)
    raise AttributeError(f"module 'nstvideo' has no attribute {name!r}")
