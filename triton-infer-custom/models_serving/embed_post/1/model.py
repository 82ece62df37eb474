"""Triton loads this file; the model is facev3.serving.embed_post."""

from facev3.serving.embed_post import TritonPythonModel  # noqa: F401
