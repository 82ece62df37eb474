"""Fitting the logistic cosine -> score calibration (Platt scaling) on labelled pairs.

score(c) = 1 / (1 + exp(-scale * (c - threshold))). Platt's method fits (scale, threshold) by
maximum likelihood with smoothed targets (N+ + 1) / (N+ + 2) and 1 / (N- + 2), which keeps the
fit finite when the pairs are perfectly separable (as on small, easy photo sets). Each class is
weighted to half the total, so score 0.5 means "as likely same as different" whatever the mix of
pairs: a face search sees far more different than same pairs, and that ratio is the caller's.
"""

import numpy as np

from facev3.core.models import Calibration


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
