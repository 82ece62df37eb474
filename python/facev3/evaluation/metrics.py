"""Verification metrics on scored pairs: cosines (m,) float and same (m,) bool.

A pair is accepted when cosine >= threshold. TAR (true-accept rate) is the fraction of same pairs
accepted, FAR (false-accept rate) the fraction of different pairs accepted, FRR = 1 - TAR.

- ROC: (FAR, TAR) after accepting every score >= t, for each distinct score t from the highest,
  after a first point (0, 0) at t = +inf. Tied scores move together, so the area under it by the
  trapezoid rule is exactly the Mann-Whitney U / (n_same * n_different), ties counting 1/2.
- EER: where FAR == FRR, linearly interpolated between the two ROC points that bracket it (FAR - FRR
  rises from -1 to 1 along the curve); its threshold is interpolated between theirs the same way.
- TAR@FAR: the best TAR with FAR <= target. Accepting at most k = floor(target * n_different)
  different pairs means accepting only scores above the (k+1)-th highest different score; below
  1 / target different pairs even one accepted pair is over the target (k = 0) and the number says
  nothing about the target, so it is reported as not measurable.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

FAR_TARGETS = (1e-2, 1e-3, 1e-4)


class FailedPhoto(NamedTuple):
    """A photo left out of the pairs: no face found, or it could not be decoded (reason says which)."""

    path: str
    reason: str


@dataclass(frozen=True, eq=False)
class Roc:
    """thresholds descending, thresholds[0] = +inf (nothing accepted); far and tar at each."""

    thresholds: np.ndarray
    far: np.ndarray
    tar: np.ndarray


@dataclass(frozen=True)
class ScoreStats:
    """Cosines of one kind of pair; std is the population one (ddof 0), percentiles interpolate linearly."""

    count: int
    mean: float
    std: float
    min: float
    max: float
    p1: float
    p50: float
    p99: float


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    accuracy: float  # fraction of all pairs decided right (dominated by the more numerous kind)
    tar: float
    far: float


@dataclass(frozen=True)
class TarAtFar:
    """far is the FAR reached (<= far_target); tar, far and threshold are None when not measurable,
    and reason then says why."""

    far_target: float
    measurable: bool
    tar: float | None
    far: float | None
    threshold: float | None
    reason: str | None


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Everything evaluate measures; cosines and same are the scored pairs (for plots), roc the curve.
    to_dict leaves out those three arrays."""

    threshold: float
    coverage: float
    failed: tuple[FailedPhoto, ...]
    pairs_skipped: int
    same_scores: ScoreStats
    different_scores: ScoreStats
    roc_auc: float
    eer: float
    eer_threshold: float
    at_threshold: OperatingPoint
    tar_at_far: tuple[TarAtFar, ...]
    roc: Roc
    cosines: np.ndarray
    same: np.ndarray

    def to_dict(self) -> dict:
        """Plain JSON types only (no NaN or infinity)."""
        return {
            "threshold": self.threshold,
            "coverage": self.coverage,
            "pairs": {
                "same": self.same_scores.count,
                "different": self.different_scores.count,
                "skipped": self.pairs_skipped,
            },
            "same_scores": asdict(self.same_scores),
            "different_scores": asdict(self.different_scores),
            "roc_auc": self.roc_auc,
            "eer": self.eer,
            "eer_threshold": self.eer_threshold,
            "at_threshold": asdict(self.at_threshold),
            "tar_at_far": [asdict(point) for point in self.tar_at_far],
            "failed": [photo._asdict() for photo in self.failed],
        }


def evaluate(
    cosines: np.ndarray,
    same: np.ndarray,
    threshold: float,
    coverage: float,
    failed: Iterable[tuple[str | Path, str]],
    *,
    far_targets: Sequence[float] = FAR_TARGETS,
    pairs_skipped: int = 0,
) -> Evaluation:
    """Measures the scored pairs at the operating threshold.

    coverage: photos with at least one face / photos; failed: (path, reason) of the photos without;
    pairs_skipped: pairs left out because one of their photos failed. Raises ValueError when the
    pairs lack a same or a different pair, TypeError for a same that is not boolean."""
    x, labels = _checked(cosines, same)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    if not 0 <= coverage <= 1:
        raise ValueError(f"coverage is a fraction of the photos, got {coverage}")
    roc = roc_curve(x, labels)
    eer, eer_threshold = equal_error_rate(roc)
    return Evaluation(
        threshold=float(threshold),
        coverage=float(coverage),
        failed=tuple(FailedPhoto(str(path), str(reason)) for path, reason in failed),
        pairs_skipped=int(pairs_skipped),
        same_scores=score_stats(x[labels]),
        different_scores=score_stats(x[~labels]),
        roc_auc=roc_auc(roc),
        eer=eer,
        eer_threshold=eer_threshold,
        at_threshold=operating_point(x, labels, threshold),
        tar_at_far=tuple(tar_at_far(x, labels, target) for target in far_targets),
        roc=roc,
        cosines=x,
        same=labels,
    )


