"""Triton loads this file; the model is facev3.tritonserver.python_models.detect_post."""

from facev3.tritonserver.python_models.detect_post import TritonPythonModel  # noqa: F401
