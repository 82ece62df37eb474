"""Platt calibration fit: recovers a known logistic and stays finite on separable pairs."""

import numpy as np

from facev3.evaluation.calibration import fit_platt


def test_fit_recovers_the_generating_logistic():
    rng = np.random.default_rng(2)
    cosines = rng.uniform(-0.2, 1.0, 40_000)
    same = rng.uniform(size=cosines.size) < 1 / (1 + np.exp(-10 * (cosines - 0.4)))
    # Balanced weighting moves the midpoint by log(N-/N+) / scale; undo it for the check.
    fitted = fit_platt(cosines, same, "synthetic")
    prior_shift = np.log((~same).sum() / same.sum()) / fitted.scale
    assert abs(fitted.scale - 10) < 0.6
    assert abs(fitted.threshold - prior_shift - 0.4) < 0.02


def test_separable_pairs_give_a_finite_fit_between_the_classes():
    cosines = np.array([0.1, 0.2, 0.25, 0.3, 0.6, 0.7, 0.8])
    same = np.array([False, False, False, False, True, True, True])
    fitted = fit_platt(cosines, same, "separable")
    assert 0.3 < fitted.threshold < 0.6 and 0 < fitted.scale < 1000
