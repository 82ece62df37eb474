"""Triton backend (a real local tritonserver, CPU python-backend models):
- embedding 32 aligned crops through face_embed: system shared memory vs plain gRPC (on CPU
  the SFace compute, ~25 ms a face, hides the transport);
- the embedding round trip alone: one stage of 32 crops, already aligned into it as the
  pipeline leaves them, embedded by embed_io, a bench-only model with face_embed's inputs and
  outputs and no network (bench/triton_models): the transport that a GPU, where SFace takes
  about a millisecond, would leave exposed;
- the whole pipeline on the group photo: Triton backend vs the embedded onnxruntime backend."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facev3 import bootstrap
from facev3.backends.triton.backend import TritonBackend
from facev3.config import Settings
from facev3.core.pipeline import EmbedOptions
from facev3.core.ports import embed_crops
from facev3.models import registry
from facev3.tritonserver.launcher import TritonProcess
from tests.support.photos import photo_path
from tests.support.triton import repository as triton_repository

ROOT = Path(__file__).resolve().parents[1]
CROPS = 32


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    repository = triton_repository(tmp_path_factory.mktemp("triton") / "repo")
    # embed_io has face_embed's tensors and no network; it carries SFace's manifest like face_embed.
    shutil.copytree(ROOT / "bench" / "triton_models" / "embed_io", repository / "embed_io")
    manifest = json.dumps(json.dumps(registry.resolve("sface", "embedder").to_dict()))
    with (repository / "embed_io" / "config.pbtxt").open("a") as config:
        config.write(f'parameters {{ key: "MANIFEST" value: {{ string_value: {manifest} }} }}\n')
    with TritonProcess(repository, ROOT / ".venv-triton") as server:
        yield server


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    (result,), _ = bootstrap.build_pipeline(Settings()).run(
        [photo_path("t1.jpg").read_bytes()], EmbedOptions(return_aligned=True)
    )
    return np.resize(np.array([f.aligned for f in result.faces]), (CROPS, 112, 112, 3))


@pytest.fixture(scope="module")
def backends(triton):
    """TritonBackend by (shared memory, embedding model), made once."""
    made = {}
    yield lambda shm, model: made.setdefault((shm, model), TritonBackend(triton.grpc_url, shm=shm, embed_model=model))
    for backend in made.values():
        backend.close()


def name_by_shm(benchmark, shm: str) -> None:
    benchmark.name = "test_facev3_shm_system" if shm == "system" else "test_baseline_plain_grpc"


@pytest.mark.parametrize("shm", ["system", "none"])
def test_embed_32_crops(benchmark, backends, crops, shm):
    benchmark.group = f"triton embed {CROPS} crops (face_embed)"
    name_by_shm(benchmark, shm)
    benchmark.pedantic(embed_crops, (backends(shm, "face_embed"), crops), rounds=15, warmup_rounds=2)


@pytest.mark.parametrize("shm", ["system", "none"])
def test_embedding_round_trip_32_crops(benchmark, backends, crops, shm):
    benchmark.group = f"triton embedding round trip {CROPS} crops (embed_io, no network)"
    name_by_shm(benchmark, shm)
    with backends(shm, "embed_io").stage() as stage:
        stage.crops[:CROPS] = crops
        result = benchmark.pedantic(stage.embed, (CROPS,), rounds=300, warmup_rounds=200)
    np.testing.assert_array_equal(result, crops.reshape(CROPS, 128, -1)[:, :, 0])


@pytest.mark.parametrize("which", ["triton", "local"])
def test_pipeline_group_photo(benchmark, triton, which):
    settings = Settings(backend=which, triton_url=triton.grpc_url, triton_shm="system")
    pipeline = bootstrap.build_pipeline(settings)
    benchmark.group = "pipeline t1 6 faces by backend"
    benchmark.name = "test_facev3_triton_backend" if which == "triton" else "test_baseline_local_backend"
    (result,), _ = benchmark.pedantic(pipeline.run, ([photo_path("t1.jpg").read_bytes()],), rounds=8, warmup_rounds=1)
    assert len(result.faces) == 6
    pipeline.backend.close()
