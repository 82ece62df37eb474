"""Deterministic embeddings for contract tests."""

import numpy as np


def vectors_with_cosines(cosines: list[float], dim: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A query e0 and candidates cos*e0 + sin*e1: their cosines with the query are exactly `cosines`."""
    query = np.zeros(dim, np.float32)
    query[0] = 1.0
    candidates = np.zeros((len(cosines), dim), np.float32)
    candidates[:, 0] = cosines
    candidates[:, 1] = np.sqrt(1.0 - np.square(cosines))
    return query, candidates
