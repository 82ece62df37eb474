"""Fits SFace's calibration on the labelled photos of ../shared/data/faces and prints the numbers
that go into facev3.models.SFACE_CALIBRATION (documented in README, "Calibration").

    .venv/bin/python tools/fit_calibration.py [../shared/data/faces]
"""

import itertools
import json
import sys
from pathlib import Path

import numpy as np

from facev3.calibration import fit_platt
from facev3.inference import LocalBackend
from facev3.pipeline import Pipeline


def labelled_photos(root: Path) -> list[tuple[str, Path]]:
    """Single-person photos with an identity, near-duplicates (rescaled copies) left out."""
    manifest = json.loads((root / "MANIFEST.json").read_text())["images"]
    return [
        (entry["identity"], root / entry["file"])
        for entry in manifest
        if entry.get("identity") and "near-duplicate" not in entry.get("note", "")
    ]


def largest_face_embeddings(pipeline: Pipeline, paths: list[Path]) -> np.ndarray:
    results, _ = pipeline.run([p.read_bytes() for p in paths])
    vectors = []
    for path, result in zip(paths, results):
        assert result.faces, f"no face in {path}"
        vectors.append(max(result.faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).embedding)
    return np.array(vectors)


def pairs(identities: list[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = list(itertools.combinations(range(len(identities)), 2))
    cosines = np.array([vectors[i] @ vectors[j] for i, j in index])
    same = np.array([identities[i] == identities[j] for i, j in index])
    return cosines, same


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[2] / "shared/data/faces")
    photos = labelled_photos(root)
    identities = [identity for identity, _ in photos]
    cosines, same = pairs(identities, largest_face_embeddings(Pipeline(LocalBackend()), [p for _, p in photos]))
    calibration = fit_platt(cosines, same, name="sface_2021dec/v1")
    print(f"{len(photos)} photos, {len(set(identities))} identities, {same.sum()} same / {(~same).sum()} different pairs")
    print(f"same: mean {cosines[same].mean():.3f} min {cosines[same].min():.3f}; "
          f"different: mean {cosines[~same].mean():.3f} max {cosines[~same].max():.3f}")
    print(f"fitted threshold {calibration.threshold:.4f} scale {calibration.scale:.3f}")
    decided = cosines >= calibration.threshold
    print(f"accuracy at the threshold: {(decided == same).mean():.4f}")


if __name__ == "__main__":
    main()
