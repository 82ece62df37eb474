"""Runs of fixed shapes in the embedded backend: a runtime that plans each new input shape
(onnxruntime on a GPU, where cuDNN took 0.1-3.8 s a shape on an H200) is fed only the shapes
planned at the start, and an embedder whose graph fixes its batch embeds any number of faces.

The GPU is not needed to test the shapes: onnxruntime's CPU provider is told it plans shapes."""

import logging

import numpy as np
import pytest

from facev3 import bootstrap
from facev3.backends import runtimes
from facev3.backends.local import LOCAL_STAGE_CROPS, LocalBackend, run_sizes
from facev3.config import Settings
from facev3.core.ports import embed_crops
from facev3.models import registry
from facev3.models.manifest import load_manifest
from tests.support import models
from tests.support.photos import PHOTOS, photo_path

CROPS = np.random.default_rng(7).integers(0, 256, (11, 112, 112, 3), dtype=np.uint8)


class Planned:
    """The shapes each model of a backend is fed (by its outputs' names)."""

    def __init__(self) -> None:
        self.fed: dict[str, set[tuple[int, ...]]] = {"detector": set(), "embedder": set()}

    def record(self, monkeypatch) -> None:
        run = runtimes.OnnxRuntimeModel.run

        def recording(model, outputs, feeds):
            role = "embedder" if outputs == ["fc1"] else "detector"
            self.fed[role].add(next(iter(feeds.values())).shape)
            return run(model, outputs, feeds)

        monkeypatch.setattr(runtimes.OnnxRuntimeModel, "run", recording)


@pytest.fixture(scope="module")
def reference():
    pipeline = bootstrap.build_pipeline(Settings(runtime="onnxruntime"))
    yield pipeline
    pipeline.backend.close()


def test_run_sizes_are_the_graphs_batch_or_powers_of_two_where_shapes_are_planned(monkeypatch):
    class Model:
        batch, fixed_shapes = None, False

    assert run_sizes(Model(), 32) is None
    Model.batch = 4
    assert run_sizes(Model(), 32) == (4,)
    Model.batch, Model.fixed_shapes = None, True
    assert run_sizes(Model(), 32) == (1, 2, 4, 8, 16, 32)
    assert run_sizes(Model(), 24) == (1, 2, 4, 8, 16, 24)
    assert run_sizes(Model(), 1) == (1,)


def test_a_runtime_that_plans_shapes_is_fed_only_those_planned_at_the_start(monkeypatch, reference, caplog):
    """Photos of every size meet the detector on one 640 x 640 canvas, and faces go to the
    embedder in runs of a power of two; faces and embeddings are those of free shapes."""
    caplog.set_level(logging.INFO, "facev3.backends")
    planned = Planned()
    planned.record(monkeypatch)
    monkeypatch.setattr(runtimes.OnnxRuntimeModel, "fixed_shapes", True)
    # A GPU's batch: the whole stage (on the CPU onnxruntime's own is 2).
    pipeline = bootstrap.build_pipeline(Settings(runtime="onnxruntime", max_batch_size=LOCAL_STAGE_CROPS))
    try:
        assert planned.fed["detector"] == {(1, 3, 640, 640)}
        sizes = (1, 2, 4, 8, 16, LOCAL_STAGE_CROPS)
        assert planned.fed["embedder"] == {(n, 3, 112, 112) for n in sizes}
        assert (
            "planned the detector's 640 x 640 canvas and the embedder's batches of 1, 2, 4, 8, 16, 32 in" in caplog.text
        )
        at_start = {role: set(shapes) for role, shapes in planned.fed.items()}
        photos = [photo_path(name).read_bytes() for name in PHOTOS]
        ours, _ = pipeline.run(photos)
        theirs, _ = reference.run(photos)
        assert planned.fed == at_start
        for mine, their in zip(ours, theirs, strict=True):
            assert len(mine.faces) == len(their.faces) >= 1
            for face, twin in zip(mine.faces, their.faces, strict=True):
                np.testing.assert_allclose(face.box, twin.box, atol=0.01)
                assert float(face.embedding @ twin.embedding) >= 0.99999
        np.testing.assert_allclose(
            embed_crops(pipeline.backend, CROPS), embed_crops(reference.backend, CROPS), rtol=1e-5, atol=1e-5
        )
    finally:
        pipeline.backend.close()


def test_an_embedder_whose_graph_fixes_its_batch_embeds_any_number_of_faces(tmp_path, reference):
    manifest = load_manifest(models.sface_fixed_batch(tmp_path, 4).with_suffix(".toml"))
    backend = LocalBackend(registry.resolve(None, "detector"), manifest, runtime="onnxruntime")
    try:
        assert backend.embed_batch == 4
        for count in (1, 4, 7, len(CROPS)):
            np.testing.assert_allclose(
                embed_crops(backend, CROPS[:count]), embed_crops(reference.backend, CROPS[:count]), rtol=1e-5, atol=1e-5
            )
    finally:
        backend.close()
