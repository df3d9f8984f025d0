"""Runtime half: load exported ONNX styles and stylise frames from sources to sinks. Never imports torch."""
