"""Fitting the logistic cosine -> score calibration (Platt scaling) on labelled pairs.

score(c) = 1 / (1 + exp(-scale * (c - threshold))). Platt's method fits (scale, threshold) by
maximum likelihood with smoothed targets (N+ + 1) / (N+ + 2) and 1 / (N- + 2), which keeps the
fit finite when the pairs are perfectly separable (as on small, easy photo sets). Each class is
weighted to half the total, so score 0.5 means "as likely same as different" whatever the mix of
pairs: a face search sees far more different than same pairs, and that ratio is the caller's.
"""

import itertools
import json
from pathlib import Path

import numpy as np

from facev3.core.scoring import Calibration


def labelled_photos(root: Path) -> list[tuple[str, Path]]:
    """(identity, path) of the single-person photos listed in root/MANIFEST.json, rescaled
    near-duplicates left out (they would count one photo twice)."""
    manifest = json.loads((root / "MANIFEST.json").read_text())["images"]
    return [
        (entry["identity"], root / entry["file"])
        for entry in manifest
        if entry.get("identity") and "near-duplicate" not in entry.get("note", "")
    ]


def pair_cosines(identities: list[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine and same-identity flag of every pair of unit vectors."""
    pairs = list(itertools.combinations(range(len(identities)), 2))
    cosines = np.array([vectors[i] @ vectors[j] for i, j in pairs])
    same = np.array([identities[i] == identities[j] for i, j in pairs])
    return cosines, same


def fit_platt(cosines: np.ndarray, same: np.ndarray, name: str, iterations: int = 100) -> Calibration:
    x = np.asarray(cosines, np.float64)
    labels = np.asarray(same, bool)
    positives, negatives = labels.sum(), (~labels).sum()
    target = np.where(labels, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    weight = np.where(labels, 0.5 / positives, 0.5 / negatives)
    # Newton's method on the logistic log-likelihood in (w, b), score = sigmoid(w x + b).
    w, b = 1.0, 0.0
    design = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(w * x + b)))
        gradient = design.T @ (weight * (p - target))
        hessian = design.T @ (design * (weight * p * (1 - p))[:, None]) + 1e-12 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w, b = w - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return Calibration(name=name, threshold=float(-b / w), scale=float(w))
