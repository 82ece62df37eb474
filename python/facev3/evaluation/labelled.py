"""Labelled photo sets for evaluation and calibration: which photos, which identity, which pairs.

Three forms, told apart by load_labelled:
- a folder with one sub-folder per identity: every pair of photos, same when the identities are;
- a MANIFEST.json ({"images": [{"file", "identity", "note"}, ...]}, as in ../shared/data/faces):
  the single-person photos that have an identity, near-duplicates left out, every pair;
- LFW's pairs.txt / pairs.csv: only the listed pairs, images at DIR/name/name_%04d.jpg.

Nothing here decodes an image: a photo that turns out to have no face is the caller's to report.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
MANIFEST_NAME = "MANIFEST.json"
PAIRS_NAMES = ("pairs.txt", "pairs.csv")
_SCORE_SLICE = 1 << 16

# LFW's files separate fields by tabs (pairs.txt) or commas (Kaggle's pairs.csv, which also ends
# rows with a comma); people's names never contain either, nor spaces.
_SEPARATORS = re.compile(r"[\s,]+")


class LabelledSetError(ValueError):
    """A labelled set that cannot be used; the message names the file (and line) at fault."""


@dataclass(frozen=True)
class LabelledPhoto:
    identity: str
    path: Path


@dataclass(frozen=True, eq=False)
class PairSet:
    """Photos and the pairs to score: pairs[k] = (i, j) indexes photos, same[k] = same identity.

    form is "folders", "manifest" or "lfw"; source is the folder or file that was read."""

    photos: list[LabelledPhoto]
    pairs: np.ndarray  # (m, 2) int64
    same: np.ndarray  # (m,) bool
    form: str
    source: Path

    @property
    def identities(self) -> int:
        return len({photo.identity for photo in self.photos})

    @property
    def same_pairs(self) -> int:
        return int(self.same.sum())

    @property
    def different_pairs(self) -> int:
        return int(self.same.size - self.same.sum())

    def scored(self, vectors: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """(cosines, same, skipped) of the pairs whose two photos both have a vector.

        vectors (n, D): one unit row per photo, in the order of photos (rows where found is False
        are ignored, zeros will do); found (n,) bool. skipped counts the pairs left out."""
        vectors, found = np.asarray(vectors), np.asarray(found)
        if vectors.ndim != 2 or len(vectors) != len(self.photos) or found.shape != (len(self.photos),):
            raise ValueError(
                f"expected vectors ({len(self.photos)}, D) and found ({len(self.photos)},), "
                f"got {vectors.shape} and {found.shape}"
            )
        if found.dtype != bool:
            raise TypeError(f"found must be a bool array, got {found.dtype}")
        kept = found[self.pairs[:, 0]] & found[self.pairs[:, 1]]
        pairs = self.pairs[kept]
        cosines = np.empty(len(pairs), np.float64)
        # In slices: a gather of every pair at once would hold 2 * m * D floats.
        for start in range(0, len(pairs), _SCORE_SLICE):
            first, second = pairs[start : start + _SCORE_SLICE].T
            cosines[start : start + _SCORE_SLICE] = np.einsum("ij,ij->i", vectors[first], vectors[second])
        return cosines, self.same[kept], int((~kept).sum())


def load_labelled(path: Path, pairs_file: Path | None = None) -> PairSet:
    """Reads a labelled set; the form is chosen in this order:

    1. pairs_file given: LFW pairs, images under path (a folder);
    2. path is a file: MANIFEST.json -> manifest (paths relative to its folder); any other file ->
       LFW pairs, images under the file's folder;
    3. path is a folder holding MANIFEST.json -> manifest; holding pairs.txt or pairs.csv -> LFW pairs;
    4. otherwise: one sub-folder per identity.

    Raises LabelledSetError for a set that cannot be evaluated (malformed, missing photos, fewer
    than two identities, no same or no different pair)."""
    path = Path(path)
    if not path.exists():
        raise LabelledSetError(f"{path}: no such file or folder")
    if pairs_file is not None:
        if not path.is_dir():
            raise LabelledSetError(f"{path}: with a pairs file, the path must be the folder of the images")
        return _checked(_lfw_pairs(Path(pairs_file), path))
    if path.is_file():
        if path.name == MANIFEST_NAME:
            return _checked(_all_pairs(manifest_photos(path.parent), "manifest", path))
        return _checked(_lfw_pairs(path, path.parent))
    if (path / MANIFEST_NAME).is_file():
        return _checked(_all_pairs(manifest_photos(path), "manifest", path / MANIFEST_NAME))
    for name in PAIRS_NAMES:
        if (path / name).is_file():
            return _checked(_lfw_pairs(path / name, path))
    return _checked(_all_pairs(folder_photos(path), "folders", path))


def folder_photos(root: Path) -> list[LabelledPhoto]:
    """Photos of root/<identity>/ (suffix in PHOTO_SUFFIXES, any case), sorted by identity then file
    name; hidden entries and files directly in root are ignored."""
    return [
        LabelledPhoto(folder.name, file)
        for folder in sorted(root.iterdir())
        if folder.is_dir() and not folder.name.startswith(".")
        for file in sorted(folder.iterdir())
        if file.is_file() and not file.name.startswith(".") and file.suffix.lower() in PHOTO_SUFFIXES
    ]


def manifest_photos(root: Path) -> list[LabelledPhoto]:
    """The single-person photos with an identity listed in root/MANIFEST.json, in its order; rescaled
    near-duplicates are left out (they would count one photo twice)."""
    manifest = root / MANIFEST_NAME
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise LabelledSetError(f"{manifest}:{error.lineno}: not JSON: {error.msg}") from None
    images = document.get("images") if isinstance(document, dict) else None
    if not isinstance(images, list):
        raise LabelledSetError(f"{manifest}: expected an object with an 'images' list")
    photos = []
    for index, entry in enumerate(images):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise LabelledSetError(f"{manifest}: images[{index}] has no 'file' string")
        if not entry.get("identity") or "near-duplicate" in str(entry.get("note") or ""):
            continue
        photo = LabelledPhoto(str(entry["identity"]), root / entry["file"])
        if not photo.path.is_file():
            raise LabelledSetError(f"{manifest}: images[{index}]: {photo.path} does not exist")
        photos.append(photo)
    return photos


def _all_pairs(photos: list[LabelledPhoto], form: str, source: Path) -> PairSet:
    # Row-major upper triangle: the order of itertools.combinations(range(n), 2).
    pairs = np.stack(np.triu_indices(len(photos), 1), axis=1).astype(np.int64)
    identities = np.array([photo.identity for photo in photos], object)
    same = (identities[pairs[:, 0]] == identities[pairs[:, 1]]).astype(bool)
    return PairSet(photos, pairs, same, form, source)


def _lfw_pairs(pairs_file: Path, images: Path) -> PairSet:
    """LFW's format: an optional first line of counts ("10 300": folds and pairs per fold, or
    "1100") or a CSV header; then "name n1 n2" (same person) or "name1 n1 name2 n2" (different).
    The counts are not checked against the lines: a subset of LFW's pairs is a valid set."""
    try:
        lines = pairs_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise LabelledSetError(f"{pairs_file}: cannot read: {error}") from None
    index: dict[Path, int] = {}
    photos, pairs, same = [], [], []

    def photo(name: str, number: str, where: str) -> int:
        if not (number.isascii() and number.isdigit()) or int(number) < 1:
            raise LabelledSetError(f"{where}: image number {number!r} is not a positive integer")
        path = images / name / f"{name}_{int(number):04d}.jpg"
        if path not in index:
            if not path.is_file():
                raise LabelledSetError(f"{where}: {path} does not exist")
            index[path] = len(photos)
            photos.append(LabelledPhoto(name, path))
        return index[path]

    for line_number, line in enumerate(lines, 1):
        fields = [field for field in _SEPARATORS.split(line.strip()) if field]
        if not fields or fields[0].startswith("#"):
            continue
        where = f"{pairs_file}:{line_number}"
        numeric = [field.isascii() and field.isdigit() for field in fields]
        if line_number == 1 and (all(numeric) or not any(numeric)):
            continue  # counts, or a CSV header such as "name,imagenum1,imagenum2"
        if len(fields) == 3:
            first, second = photo(fields[0], fields[1], where), photo(fields[0], fields[2], where)
            if first == second:
                raise LabelledSetError(f"{where}: a photo paired with itself")
            pairs.append((first, second))
            same.append(True)
        elif len(fields) == 4:
            if fields[0] == fields[2]:
                raise LabelledSetError(f"{where}: a different-person pair names {fields[0]} twice")
            pairs.append((photo(fields[0], fields[1], where), photo(fields[2], fields[3], where)))
            same.append(False)
        else:
            raise LabelledSetError(
                f"{where}: expected 'name n1 n2' or 'name1 n1 name2 n2', got {len(fields)} fields: {line.strip()!r}"
            )
    return PairSet(photos, np.array(pairs, np.int64).reshape(-1, 2), np.array(same, bool), "lfw", pairs_file)


def _checked(pair_set: PairSet) -> PairSet:
    """A set that can give both a same and a different score distribution."""
    where = pair_set.source
    if pair_set.identities < 2:
        raise LabelledSetError(
            f"{where}: {len(pair_set.photos)} photos of {pair_set.identities} identities; needs at least 2 identities"
        )
    if pair_set.same_pairs == 0:
        raise LabelledSetError(f"{where}: no same-identity pair (needs an identity with at least 2 photos)")
    if pair_set.different_pairs == 0:
        raise LabelledSetError(f"{where}: no different-identity pair")
    return pair_set
