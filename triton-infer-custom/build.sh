#!/usr/bin/env bash
# Builds the GPU model repository (TensorRT plans for the detector and the embedder; the python
# pre- and post-processing models as on CPU) and the Triton image. The repository is generated
# from model manifests (`facev3 triton repo --runtime tensorrt`): the built-in YuNet and SFace, or
# yours with DETECTOR= and EMBEDDER= (a built-in name or a manifest path).
#
#   triton-infer-custom/build.sh            -> build/models_serving_gpu + image tritonserver-plan-vnd:24.11-py3
#   EMBEDDER=models/glintr100.toml IMAGE=my/triton:tag triton-infer-custom/build.sh
#
# Needs an NVIDIA GPU and Docker with the NVIDIA container runtime: plans are built by trtexec in
# the TensorRT container matching Triton 24.11 (a plan only loads in the TensorRT it was built
# with). Run scripts/setup-venv.sh first (the repository comes from `facev3 triton repo`).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-tritonserver-plan-vnd:24.11-py3}
TENSORRT_IMAGE=${TENSORRT_IMAGE:-nvcr.io/nvidia/tensorrt:24.11-py3}
MAX_SIDE=${MAX_SIDE:-1280}   # largest padded detector input the YuNet plan accepts
OUT=build/models_serving_gpu

fail() { echo "build.sh: $*" >&2; exit 1; }
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || fail "no NVIDIA GPU found (nvidia-smi); TensorRT plans must be built on the GPU type that serves them"
command -v docker >/dev/null || fail "docker is not installed"
docker info 2>/dev/null | grep -qi 'runtimes.*nvidia' || fail "docker has no NVIDIA runtime (install the NVIDIA Container Toolkit)"
[ -x .venv/bin/facev3 ] || fail ".venv is missing: run scripts/setup-venv.sh"

rm -rf "$OUT"
.venv/bin/facev3 triton repo "$OUT" --runtime tensorrt --max-side "$MAX_SIDE" \
  ${DETECTOR:+--detector "$DETECTOR"} ${EMBEDDER:+--embedder "$EMBEDDER"}

# Each network's ONNX file and optimisation profile (trtexec.args) -> model.plan, FP16.
for args in "$OUT"/*/trtexec.args; do
  model=$(basename "$(dirname "$args")")
  # shellcheck disable=SC2046 # the profile is several arguments
  docker run --rm --gpus all -v "$PWD/build:/build" "$TENSORRT_IMAGE" trtexec \
    --onnx="/build/models_serving_gpu/$model/1/model.onnx" --saveEngine="/build/models_serving_gpu/$model/1/model.plan" \
    $(cat "$args") --fp16
  rm "$OUT/$model/1/model.onnx" "$args"
done

docker build -f triton-infer-custom/Dockerfile -t "$IMAGE" .
echo "built $IMAGE with the model repository $OUT"
