"""Calibrated scoring: a model's calibration (cosine -> 0-1 score) and the one re-rank call that
the API, the CLI and the gallery share.

score(c) = 1 / (1 + exp(-scale * (c - threshold))), so 0.5 sits at the model's operating point;
`match` is score >= match_threshold. Formulas and re-ranking methods: cpp/include/facev3/rerank_compute.h.
"""

import numpy as np

from facev3 import native
from facev3.core.models import Calibration

# The re-ranking methods of librerank_compute, by the names the binding takes.
METHODS = ("cosine", "kreciprocal", "qe")


def rerank(
    query: np.ndarray,
    candidates: np.ndarray,
    calibration: Calibration,
    *,
    method: str = "cosine",
    match_threshold: float = 0.5,
    top_k: int | None = None,
) -> native.RerankResult:
    """Scores candidates (n, D) against one query (D,) and orders them best first; raises
    native.InputError for embeddings it cannot score."""
    return native.rerank(
        query,
        candidates,
        calibration_threshold=calibration.threshold,
        calibration_scale=calibration.scale,
        method=method,
        match_threshold=match_threshold,
        top_k=top_k,
    )
