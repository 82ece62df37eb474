"""SFace on the embedded backend: 32 aligned faces embedded in batches of 1 to 32, one thread.
Decides LocalBackend's embed_batch (the fastest size on this CPU: 2, 4-7% ahead of 1 and 4,
33% ahead of 32 in the runs that set it); the default is the reference entry of the group."""

import inspect

import numpy as np
import pytest

from facev3 import bootstrap
from facev3.backends.local import LocalBackend
from facev3.config import Settings
from facev3.core.pipeline import EmbedOptions, Pipeline
from facev3.core.ports import embed_crops
from tests.support.photos import photo_path

FACES = 32
DEFAULT = inspect.signature(LocalBackend).parameters["embed_batch"].default
OTHERS = [b for b in (1, 2, 4, 8, 16, 32) if b != DEFAULT]


@pytest.fixture(scope="module")
def backend_and_crops():
    backend = bootstrap.build_backend(Settings(threads=1))
    photos = [
        photo_path(n).read_bytes() for n in ("t1.jpg", "Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "obama_small.jpg")
    ]
    results, _ = Pipeline(backend).run(photos, EmbedOptions(return_aligned=True))
    crops = np.array([f.aligned for r in results for f in r.faces])
    return backend, np.resize(crops, (FACES, *crops.shape[1:]))  # real faces, repeated to 32


def embed_in_batches(backend: LocalBackend, crops: np.ndarray, batch: int) -> np.ndarray:
    backend.embed_batch = batch
    return embed_crops(backend, crops)


def test_facev3_embed_default_batch(benchmark, backend_and_crops):
    backend, crops = backend_and_crops
    benchmark.group = f"embed {FACES} faces by batch size"
    benchmark.extra_info["batch"] = DEFAULT
    benchmark.pedantic(embed_in_batches, (backend, crops, DEFAULT), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("batch", OTHERS)
def test_embed_batch(benchmark, backend_and_crops, batch):
    backend, crops = backend_and_crops
    benchmark.group = f"embed {FACES} faces by batch size"
    result = benchmark.pedantic(embed_in_batches, (backend, crops, batch), rounds=5, warmup_rounds=1)
    np.testing.assert_allclose(result[:4], embed_in_batches(backend, crops[:4], 1), rtol=1e-4, atol=1e-4)
