"""Triton loads this file; the model is facev3.tritonserver.python_models.onnx_model."""

from facev3.tritonserver.python_models.onnx_model import TritonPythonModel  # noqa: F401
