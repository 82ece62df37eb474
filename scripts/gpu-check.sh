#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, Python and PyPI (no Docker, no other network):
# builds .venv-gpu (facev3 with onnxruntime-gpu and its CUDA, cuDNN and TensorRT wheels in place of
# the CPU onnxruntime) and .venv-triton, then runs bench/gpu_check.py: GPU/CPU parity (cosine >=
# 0.999 per face), faces/s at batch 1-32 and images/s on onnxruntime's CUDA and TensorRT
# providers, and the local tritonserver with CUDA shared memory. One JSON of results; the whole
# run is bounded to 10 minutes (installs included), each step recording why it was skipped.
#
#   scripts/gpu-check.sh [OUT.json]        (default build/gpu-check.json)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
out=${1:-build/gpu-check.json}
command -v nvidia-smi >/dev/null && nvidia-smi -L || { echo "gpu-check: no NVIDIA GPU (nvidia-smi)" >&2; exit 1; }

pip_quiet() { "$@" --quiet --disable-pip-version-check; }
python3 -m venv .venv-gpu
pip_quiet .venv-gpu/bin/pip install -r requirements/test.txt
pip_quiet .venv-gpu/bin/pip install --no-deps -r requirements/no-deps.txt
pip_quiet .venv-gpu/bin/pip install .
# onnxruntime and onnxruntime-gpu are one module: the GPU build replaces the CPU one.
.venv-gpu/bin/pip uninstall --quiet -y onnxruntime
pip_quiet .venv-gpu/bin/pip install -r requirements/gpu.txt
scripts/setup-triton-env.sh

left=$((600 - ($(date +%s) - started) - 15))
echo "gpu-check: installs took $(( $(date +%s) - started )) s; ${left} s left for the measurements" >&2
# onnxruntime's TensorRT provider finds libnvinfer through the loader's path.
trt_libs=$(.venv-gpu/bin/python -c 'import os, tensorrt_libs; print(os.path.dirname(tensorrt_libs.__file__))' || true)
LD_LIBRARY_PATH="${trt_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  timeout --signal=INT "$((left + 10))" .venv-gpu/bin/python -m bench.gpu_check --out "$out" --budget-s "$left"
