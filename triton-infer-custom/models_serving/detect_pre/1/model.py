"""Triton loads this file; the model is facev3.serving.detect_pre."""

from facev3.serving.detect_pre import TritonPythonModel  # noqa: F401
