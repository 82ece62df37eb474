"""The GPU path without a GPU: the device settings pick onnxruntime's providers and say what is
missing, and the GPU check (bench/gpu_check.py, run by scripts/gpu-check.sh on a GPU machine)
runs end to end on the CPU in its dry-run mode, so it is ready whenever a GPU is lent."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from facev3 import bootstrap
from facev3.backends.local import PROVIDERS, providers
from facev3.config import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]


def provider_names(device: str) -> list[str]:
    return [p if isinstance(p, str) else p[0] for p in PROVIDERS[device]]


def test_each_device_falls_back_to_the_cpu_for_what_its_provider_lacks():
    assert provider_names("cpu") == ["CPUExecutionProvider"]
    assert provider_names("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert provider_names("tensorrt") == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers("cpu") == ["CPUExecutionProvider"]


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_a_gpu_device_without_onnxruntime_gpu_stops_the_start_saying_how_to_get_it(device):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(SettingsError, match=rf"FACEV3_DEVICE={device} needs .*facev3\[gpu\]"):
        bootstrap.build_backend(Settings(device=device))


def test_the_gpu_check_runs_end_to_end_on_the_cpu_in_its_dry_run(tmp_path):
    out = tmp_path / "check.json"
    command = [
        sys.executable,
        "-m",
        "bench.gpu_check",
        "--device",
        "cpu",
        "--dry-run",
        "--budget-s",
        "60",
        "--out",
        str(out),
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=120)
    results = json.loads(out.read_text())
    assert results["dry_run"] is True and results["parity_cuda"]["ok"] is True
    assert results["parity_cuda"]["min_cosine"] >= 0.999
    by_batch = results["throughput_cuda"]["faces_per_s_by_batch"]
    assert set(by_batch) == {"1", "2", "4", "8", "16", "32"} and all(v > 0 for v in by_batch.values())
    assert results["throughput_cuda"]["start_s"] > 0
    (callers,) = [key for key in results["throughput_cuda"] if key.endswith("_callers")]
    assert results["throughput_cuda"][callers] > 0
    assert set(results["throughput_cuda"]["pipeline_ms_an_image_by_stage"]) == {"decode", "detect", "align", "embed"}


def test_the_gpu_check_script_is_valid_bash_and_bounded_to_ten_minutes():
    script = (ROOT / "scripts" / "gpu-check.sh").read_text()
    for name in ("gpu-check.sh", "gpu-wheels.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "scripts" / name)], check=True)
    assert "600 -" in script and "timeout" in script and "requirements/gpu.txt" in script
