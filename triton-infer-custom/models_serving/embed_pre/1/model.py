"""Triton loads this file; the model is facev3.serving.embed_pre."""

from facev3.serving.embed_pre import TritonPythonModel  # noqa: F401
