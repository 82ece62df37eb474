"""Triton loads this file; the model is facev3.tritonserver.python_models.embed_post."""

from facev3.tritonserver.python_models.embed_post import TritonPythonModel  # noqa: F401
