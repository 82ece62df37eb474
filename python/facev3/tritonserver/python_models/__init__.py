"""Triton python-backend models. Each model directory's model.py re-exports one of these
classes, so the model repository holds configs only and the code (decode, NMS) is the package's
own, the same the embedded backend runs. They import triton_python_backend_utils, which exists
only inside Triton's python stub."""
