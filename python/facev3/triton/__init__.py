"""Triton: a local tritonserver for development and tests (process), the model repository's
ONNX files (repository), and the client backend with shared memory (backend, shm)."""
