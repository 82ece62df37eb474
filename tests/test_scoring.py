"""Re-ranking never invents matches: on the labelled photos, every method decides `match` on the
calibrated cosine (the calibration was fitted on cosines), so none has more false matches than
the cosine, and a photo of one person re-ranked against faces of others matches none of them."""

from pathlib import Path

import numpy as np
import pytest

from facev3 import bootstrap
from facev3.config import Settings
from facev3.core import scoring
from facev3.evaluation.labelled import load_labelled

SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


@pytest.fixture(scope="module")
def labelled_faces():
    pipeline = bootstrap.build_pipeline(Settings())
    pair_set = load_labelled(SHARED_FACES)
    results, _ = pipeline.run([photo.path.read_bytes() for photo in pair_set.photos])
    calibration = pipeline.backend.embedder.calibration
    pipeline.backend.close()
    vectors = np.array([r.largest_face().embedding for r in results])
    return [photo.identity for photo in pair_set.photos], vectors, calibration


def false_matches(identities, vectors, calibration, method: str) -> int:
    count = 0
    for i, query in enumerate(vectors):
        others = [j for j in range(len(vectors)) if j != i]
        result = scoring.rerank(query, vectors[others], calibration, method=method)
        count += sum(bool(result.match[k]) and identities[j] != identities[i] for k, j in enumerate(others))
    return count


@pytest.mark.parametrize("method", ["kreciprocal", "qe"])
def test_no_method_has_more_false_matches_than_the_cosine(labelled_faces, method):
    identities, vectors, calibration = labelled_faces
    assert false_matches(identities, vectors, calibration, method) <= false_matches(
        identities, vectors, calibration, "cosine"
    )


@pytest.mark.parametrize("method", scoring.METHODS)
def test_a_photo_reranked_against_other_peoples_faces_matches_none(labelled_faces, method):
    identities, vectors, calibration = labelled_faces
    biden = identities.index("joe_biden")
    strangers = np.array([v for v, who in zip(vectors, identities, strict=True) if who != "joe_biden"])
    assert len(strangers) >= 20
    result = scoring.rerank(vectors[biden], strangers, calibration, method=method)
    assert not result.match.any() and result.score.max() < 0.5
