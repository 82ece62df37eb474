"""A labelled set through the pipeline: the largest face of each photo embedded, every pair of
the set scored, and what could not be (no face, a bad file) accounted for. `facev3 evaluate` and
`facev3 calibrate` share it."""

from dataclasses import dataclass

import numpy as np

from facev3.core.pipeline import Pipeline
from facev3.evaluation.labelled import PairSet

BATCH = 8  # photos per pipeline call: one decoded photo at a time, the crops embedded in batches


@dataclass(frozen=True)
class ScoredPairs:
    cosines: np.ndarray  # (m,) float64, pairs whose two photos have a face
    same: np.ndarray  # (m,) bool
    skipped: int  # pairs with a photo that has no face
    coverage: float  # photos with a face / photos
    failed: list[tuple[str, str]]  # (photo, why)


def score_pairs(pipeline: Pipeline, pair_set: PairSet) -> ScoredPairs:
    photos = pair_set.photos
    vectors = np.zeros((len(photos), pipeline.backend.embedder.embedding_size), np.float32)
    found = np.zeros(len(photos), bool)
    failed = []
    for start in range(0, len(photos), BATCH):
        chunk = photos[start : start + BATCH]
        results, _ = pipeline.run([photo.path.read_bytes() for photo in chunk])
        for offset, (photo, result) in enumerate(zip(chunk, results, strict=True)):
            face = result.largest_face()
            if face is None:
                failed.append((str(photo.path), result.error.code if result.error else "no_face"))
                continue
            vectors[start + offset], found[start + offset] = face.embedding, True
    cosines, same, skipped = pair_set.scored(vectors, found)
    return ScoredPairs(cosines, same, skipped, float(found.mean()), failed)
