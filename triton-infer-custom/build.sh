#!/usr/bin/env bash
# Builds the GPU model repository (TensorRT plans for YuNet and SFace; the python pre- and
# post-processing models as on CPU) and the Triton image.
#
#   triton-infer-custom/build.sh            -> build/models_serving_gpu + image tritonserver-plan-vnd:24.11-py3
#   IMAGE=my/triton:tag triton-infer-custom/build.sh
#
# Needs an NVIDIA GPU and Docker with the NVIDIA container runtime: plans are built by trtexec in
# the TensorRT container matching Triton 24.11 (a plan only loads in the TensorRT it was built
# with). Run scripts/setup-venv.sh first (the ONNX files come from `facev3 models export`).
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

rm -rf "$OUT" build/onnx
.venv/bin/facev3 models export build/onnx
cp -r triton-infer-custom/models_serving "$OUT"
find "$OUT" -name '*.onnx' -delete
for model in yunet sface; do
  cp "triton-infer-custom/gpu/$model/config.pbtxt" "$OUT/$model/config.pbtxt"
  rm -f "$OUT/$model/1/model.py"
done

trtexec() {
  docker run --rm --gpus all -v "$PWD/build:/build" "$TENSORRT_IMAGE" trtexec "$@"
}
trtexec --onnx=/build/onnx/yunet_2023mar.onnx --saveEngine=/build/models_serving_gpu/yunet/1/model.plan \
  --minShapes=input:1x3x32x32 --optShapes=input:1x3x640x640 --maxShapes="input:1x3x${MAX_SIDE}x${MAX_SIDE}" --fp16
trtexec --onnx=/build/onnx/sface_2021dec.onnx --saveEngine=/build/models_serving_gpu/sface/1/model.plan \
  --minShapes=data:1x3x112x112 --optShapes=data:16x3x112x112 --maxShapes=data:32x3x112x112 --fp16

docker build -f triton-infer-custom/Dockerfile -t "$IMAGE" .
echo "built $IMAGE with the model repository $OUT"
