"""Fits SFace's calibration on the labelled photos of ../shared/data/faces and prints the numbers
that go into facev3.models.sources.SFACE_CALIBRATION (documented in README, "Calibration").

    .venv/bin/python tools/fit_calibration.py [../shared/data/faces]
"""

import sys
from pathlib import Path

import numpy as np

from facev3 import bootstrap
from facev3.config import Settings
from facev3.core.calibration import fit_platt, labelled_photos, pair_cosines


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[2] / "shared/data/faces")
    photos = labelled_photos(root)
    identities = [identity for identity, _ in photos]
    results, _ = bootstrap.build_pipeline(Settings()).run([path.read_bytes() for _, path in photos])
    vectors = np.array([result.largest_face().embedding for result in results])
    cosines, same = pair_cosines(identities, vectors)
    calibration = fit_platt(cosines, same, name="sface_2021dec/v1")
    print(
        f"{len(photos)} photos, {len(set(identities))} identities, {same.sum()} same / {(~same).sum()} different pairs"
    )
    print(
        f"same: mean {cosines[same].mean():.3f} min {cosines[same].min():.3f}; "
        f"different: mean {cosines[~same].mean():.3f} max {cosines[~same].max():.3f}"
    )
    print(f"fitted threshold {calibration.threshold:.4f} scale {calibration.scale:.3f}")
    print(f"accuracy at the threshold: {((cosines >= calibration.threshold) == same).mean():.4f}")


if __name__ == "__main__":
    main()
