"""Triton backend (a real local tritonserver, CPU python-backend models):
  - embedding 32 aligned crops through face_embed: system shared memory vs plain gRPC (on CPU
    the SFace compute, ~25 ms a face, hides the transport);
  - the transport alone: the same 32 crops through embed_pre, the ensemble's first step (uint8
    NHWC in, 4.8 MB of float32 planes out, almost no compute), with both tensors in system shared
    memory vs plain gRPC;
  - the whole pipeline on the group photo: Triton backend vs the embedded onnxruntime backend."""

from pathlib import Path

import numpy as np
import pytest
from photos import photo_path

from facev3.inference import LocalBackend
from facev3.pipeline import EmbedOptions, Pipeline
from facev3.triton.backend import TritonBackend
from facev3.triton.process import TritonProcess
from facev3.triton.repository import copy_repository

ROOT = Path(__file__).resolve().parents[1]
CROPS = 32


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    repository = copy_repository(ROOT / "triton-infer-custom" / "models_serving", tmp_path_factory.mktemp("triton") / "repo")
    with TritonProcess(repository, ROOT / ".venv-triton") as server:
        yield server


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    (result,), _ = Pipeline(LocalBackend()).run([photo_path("t1.jpg").read_bytes()], EmbedOptions(return_aligned=True))
    return np.resize(np.array([f.aligned for f in result.faces]), (CROPS, 112, 112, 3))


@pytest.fixture(scope="module", params=["system", "none"])
def backend(request, triton):
    backend = TritonBackend(triton.grpc_url, shm=request.param)
    yield request.param, backend
    backend.close()


def test_facev3_embed_32_crops_triton(benchmark, backend, crops):
    shm, triton_backend = backend
    benchmark.group = f"triton embed {CROPS} crops"
    benchmark.name = f"test_facev3_triton_shm_{shm}" if shm == "system" else "test_baseline_plain_grpc"
    benchmark.pedantic(triton_backend.embed, (crops,), rounds=15, warmup_rounds=2)


@pytest.fixture(scope="module")
def transport(triton, crops):
    """embed_pre called directly, with its input and output in registered system shm regions."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import shared_memory as shm

    client = grpcclient.InferenceServerClient(triton.grpc_url)
    out_bytes = CROPS * 3 * 112 * 112 * 4
    regions = {"bench_in": crops.nbytes, "bench_out": out_bytes}
    handles = {name: shm.create_shared_memory_region(name, f"/{name}", size) for name, size in regions.items()}
    for name, size in regions.items():
        client.register_system_shared_memory(name, f"/{name}", size)

    def with_shm():
        shm.set_shared_memory_region(handles["bench_in"], [crops])
        tensor = grpcclient.InferInput("CROPS", list(crops.shape), "UINT8")
        tensor.set_shared_memory("bench_in", crops.nbytes)
        output = grpcclient.InferRequestedOutput("DATA")
        output.set_shared_memory("bench_out", out_bytes)
        client.infer("embed_pre", [tensor], outputs=[output])
        return shm.get_contents_as_numpy(handles["bench_out"], np.float32, (CROPS, 3, 112, 112)).copy()

    def plain():
        tensor = grpcclient.InferInput("CROPS", list(crops.shape), "UINT8")
        tensor.set_data_from_numpy(crops)
        return client.infer("embed_pre", [tensor], outputs=[grpcclient.InferRequestedOutput("DATA")]).as_numpy("DATA")

    np.testing.assert_array_equal(with_shm(), plain())
    yield {"system": with_shm, "none": plain}
    for name, handle in handles.items():
        client.unregister_system_shared_memory(name)
        shm.destroy_shared_memory_region(handle)
    client.close()


@pytest.mark.parametrize("shm", ["system", "none"])
def test_transport_32_crops(benchmark, transport, shm):
    benchmark.group = f"triton transport {CROPS} crops (embed_pre)"
    benchmark.name = "test_facev3_shm_system" if shm == "system" else "test_baseline_plain_grpc"
    benchmark.pedantic(transport[shm], rounds=50, warmup_rounds=5)


@pytest.mark.parametrize("which", ["triton", "local"])
def test_pipeline_group_photo(benchmark, triton, which):
    backend = TritonBackend(triton.grpc_url, shm="system") if which == "triton" else LocalBackend()
    pipeline = Pipeline(backend)
    benchmark.group = "pipeline t1 6 faces by backend"
    benchmark.name = "test_facev3_triton_backend" if which == "triton" else "test_baseline_local_backend"
    (result,), _ = benchmark.pedantic(pipeline.run, ([photo_path("t1.jpg").read_bytes()],), rounds=8, warmup_rounds=1)
    assert len(result.faces) == 6
    backend.close()