def roc_curve(cosines: np.ndarray, same: np.ndarray) -> Roc:
    x, labels = _checked(cosines, same)
    order = np.argsort(x, kind="stable")[::-1]
    scores, accepted_same = x[order], labels[order]
    # The last position of each run of equal scores: the point after accepting the whole run.
    ends = np.append(np.flatnonzero(scores[1:] != scores[:-1]), scores.size - 1)
    true_accepts = np.cumsum(accepted_same)[ends]
    false_accepts = (ends + 1) - true_accepts
    return Roc(
        thresholds=np.append(np.inf, scores[ends]),
        far=np.append(0.0, false_accepts / (labels.size - labels.sum())),
        tar=np.append(0.0, true_accepts / labels.sum()),
    )


def roc_auc(roc: Roc) -> float:
    """Area under the ROC by the trapezoid rule: the probability that a same pair scores above a
    different one, ties counting 1/2."""
    return float(np.sum(np.diff(roc.far) * (roc.tar[1:] + roc.tar[:-1]) / 2))


def equal_error_rate(roc: Roc) -> tuple[float, float]:
    """(EER, its threshold)."""
    gap = roc.far - (1 - roc.tar)  # -1 at the first point, +1 at the last, never decreasing
    high = int(np.argmax(gap >= 0))
    if gap[high] == 0:
        return float(roc.far[high]), float(roc.thresholds[high])
    low = high - 1
    t = -gap[low] / (gap[high] - gap[low])
    rate = roc.far[low] + t * (roc.far[high] - roc.far[low])
    if low == 0:  # bracketed by the +inf point: the highest score is the only finite threshold
        return float(rate), float(roc.thresholds[high])
    return float(rate), float(roc.thresholds[low] + t * (roc.thresholds[high] - roc.thresholds[low]))


def operating_point(cosines: np.ndarray, same: np.ndarray, threshold: float) -> OperatingPoint:
    x, labels = _checked(cosines, same)
    accepted = x >= threshold
    return OperatingPoint(
        threshold=float(threshold),
        accuracy=float(np.mean(accepted == labels)),
        tar=float(accepted[labels].mean()),
        far=float(accepted[~labels].mean()),
    )


def tar_at_far(cosines: np.ndarray, same: np.ndarray, far_target: float) -> TarAtFar:
    """The best TAR with FAR <= far_target; its threshold is the smallest float above the (k+1)-th
    highest different score, so cosine >= threshold reproduces tar and far."""
    x, labels = _checked(cosines, same)
    if not 0 < far_target < 1:
        raise ValueError(f"far_target must be in (0, 1), got {far_target}")
    different = np.sort(x[~labels])[::-1]
    needed = math.ceil(1 / far_target - 1e-9)
    if different.size < needed:
        reason = f"needs >= {needed} different pairs, has {different.size}"
        return TarAtFar(far_target, measurable=False, tar=None, far=None, threshold=None, reason=reason)
    allowed = math.floor(far_target * different.size + 1e-9)
    threshold = float(np.nextafter(different[allowed], np.inf))
    return TarAtFar(
        far_target,
        measurable=True,
        tar=float(np.mean(x[labels] >= threshold)),
        far=float(np.mean(different >= threshold)),
        threshold=threshold,
        reason=None,
    )


def score_stats(cosines: np.ndarray) -> ScoreStats:
    x = np.asarray(cosines, np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"score_stats needs a non-empty 1-D array, got shape {x.shape}")
    p1, p50, p99 = np.percentile(x, [1, 50, 99])
    return ScoreStats(
        count=int(x.size),
        mean=float(x.mean()),
        std=float(x.std()),
        min=float(x.min()),
        max=float(x.max()),
        p1=float(p1),
        p50=float(p50),
        p99=float(p99),
    )


def _checked(cosines: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 cosines and bool flags of the same length, with both kinds of pair present."""
    x, labels = np.asarray(cosines), np.asarray(same)
    if labels.dtype != bool:
        raise TypeError(f"same must be a bool array, got {labels.dtype} (compare identities, e.g. a == b)")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"cosines must be a float array, got {x.dtype}")
    if x.ndim != 1 or x.shape != labels.shape:
        raise ValueError(f"cosines and same must be 1-D of one length, got {x.shape} and {labels.shape}")
    if not np.isfinite(x).all():
        raise ValueError("cosines must be finite")
    if labels.all() or not labels.any():
        raise ValueError(f"needs both same and different pairs, got {labels.sum()} same of {labels.size}")
    return x.astype(np.float64, copy=False), labels
