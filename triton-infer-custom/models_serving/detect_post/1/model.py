"""Triton loads this file; the model is facev3.serving.detect_post."""

from facev3.serving.detect_post import TritonPythonModel  # noqa: F401
