"""nstvideo: real-time neural style transfer for video files, webcams and live streams."""

from nstvideo.pipeline.engine import Stylizer
from nstvideo.pipeline.models import StyleModel, list_styles

__version__ = "0.1.0"
__all__ = ["StyleModel", "Stylizer", "list_styles", "__version__"]
