"""Triton's side: the python-backend models Triton runs (python_models), the model repository
(repository) and a local tritonserver launcher for development and tests (launcher)."""
