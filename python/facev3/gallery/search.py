"""A query face against a gallery: Milvus' top-k, then the re-rank /v1/rerank makes (calibrated
scores, matches on the calibrated cosine, the method's order). `facev3 gallery search` and the
API's /v1/gallery/search share it."""

from dataclasses import dataclass

import numpy as np

from facev3.core import scoring
from facev3.core.models import Calibration
from facev3.gallery.store import Hit


@dataclass(frozen=True)
class Ranked:
    hit: Hit
    score: float
    cosine: float
    match: bool


def rank(
    query: np.ndarray, hits: list[Hit], calibration: Calibration, *, method: str, threshold: float, show: int
) -> list[Ranked]:
    """The best `show` of the hits, best first."""
    if not hits:
        return []
    ranked = scoring.rerank(
        query,
        np.stack([h.vector for h in hits]),
        calibration,
        method=method,
        match_threshold=threshold,
        top_k=min(show, len(hits)),
    )
    return [
        Ranked(hits[i], float(ranked.score[i]), float(ranked.cosine[i]), bool(ranked.match[i]))
        for i in ranked.order.tolist()
    ]


def result_record(ranked: Ranked) -> dict:
    hit = ranked.hit
    return {
        "id": hit.id,
        "label": hit.label,
        "photo": hit.photo,
        "box": hit.box,
        "score": ranked.score,
        "cosine": ranked.cosine,
        "match": ranked.match,
        "quality": hit.quality,
    }
