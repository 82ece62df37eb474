"""Embedding overlapping detection on the embedded backend: a request alone embeds each image's
faces on a spare core while it detects the next image, with the same embeddings as embedding them
all at the end; with every core taken, or no next image, nothing runs ahead."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from facev3 import bootstrap
from facev3.backends.local import OverlappingStage
from facev3.config import Settings
from facev3.core.pipeline import EmbedOptions
from tests.support.photos import photo_path

PHOTOS = ("Rob_Lowe_0001.jpg", "t1.jpg", "obama_small.jpg", "Rob_Lowe_0002.jpg")


def test_a_stage_embeds_what_is_aligned_ahead_only_with_a_spare_core():
    calls, spare = [], [True]

    def embed(crops: np.ndarray) -> np.ndarray:
        calls.append((threading.current_thread().name, crops[:, 0, 0, 0].tolist()))
        return crops[:, 0, 0, :1].astype(np.float32)

    crops = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((5, 2, 2, 3), np.uint8)
    with ThreadPoolExecutor(1, thread_name_prefix="ahead") as background:
        stage = OverlappingStage(embed, crops, background, lambda: spare[0])
        stage.aligned(2)
        stage.aligned(2)  # nothing new
        spare[0] = False
        stage.aligned(4)  # no core to spare: waits for embed
        np.testing.assert_array_equal(stage.embed(5).ravel(), [0, 1, 2, 3, 4])
        assert calls[0] == ("ahead_0", [0, 1]) and calls[1][1] == [2, 3, 4] and len(calls) == 2
        np.testing.assert_array_equal(stage.embed(5).ravel(), [0, 1, 2, 3, 4])  # a second pass starts afresh
        assert calls[2][1] == [0, 1, 2, 3, 4]


@pytest.fixture(scope="module")
def backend():
    built = bootstrap.build_backend(Settings())
    yield built
    built.close()


@pytest.mark.parametrize("mirror", [False, True], ids=["plain", "mirror fusion"])
def test_a_lone_request_embeds_ahead_and_gets_the_same_embeddings(backend, mirror):
    photos = [photo_path(name).read_bytes() for name in PHOTOS]
    pipeline = bootstrap.build_pipeline(Settings(), backend)
    threads, plain_embed = [], backend._embed

    def recorded(crops: np.ndarray) -> np.ndarray:
        threads.append(threading.current_thread().name)
        return plain_embed(crops)

    backend._embed = recorded
    try:
        pipeline.run(photos[:1], EmbedOptions(mirror=mirror))
        assert threads and not any(name.startswith("facev3-embed") for name in threads)  # nothing to overlap
        threads.clear()
        ahead, _ = pipeline.run(photos, EmbedOptions(mirror=mirror))
        assert any(name.startswith("facev3-embed") for name in threads)
        streams, backend._streams = backend._streams, 0  # as if every core were taken
        threads.clear()
        try:
            at_the_end, _ = pipeline.run(photos, EmbedOptions(mirror=mirror))
        finally:
            backend._streams = streams
        assert not any(name.startswith("facev3-embed") for name in threads)
    finally:
        backend._embed = plain_embed
    for overlapped, reference in zip(ahead, at_the_end, strict=True):
        assert len(overlapped.faces) == len(reference.faces) >= 1
        for face, twin in zip(overlapped.faces, reference.faces, strict=True):
            assert float(face.embedding @ twin.embedding) >= 0.9999


def background_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("facev3-embed") and t.is_alive()}


def test_closing_the_backend_stops_its_background_threads():
    before = background_threads()  # other backends' (the module's)
    built = bootstrap.build_backend(Settings())
    bootstrap.build_pipeline(Settings(), built).run([photo_path(n).read_bytes() for n in PHOTOS[:2]])
    assert background_threads() - before
    built.close()
    assert background_threads() <= before
