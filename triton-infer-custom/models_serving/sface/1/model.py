"""Triton loads this file; the model is facev3.serving.onnx_model."""

from facev3.serving.onnx_model import TritonPythonModel  # noqa: F401
