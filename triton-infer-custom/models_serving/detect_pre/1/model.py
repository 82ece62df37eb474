"""Triton loads this file; the model is facev3.tritonserver.python_models.detect_pre."""

from facev3.tritonserver.python_models.detect_pre import TritonPythonModel  # noqa: F401
