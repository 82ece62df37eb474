"""SFace on the embedded backend: 32 aligned faces embedded in batches of 1 to 32, one thread, on
each runtime. Decides each runtime's `fastest_batch` (facev3.backends.runtimes): onnxruntime 2,
4-7% ahead of 1 and 4 and 33% ahead of 32 in the runs that set it; OpenVINO 8. The runtime's
default is the reference entry of its group."""

import numpy as np
import pytest

from facev3 import bootstrap
from facev3.backends.local import LocalBackend
from facev3.config import Settings
from facev3.core.pipeline import EmbedOptions, Pipeline
from facev3.core.ports import embed_crops
from tests.support.photos import photo_path

FACES = 32
BATCHES = (1, 2, 4, 8, 16, 32)
RUNTIMES = ("onnxruntime", "openvino")


@pytest.fixture(scope="module", params=RUNTIMES)
def backend_and_crops(request):
    backend = bootstrap.build_backend(Settings(threads=1, runtime=request.param))
    photos = [
        photo_path(n).read_bytes() for n in ("t1.jpg", "Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "obama_small.jpg")
    ]
    results, _ = Pipeline(backend).run(photos, EmbedOptions(return_aligned=True))
    crops = np.array([f.aligned for r in results for f in r.faces])
    # real faces, repeated to 32, and the runtime's default batch before the tests change it
    return backend, np.resize(crops, (FACES, *crops.shape[1:])), backend.embed_batch


def embed_in_batches(backend: LocalBackend, crops: np.ndarray, batch: int) -> np.ndarray:
    backend.embed_batch = batch
    return embed_crops(backend, crops)


@pytest.mark.parametrize("batch", BATCHES)
def test_embed_batch(benchmark, backend_and_crops, batch):
    backend, crops, default = backend_and_crops
    benchmark.group = f"embed {FACES} faces by batch size on {backend.runtimes['embedder']}"
    benchmark.extra_info["runtime_default"] = batch == default
    result = benchmark.pedantic(embed_in_batches, (backend, crops, batch), rounds=5, warmup_rounds=1)
    np.testing.assert_allclose(result[:4], embed_in_batches(backend, crops[:4], 1), rtol=1e-4, atol=1e-4)
