#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, Python and PyPI (no Docker, no other network):
# builds .venv-gpu (facev3 with onnxruntime-gpu and its CUDA, cuDNN and TensorRT wheels in place of
# the CPU onnxruntime) and .venv-triton, then runs bench/gpu_check.py: GPU/CPU parity (cosine >=
# 0.999 per face), faces/s at batch 1-32 and images/s on onnxruntime's CUDA and TensorRT
# providers, and the local tritonserver with CUDA shared memory. One JSON of results; the whole
# run is bounded to 10 minutes (installs included), each step recording why it was skipped.
#
#   scripts/gpu-check.sh [OUT.json]                (default build/gpu-check.json)
#   scripts/gpu-check.sh --wheels DIR [OUT.json]   on a GPU machine without PyPI
#
# Without PyPI: scripts/gpu-wheels.sh DIR, run where PyPI is, downloads onnxruntime-gpu and
# facev3's own dependencies as wheels; --wheels DIR installs them and facev3 (built there) into
# build/gpu-site for the machine's python3, which brings the rest: numpy, onnx, OpenCV, Pillow,
# prometheus-client, tqdm, CUDA 13 and cuDNN 9 (a PyTorch CUDA image has them). No TensorRT or
# Triton steps there. This is how the H200 run of docs/performance.md was made.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
wheels=
if [ "${1:-}" = --wheels ]; then
  wheels=$2
  shift 2
fi
out=${1:-build/gpu-check.json}
command -v nvidia-smi >/dev/null && nvidia-smi -L || { echo "gpu-check: no NVIDIA GPU (nvidia-smi)" >&2; exit 1; }

pip_quiet() { "$@" --quiet --disable-pip-version-check; }
if [ -n "$wheels" ]; then
  site=$PWD/build/gpu-site
  python=python3
  pip_quiet python3 -m pip install --no-index --no-deps --upgrade --target "$site" "$wheels"/*.whl
  PYTHONPATH=$site pip_quiet python3 -m pip install --no-index --no-deps --no-build-isolation --upgrade \
    --target "$site" .
  export PYTHONPATH=$site
  # CUDA's own libraries, where the image keeps them outside the nvidia-* wheels onnxruntime looks in.
  for lib in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$lib" ] && export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
else
  python=.venv-gpu/bin/python
  python3 -m venv .venv-gpu
  pip_quiet .venv-gpu/bin/pip install -r requirements/test.txt
  pip_quiet .venv-gpu/bin/pip install --no-deps -r requirements/no-deps.txt
  pip_quiet .venv-gpu/bin/pip install .
  # onnxruntime and onnxruntime-gpu are one module: the GPU build replaces the CPU one.
  .venv-gpu/bin/pip uninstall --quiet -y onnxruntime
  pip_quiet .venv-gpu/bin/pip install -r requirements/gpu.txt
  scripts/setup-triton-env.sh
  # onnxruntime's TensorRT provider finds libnvinfer through the loader's path.
  trt_libs=$(.venv-gpu/bin/python -c 'import os, tensorrt_libs; print(os.path.dirname(tensorrt_libs.__file__))' || true)
  export LD_LIBRARY_PATH="${trt_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

left=$((600 - ($(date +%s) - started) - 15))
echo "gpu-check: installs took $(( $(date +%s) - started )) s; ${left} s left for the measurements" >&2
timeout --signal=INT "$((left + 10))" "$python" -m bench.gpu_check --out "$out" --budget-s "$left"
