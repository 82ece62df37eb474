"""Face quality and robustness on degraded photos: the degradation protocol of docs/quality.md.

The photos: the labelled single-person photos of ../shared/data/faces, and crops of single faces
of people outside the labelled set (group and crowd photos; each crop its own identity) to
enlarge the impostor pairs. Each photo is degraded one way at a time (a "kind": small faces, JPEG,
blur, noise, dark, low contrast, rotations and combinations) and scored in two designs:
"clean-gallery", every degraded photo as a probe against every other photo as it is (galleries
are enrolled from good photos, queries are not), and "both-degraded", every pair of two degraded
photos (what happens when bad faces get enrolled). Per kind and configuration (detector, mirror
fusion, rotations) it reports the detection rate, TAR and FAR at the embedder's calibrated
threshold, TAR at FAR 1e-2, the same after dropping faces below a quality score, how well the
quality score predicts the pairs that fail, and a sweep of that quality cut.

    python -m bench.quality                     # every kind and configuration (about 15 minutes here)
    python -m bench.quality --quick             # 4 kinds, YuNet alone (under 30 s; tests/test_quality_protocol.py)
    python -m bench.quality --doc docs/quality.md   # also rewrite the results section of the doc
    python -m bench.quality --photos SET --impostors none   # another labelled set (facev3 evaluate's forms)

A photo without a face makes its pairs rejected (a false reject for a same pair): rates are over
every pair of the protocol, not only the pairs whose faces were found. The raw results, every
face with its box, landmarks, quality factors and embedding, go to bench/results/quality-*.json;
`--from-json FILE` recomputes the summary (another --min-quality, say) without running a model.
"""

import argparse
import datetime
import itertools
import json
import platform
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = ROOT.parent / "shared" / "data" / "faces"
RESULTS = ROOT / "bench" / "results"
SEED = 20240616
FAR_TARGET = 1e-2
GOAL_TAR, GOAL_FAR = 0.90, 0.01
MISSING = -2.0  # the score of a pair whose probe has no face: below any threshold
# The quality below which faces are dropped ("filtered"); docs/quality.md says how it was chosen.
MIN_QUALITY = 0.25
# Faces of the impostor photos enrolled into the gallery: large and clearly detected, as an
# operator would enrol them (a quality gate would judge the score with itself).
ENROL_MIN_SIDE, ENROL_MIN_SCORE = 32.0, 0.8
# Photos of people outside the labelled identities (MANIFEST.json: no identity, and no note
# naming a labelled person). Left out: view.jpg (no face), two_people.jpg (Obama and Biden) and
# woman_search.jpeg (the woman of woman.png: cosine 0.66 between their crops).
IMPOSTOR_PHOTOS = (
    "insightface/t1.jpg",
    "insightface/woman.png",
    "crowd/deface_city.jpg",
    "crowd/retinaface_img3.jpg",
    "crowd/retinaface_test.jpg",
)
CANVAS = 256  # small kinds: a photo smaller than this is centred on a grey canvas of this side
SWEEP = tuple(round(0.05 * i, 2) for i in range(20))  # the min_quality values of the filter sweep
QUALITY_BINS = (0.0, 0.1, 0.3, 0.5, 0.7, 1.0001)


# ---- degradations: (RGB image, face side in its pixels, rng) -> (image, face side) ----

Op = Callable[[np.ndarray, float, np.random.Generator], tuple[np.ndarray, float]]


def small(target: float) -> Op:
    """The whole photo downscaled (INTER_AREA) until its face's shorter side is `target` pixels,
    then centred on a CANVAS x CANVAS mid-grey canvas where smaller, so that the face is small,
    not the image."""

    def op(image: np.ndarray, side: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        scale = target / side
        if scale < 1:
            height, width = image.shape[:2]
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image, side = cv2.resize(image, size, interpolation=cv2.INTER_AREA), side * scale
        height, width = image.shape[:2]
        if height < CANVAS or width < CANVAS:
            canvas = np.full((max(height, CANVAS), max(width, CANVAS), 3), 128, np.uint8)
            top, left = (canvas.shape[0] - height) // 2, (canvas.shape[1] - width) // 2
            canvas[top : top + height, left : left + width] = image
            image = canvas
        return image, side

    return op


def blur(fraction: float) -> Op:
    """Gaussian blur of sigma = fraction x the face's side (the same blur on the aligned crop
    whatever the photo's resolution)."""

    def op(image, side, rng):
        return cv2.GaussianBlur(image, (0, 0), fraction * side), side

    return op


def noise(sigma: float) -> Op:
    """Additive Gaussian noise of `sigma` grey levels, independent per pixel and channel."""

    def op(image, side, rng):
        noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8), side

    return op


def dark(scale: float) -> Op:
    """Under-exposure: every pixel value multiplied by `scale` (and rounded)."""

    def op(image, side, rng):
        return np.clip(np.rint(image.astype(np.float32) * scale), 0, 255).astype(np.uint8), side

    return op


def low_contrast(factor: float) -> Op:
    """Contrast reduced around the photo's mean grey level: mean + factor x (value - mean)."""

    def op(image, side, rng):
        mean = float(image.mean())
        return np.clip(np.rint(mean + factor * (image.astype(np.float32) - mean)), 0, 255).astype(np.uint8), side

    return op


def rotate(degrees: int) -> Op:
    """Turned counter-clockwise by 90, 180 or 270 degrees (np.rot90), losslessly."""

    def op(image, side, rng):
        return np.ascontiguousarray(np.rot90(image, degrees // 90)), side

    return op


@dataclass(frozen=True)
class Kind:
    """A degradation: its ops in order, then JPEG at `jpeg` quality (None: lossless PNG)."""

    name: str
    group: str
    ops: tuple[Op, ...] = ()
    jpeg: int | None = None

    @property
    def rotated(self) -> bool:
        return self.group in ("rotation", "rotation+") or self.name.startswith("rot ")


KINDS = (
    Kind("clean", "clean"),
    *(Kind(f"small {px}px", "size", (small(px),)) for px in (48, 32, 24, 16)),
    *(Kind(f"jpeg q{q}", "jpeg", (), q) for q in (30, 15, 8)),
    *(Kind(f"blur {f:.0%}", "blur", (blur(f),)) for f in (0.01, 0.02, 0.04)),
    *(Kind(f"noise {s}", "noise", (noise(s),)) for s in (10, 25, 40)),
    *(Kind(f"dark x{s}", "dark", (dark(s),)) for s in (0.25, 0.1)),
    *(Kind(f"contrast x{c}", "contrast", (low_contrast(c),)) for c in (0.3, 0.15)),
    *(Kind(f"rot {d}", "rotation", (rotate(d),)) for d in (90, 180, 270)),
    Kind("small 32px + jpeg q15", "combined", (small(32),), 15),
    Kind("dark x0.25 + noise 25", "combined", (dark(0.25), noise(25))),
    Kind("blur 2% + noise 10", "combined", (blur(0.02), noise(10))),
    Kind("contrast x0.3 + jpeg q15", "combined", (low_contrast(0.3),), 15),
    Kind("rot 90 + small 32px", "rotation+", (small(32), rotate(90))),
    Kind("rot 180 + small 32px + jpeg q30", "rotation+", (small(32), rotate(180)), 30),
)
QUICK_KINDS = ("clean", "small 16px", "blur 4%", "rot 180")


def degrade(kind: Kind, image: np.ndarray, side: float, rng: np.random.Generator) -> bytes:
    """The degraded photo as the bytes a client would send (the clean kind is handled apart)."""
    for op in kind.ops:
        image, side = op(image, side, rng)
    bgr = np.ascontiguousarray(image[..., ::-1])
    if kind.jpeg is not None:
        return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, kind.jpeg])[1].tobytes()
    return cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()


def kind_rng(kind: Kind, photo: int) -> np.random.Generator:
    """The same noise for a kind and photo in every run and configuration."""
    return np.random.default_rng([SEED, zlib.crc32(kind.name.encode()), photo])


# ---- configurations ----


@dataclass(frozen=True)
class Config:
    """rotations: the mode of the upright kinds; the rotated kinds run under "fallback" and "auto"
    whatever it is."""

    name: str
    detector: str = "yunet"
    mirror: bool = False
    rotations: str = "fallback"


CONFIGS = (
    Config("yunet"),
    Config("yunet+mirror", mirror=True),
    Config("centerface", detector="centerface"),
    Config("centerface+mirror", detector="centerface", mirror=True),
    Config("yunet+auto", rotations="auto"),
)
# Rotated kinds run under the default rotations="fallback" and again under "auto"; the others
# under "fallback" alone.
ROTATION_MODES = ("fallback", "auto")


# ---- the photos ----


@dataclass(frozen=True)
class Photo:
    """One probe (and gallery) photo: its clean bytes, the identity, and the shorter side of its
    face on the clean photo (YuNet's largest box), which sizes the degradations."""

    name: str
    identity: str
    data: bytes
    side: float


def build(config: Config, threads: int):
    from facev3 import bootstrap
    from facev3.config import Settings

    return bootstrap.build_pipeline(Settings(detector=config.detector, threads=threads))


def run_faces(pipeline, images: Sequence[bytes], options) -> list[list]:
    """Every face (no quality filter) of each image, 8 images per call; [] for an image refused."""
    faces = []
    for start in range(0, len(images), 8):
        results, _ = pipeline.run(list(images[start : start + 8]), options)
        faces += [list(result.faces) for result in results]
    return faces


def shorter_side(box) -> float:
    return float(min(box[2] - box[0], box[3] - box[1]))


def load_photos(photos_path: Path, impostors: Sequence[Path], reference) -> tuple[list[Photo], dict]:
    """The labelled photos, then one crop per enrollable face of the impostor photos, each its own
    identity: a square of 2.5 x the face's side around it in which every other face (YuNet at
    threshold 0.5) is painted over in grey, so that a crop shows one person; kept when YuNet finds
    that face again as the crop's largest."""
    from facev3.core.imaging import decode_image
    from facev3.core.pipeline import EmbedOptions
    from facev3.evaluation.labelled import load_labelled

    pair_set = load_labelled(photos_path)
    photos = []
    labelled = [(p.path.name, p.identity, p.path.read_bytes()) for p in pair_set.photos]
    for (name, identity, data), faces in zip(
        labelled, run_faces(reference, [d for _, _, d in labelled], EmbedOptions()), strict=True
    ):
        face = max(faces, key=lambda f: f.area, default=None)
        if face is None:
            raise SystemExit(f"{name}: YuNet finds no face in the clean photo; cannot size the degradations")
        photos.append(Photo(name, identity, data, shorter_side(face.box)))
    crops, found, dropped = [], 0, 0
    for path in impostors:
        image = decode_image(path.read_bytes())
        (faces,) = run_faces(reference, [path.read_bytes()], EmbedOptions(det_threshold=0.5))
        faces = sorted(faces, key=lambda f: -f.area)
        for k, face in enumerate(faces):
            if shorter_side(face.box) < ENROL_MIN_SIDE or face.score < ENROL_MIN_SCORE:
                continue
            found += 1
            masked = image.copy()
            for other in faces:
                if other is not face:
                    _paint(masked, other.box, 1.2, None)
            _paint(masked, face.box, 1.1, image)  # the face itself as it was, where a neighbour's box overlapped
            cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
            half = 1.25 * shorter_side(face.box)
            x0, y0 = max(0, round(cx - half)), max(0, round(cy - half))
            x1, y1 = min(image.shape[1], round(cx + half)), min(image.shape[0], round(cy + half))
            crop = np.ascontiguousarray(masked[y0:y1, x0:x1])
            data = cv2.imencode(".png", crop[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()
            crops.append((f"{path.name}#{k}", data, face.box - np.array([x0, y0, x0, y0], np.float32)))
    for (name, data, expected), faces in zip(
        crops, run_faces(reference, [c[1] for c in crops], EmbedOptions()), strict=True
    ):
        face = max(faces, key=lambda f: f.area, default=None)
        if face is None or _iou(face.box, expected) < 0.5:
            dropped += 1
            continue
        photos.append(Photo(name, f"impostor:{name}", data, shorter_side(face.box)))
    notes = {
        "labelled": len(labelled),
        "labelled_identities": pair_set.identities,
        "impostor_faces_enrollable": found,
        "impostor_crops_dropped": dropped,
    }
    return photos, notes


def _paint(image: np.ndarray, box, grow: float, source: np.ndarray | None) -> None:
    """Fills the box, grown by `grow` about its centre, with mid-grey or with `source`'s pixels."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = grow * (box[2] - box[0]) / 2, grow * (box[3] - box[1]) / 2
    x0, y0 = max(0, int(cx - hw)), max(0, int(cy - hh))
    x1, y1 = min(image.shape[1], int(np.ceil(cx + hw))), min(image.shape[0], int(np.ceil(cy + hh)))
    image[y0:y1, x0:x1] = 128 if source is None else source[y0:y1, x0:x1]


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union) if union > 0 else 0.0


def face_record(face) -> dict:
    """A face as the JSON keeps it, with the aligned crop's Laplacian variance and grey-level
    spread (over the centre facev3.core.quality.sharpness reads), to score other quality formulas."""
    h, w = face.aligned.shape[:2]
    centre = np.ascontiguousarray(face.aligned[h // 7 : h - h // 7, w // 7 : w - w // 7])
    grey = cv2.cvtColor(centre, cv2.COLOR_RGB2GRAY)
    return {
        "laplacian_variance": round(float(cv2.Laplacian(grey, cv2.CV_32F).var()), 2),
        "grey_std": round(float(grey.std()), 2),
        "box": [round(float(v), 1) for v in face.box],
        "landmarks": [[round(float(v), 1) for v in point] for point in face.landmarks],
        "score": round(float(face.score), 4),
        "area": round(float(face.area), 1),
        "quality": round(face.quality.score, 5),
        "factors": {k: round(v, 4) for k, v in face.quality.factors().items()},
        "norm": round(float(face.norm), 4),
        "embedding": [round(float(v), 5) for v in face.embedding],
    }


def largest(faces: list[dict], min_quality: float = 0.0) -> dict | None:
    """The largest face at or above min_quality: what the pipeline's largest_face() returns with
    EmbedOptions(min_quality=...), which drops faces below it before the choice."""
    kept = [face for face in faces if face["quality"] >= min_quality]
    return max(kept, key=lambda face: face["area"], default=None)


# ---- scoring ----


@dataclass(frozen=True)
class Side:
    """The chosen face of each photo: unit vectors (rows of zeros where none), found, quality."""

    vectors: np.ndarray
    found: np.ndarray
    quality: np.ndarray

    @classmethod
    def of(cls, photos: list[list[dict]], min_quality: float) -> "Side":
        chosen = [largest(faces, min_quality) for faces in photos]
        size = next((len(f["embedding"]) for f in chosen if f is not None), 1)
        vectors = np.array([f["embedding"] if f else np.zeros(size) for f in chosen], np.float64)
        found = np.array([f is not None for f in chosen], bool)
        quality = np.array([f["quality"] if f else np.nan for f in chosen], np.float64)
        return cls(vectors, found, quality)


def scored_pairs(probe: Side, gallery: Side, same: np.ndarray, pairs: np.ndarray):
    """(scores, same, pair quality) of pairs (probe i, gallery g); a pair with no face on a side
    scores MISSING; its quality is the lower of its two faces'."""
    i, g = pairs.T
    scores = np.einsum("ij,ij->i", probe.vectors[i], gallery.vectors[g])
    found = probe.found[i] & gallery.found[g]
    scores = np.where(found, scores, MISSING)
    quality = np.fmin(probe.quality[i], gallery.quality[g])
    return scores, same[i, g], np.where(found, quality, np.nan)


def design_pairs(count: int, design: str) -> np.ndarray:
    """ "clean-gallery": every ordered (probe i, gallery g), g != i: a degraded probe against the
    clean gallery; "both-degraded": every unordered pair of two degraded photos."""
    i, g = np.meshgrid(np.arange(count), np.arange(count), indexing="ij")
    keep = i != g if design == "clean-gallery" else i < g
    return np.stack([i[keep], g[keep]], axis=1)


DESIGNS = ("clean-gallery", "both-degraded")


def rates(scores: np.ndarray, same: np.ndarray, threshold: float) -> dict:
    from facev3.evaluation.metrics import tar_at_far

    at_far = tar_at_far(scores, same, FAR_TARGET)
    return {
        "same_pairs": int(same.sum()),
        "different_pairs": int((~same).sum()),
        "tar": float(np.mean(scores[same] >= threshold)),
        "far": float(np.mean(scores[~same] >= threshold)),
        "false_accepts": int(np.sum(scores[~same] >= threshold)),
        "tar_at_far": at_far.tar,
        "tar_at_far_threshold": at_far.threshold,
        "far_measurable": at_far.measurable,
    }


def filtered_rates(run: list[list[dict]], clean: list[list[dict]], same: np.ndarray, threshold: float, q: float):
    """Per design, the rates after dropping faces below q on both sides of every pair (q = 0: none)."""
    out = {}
    for design in DESIGNS:
        p = Side.of(run, q)
        g = Side.of(clean, q) if design == "clean-gallery" else p
        scores, labels, _ = scored_pairs(p, g, same, design_pairs(len(run), design))
        out[design] = rates(scores, labels, threshold)
    return out


def summarize(run: list[list[dict]], clean: list[list[dict]], same: np.ndarray, threshold: float, q: float) -> dict:
    """Detection rate, median quality, and per design the rates unfiltered and with faces below q dropped."""
    probe, gallery = Side.of(run, 0.0), Side.of(clean, 0.0)
    summary = {
        "photos": len(run),
        "detection_rate": float(probe.found.mean()),
        "quality_median": _median(probe.quality[probe.found]),
        "kept_rate": float(Side.of(run, q).found.mean()),
        "min_quality": q,
    }
    unfiltered, kept = filtered_rates(run, clean, same, threshold, 0.0), filtered_rates(run, clean, same, threshold, q)
    for design in DESIGNS:
        summary[design] = {"all": unfiltered[design], "filtered": kept[design]}
    scores, labels, _ = scored_pairs(probe, gallery, same, design_pairs(len(run), "clean-gallery"))
    summary["clean-gallery"]["same_cosine_median"] = _median(scores[labels & (scores > MISSING)])
    main = summary["clean-gallery"]["all"]
    summary["goal_met"] = main["tar"] >= GOAL_TAR and main["far"] <= GOAL_FAR
    summary["goal_met_at_far"] = main["tar_at_far"] is not None and main["tar_at_far"] >= GOAL_TAR
    return summary


def filter_sweep(runs: dict[str, list[list[dict]]], clean, same, threshold: float, labelled: int) -> list[dict]:
    """For each q of SWEEP: per design, the false accepts and different pairs summed over the
    degraded kinds, their mean TAR, and the highest FAR of any kind (clean included); and the
    share of the clean labelled photos whose face is kept."""
    sweep = []
    for q in SWEEP:
        per_run = {label: filtered_rates(run, clean, same, threshold, q) for label, run in runs.items()}
        entry = {"min_quality": q, "labelled_clean_kept": float(Side.of(clean[:labelled], q).found.mean())}
        for design in DESIGNS:
            degraded = [r[design] for label, r in per_run.items() if label != "clean"]
            entry[design] = {
                "false_accepts": sum(r["false_accepts"] for r in degraded),
                "different_pairs": sum(r["different_pairs"] for r in degraded),
                "tar_mean": float(np.mean([r["tar"] for r in degraded])) if degraded else None,
                "far_max": max(r[design]["far"] for r in per_run.values()),
            }
        sweep.append(entry)
    return sweep


def quality_vs_failure(runs: list[list[list[dict]]], clean, same, threshold: float, design: str) -> dict:
    """Over the pairs of every run given whose two photos have a face: how often a same pair fails
    (cosine < threshold) and a different pair is falsely accepted, by the pair's quality (the lower
    of its two faces'), and the AUC of quality as a predictor of a failed same pair (the
    probability that a failed pair's quality is below a passed one's, ties 1/2)."""
    gallery = Side.of(clean, 0.0)
    parts = []
    for run in runs:
        probe = Side.of(run, 0.0)
        parts.append(
            scored_pairs(probe, gallery if design == "clean-gallery" else probe, same, design_pairs(len(run), design))
        )
    scores, labels, quality = (np.concatenate(p) for p in zip(*parts, strict=True))
    found = scores > MISSING
    failed = scores < threshold
    q_same, f_same = quality[found & labels], failed[found & labels]
    q_diff, a_diff = quality[found & ~labels], ~failed[found & ~labels]
    bins = []
    for low, high in itertools.pairwise(QUALITY_BINS):
        in_same, in_diff = (q_same >= low) & (q_same < high), (q_diff >= low) & (q_diff < high)
        bins.append(
            {
                "quality": [low, min(high, 1.0)],
                "same_pairs": int(in_same.sum()),
                "same_failed": int(f_same[in_same].sum()),
                "different_pairs": int(in_diff.sum()),
                "false_accepts": int(a_diff[in_diff].sum()),
            }
        )
    return {
        "auc_quality_predicts_failure": _auc(q_same[f_same], q_same[~f_same]),
        "same_pairs": len(q_same),
        "same_failed": int(f_same.sum()),
        "different_pairs": len(q_diff),
        "false_accepts": int(a_diff.sum()),
        "false_accept_quality_median": _median(q_diff[a_diff]),
        "bins": bins,
    }


def _auc(low: np.ndarray, high: np.ndarray) -> float | None:
    """P(a value of `low` < a value of `high`), ties counting 1/2 (Mann-Whitney)."""
    if not len(low) or not len(high):
        return None
    below = (low[:, None] < high[None, :]).sum() + 0.5 * (low[:, None] == high[None, :]).sum()
    return float(below / (len(low) * len(high)))


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if len(values) else None


# ---- the protocol ----


def run_protocol(
    photos_path: Path = SHARED_FACES,
    impostors: Sequence[Path] | None = None,
    kinds: Sequence[Kind] = KINDS,
    configs: Sequence[Config] = CONFIGS,
    min_quality: float = MIN_QUALITY,
    threads: int = 1,
    log: Callable[[str], None] = lambda line: None,
) -> dict:
    """Runs every kind under every configuration; returns the JSON document (analysed)."""
    from facev3.core.imaging import decode_image
    from facev3.core.pipeline import EmbedOptions
    from facev3.models import registry

    if impostors is None:
        impostors = [SHARED_FACES / name for name in IMPOSTOR_PHOTOS] if photos_path == SHARED_FACES else []
    kinds = list(kinds)
    if kinds[0].name != "clean":
        kinds = [k for k in KINDS if k.name == "clean"] + [k for k in kinds if k.name != "clean"]
    started = time.time()
    reference = build(Config("yunet"), threads)
    photos, notes = load_photos(Path(photos_path), impostors, reference)
    reference.backend.close()
    sides = [p.side for p in photos]
    log(
        f"{notes['labelled']} labelled photos and {len(photos) - notes['labelled']} impostor crops; "
        f"face sides {min(sides):.0f}-{max(sides):.0f} px"
    )

    documents = {
        c.name: {"config": {"detector": c.detector, "mirror": c.mirror, "rotations": c.rotations}, "runs": {}}
        for c in configs
    }
    pipelines = {c.name: build(c, threads) for c in configs}
    for kind in kinds:
        if kind.name == "clean":
            images = [p.data for p in photos]
        else:
            images = [
                degrade(kind, decode_image(p.data), p.side, kind_rng(kind, index)) for index, p in enumerate(photos)
            ]
        for config in configs:
            modes = ROTATION_MODES if config.rotations == "fallback" else (config.rotations,)
            for mode in modes if kind.rotated else (config.rotations,):
                t = time.perf_counter()
                faces = run_faces(
                    pipelines[config.name],
                    images,
                    EmbedOptions(mirror=config.mirror, rotations=mode, return_aligned=True),
                )
                label = f"{kind.name} [auto]" if kind.rotated and mode == "auto" else kind.name
                documents[config.name]["runs"][label] = {
                    "kind": kind.name,
                    "group": kind.group,
                    "rotations": mode,
                    "faces": [[face_record(f) for f in found] for found in faces],
                    "seconds": round(time.perf_counter() - t, 2),
                }
                log(f"{config.name:18} {label:34} {time.perf_counter() - t:6.1f} s")
    for pipeline in pipelines.values():
        pipeline.backend.close()

    document = {
        "protocol": {
            "photos": str(photos_path),
            "names": [p.name for p in photos],
            "identities": [p.identity for p in photos],
            "face_sides": sides,
            "impostor_photos": [str(p) for p in impostors],
            **notes,
            "threshold": registry.load("sface").spec.calibration.threshold,
            "min_quality": min_quality,
            "far_target": FAR_TARGET,
            "seed": SEED,
            "kinds": [{"name": k.name, "group": k.group, "jpeg": k.jpeg} for k in kinds],
        },
        "configs": documents,
        "run": {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": round(time.time() - started, 1),
            "command": " ".join(["python -m bench.quality", *sys.argv[1:]]),
            "machine": machine(),
            "threads": threads,
        },
    }
    analyse(document)
    return document


def analyse(document: dict, min_quality: float | None = None) -> None:
    """Adds "summary" to every run and "quality_vs_failure" (per design) to every configuration."""
    protocol = document["protocol"]
    if min_quality is not None:
        protocol["min_quality"] = min_quality
    threshold, q = protocol["threshold"], protocol["min_quality"]
    identities = np.array(protocol["identities"], object)
    same = identities[:, None] == identities[None, :]
    for config in document["configs"].values():
        clean = config["runs"]["clean"]["faces"]
        for run in config["runs"].values():
            run["summary"] = summarize(run["faces"], clean, same, threshold, q)
        degraded = [run["faces"] for label, run in config["runs"].items() if label != "clean"]
        config["quality_vs_failure"] = {
            design: quality_vs_failure(degraded, clean, same, threshold, design) if degraded else None
            for design in DESIGNS
        }
        runs = {label: run["faces"] for label, run in config["runs"].items()}
        config["filter_sweep"] = filter_sweep(runs, clean, same, threshold, protocol["labelled"])
    # The least filtering that keeps every kind of every configuration, in both designs, within
    # the goal's FAR: docs/quality.md says why MIN_QUALITY is this value.
    worst = [
        max(c["filter_sweep"][i][d]["far_max"] for c in document["configs"].values() for d in DESIGNS)
        for i in range(len(SWEEP))
    ]
    protocol["least_min_quality_within_far_goal"] = next(
        (q for q, far in zip(SWEEP, worst, strict=True) if far <= GOAL_FAR), None
    )


def machine() -> str:
    import os

    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}"


# ---- the report ----


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _rate(entry: dict) -> str:
    return f"{_pct(entry['tar'])} / {_pct(entry['far'])} ({entry['false_accepts']})"


def markdown(document: dict) -> str:
    protocol, run = document["protocol"], document["run"]
    configs = document["configs"]
    q = protocol["min_quality"]
    n = len(protocol["identities"])
    clean = next(iter(configs.values()))["runs"]["clean"]["summary"]
    lines = [
        f"Run: `{run['command']}` on {run['date']}, {run['seconds'] / 60:.0f} min on {run['machine']}, "
        f"{run['threads']} onnxruntime thread(s). Photos: {protocol['labelled']} labelled "
        f"({protocol['labelled_identities']} identities) "
        f"and {n - protocol['labelled']} impostor crops. Pairs per kind: clean gallery "
        f"{clean['clean-gallery']['all']['same_pairs']} same, "
        f"{clean['clean-gallery']['all']['different_pairs']} different; "
        f"both degraded {clean['both-degraded']['all']['same_pairs']} same, "
        f"{clean['both-degraded']['all']['different_pairs']} different. Threshold cosine {protocol['threshold']}; "
        f"filtered: faces with quality below {q} dropped on both sides.",
        "",
        "Cells are TAR / FAR in % at the threshold, (false accepts); TAR@1% is the TAR at FAR <= 1%. "
        f"A photo without a face makes its pairs rejected. Detected and kept: of all {n} photos "
        "(labelled and crops), the largest face found / at or above q.",
        "",
    ]
    labels = list(dict.fromkeys(label for config in configs.values() for label in config["runs"]))
    lines += [
        "#### Summary: clean gallery, TAR / FAR in % at the threshold (goal: TAR >= 90, FAR <= 1)",
        "",
        "| kind | " + " | ".join(configs) + " |",
        "|---|" + "---|" * len(configs),
    ]
    for label in labels:
        cells = []
        for config in configs.values():
            entry = config["runs"].get(label)
            if entry is None:
                cells.append("—")
                continue
            s = entry["summary"]
            a = s["clean-gallery"]["all"]
            mark = "" if s["goal_met"] else (" (met at FAR 1%)" if s["goal_met_at_far"] else " **missed**")
            cells.append(f"{_pct(a['tar'])} / {_pct(a['far'])}{mark}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    for name, config in configs.items():
        lines += [
            f"#### {name}",
            "",
            "| kind | detected | median quality | clean gallery: TAR / FAR | TAR@1% "
            f"| kept at q ≥ {q} | filtered TAR / FAR | both degraded: TAR / FAR | TAR@1% | filtered TAR / FAR | goal |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for label, entry in config["runs"].items():
            s = entry["summary"]
            gallery, both = s["clean-gallery"], s["both-degraded"]
            goal = "met" if s["goal_met"] else ("missed (met at FAR 1%)" if s["goal_met_at_far"] else "**missed**")
            quality = "—" if s["quality_median"] is None else f"{s['quality_median']:.2f}"
            lines.append(
                f"| {label} | {_pct(s['detection_rate'])} | {quality} | {_rate(gallery['all'])} "
                f"| {_pct(gallery['all']['tar_at_far'])} | {_pct(s['kept_rate'])} | {_rate(gallery['filtered'])} "
                f"| {_rate(both['all'])} | {_pct(both['all']['tar_at_far'])} | {_rate(both['filtered'])} | {goal} |"
            )
        lines.append("")
    lines += [
        "#### Quality against failure (every degraded kind pooled; pairs whose two photos have a face)",
        "",
        "| configuration | design | AUC: low quality predicts a failed same pair | same pairs failed "
        "| false accepts | median quality of false accepts |",
        "|---|---|---|---|---|---|",
    ]
    for name, config in configs.items():
        for design, v in config["quality_vs_failure"].items():
            if v is None:
                continue
            auc = "—" if v["auc_quality_predicts_failure"] is None else f"{v['auc_quality_predicts_failure']:.3f}"
            median = "—" if v["false_accept_quality_median"] is None else f"{v['false_accept_quality_median']:.2f}"
            lines.append(
                f"| {name} | {design} | {auc} | {v['same_failed']} of {v['same_pairs']} "
                f"| {v['false_accepts']} of {v['different_pairs']} | {median} |"
            )
    for design in DESIGNS:
        lines += ["", f"By the pair's quality, {design} (same pairs failed; false accepts / different pairs):", ""]
        lines += ["| pair quality | " + " | ".join(configs) + " |", "|---|" + "---|" * len(configs)]
        for b, (low, high) in enumerate(itertools.pairwise(QUALITY_BINS)):
            cells = []
            for config in configs.values():
                v = config["quality_vs_failure"][design]
                e = v["bins"][b] if v else None
                cells.append(
                    "—"
                    if e is None
                    else f"{e['same_failed']}/{e['same_pairs']}; {e['false_accepts']}/{e['different_pairs']}"
                )
            lines.append(f"| {low:.1f}-{min(high, 1.0):.1f} | " + " | ".join(cells) + " |")
    rule = protocol.get("least_min_quality_within_far_goal")
    lines += [
        "",
        "#### Filtering by quality: the sweep",
        "",
        "Faces below q dropped on both sides. FA: false accepts over every degraded kind (of their "
        "different pairs); TAR: the mean over the degraded kinds; max FAR: the highest of any kind, "
        f"clean included. The least q that keeps every kind of every configuration within FAR "
        f"{GOAL_FAR:.0%} in both designs: {rule}.",
        "",
        "| configuration | q | clean labelled kept | clean gallery: FA | TAR | max FAR "
        "| both degraded: FA | TAR | max FAR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    shown = sorted({0.0, 0.1, 0.3, 0.5, q} | ({rule} if rule is not None else set()))
    for name, config in configs.items():
        for entry in config["filter_sweep"]:
            if entry["min_quality"] not in shown:
                continue
            cg, bd = entry["clean-gallery"], entry["both-degraded"]
            lines.append(
                f"| {name} | {entry['min_quality']:.2f} | {_pct(entry['labelled_clean_kept'])} "
                f"| {cg['false_accepts']} of {cg['different_pairs']} | {_pct(cg['tar_mean'])} | {_pct(cg['far_max'])} "
                f"| {bd['false_accepts']} of {bd['different_pairs']} | {_pct(bd['tar_mean'])} | {_pct(bd['far_max'])} |"
            )
    return "\n".join(lines) + "\n"


START, END = "<!-- bench/quality.py results: start -->", "<!-- bench/quality.py results: end -->"


def write_doc(path: Path, table: str) -> None:
    """Replaces what lies between the START and END markers of the doc with the tables."""
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{path}: no {START} ... {END} markers to write the results between")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}{END}{tail}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"kinds {', '.join(QUICK_KINDS)}; YuNet alone".replace("%", "%%")
    )
    parser.add_argument("--kinds", help="comma-separated kind names (default: all; clean always runs)")
    parser.add_argument("--configs", help=f"comma-separated, of {', '.join(c.name for c in CONFIGS)}")
    parser.add_argument("--photos", type=Path, default=SHARED_FACES, help="a labelled set (default: %(default)s)")
    parser.add_argument("--impostors", help="comma-separated photos whose faces join as impostors, or 'none'")
    parser.add_argument("--min-quality", type=float, default=MIN_QUALITY)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="where the raw JSON goes (default: bench/results/quality-*.json)")
    parser.add_argument("--from-json", type=Path, help="summarize an earlier run's JSON, running no model")
    parser.add_argument("--doc", type=Path, help="rewrite the results section of this markdown file")
    args = parser.parse_args(argv)

    if args.from_json:
        document = json.loads(args.from_json.read_text(encoding="utf-8"))
        analyse(document, args.min_quality)
    else:
        by_name = {k.name: k for k in KINDS}
        names = args.kinds.split(",") if args.kinds else (list(QUICK_KINDS) if args.quick else list(by_name))
        unknown = [n for n in names if n not in by_name]
        if unknown:
            parser.error(f"unknown kinds {unknown}; known: {', '.join(by_name)}")
        wanted = args.configs.split(",") if args.configs else (["yunet"] if args.quick else [c.name for c in CONFIGS])
        configs = [c for c in CONFIGS if c.name in wanted]
        if len(configs) != len(wanted):
            parser.error(f"unknown configurations in {wanted}; known: {', '.join(c.name for c in CONFIGS)}")
        impostors = None
        if args.impostors:
            impostors = [] if args.impostors == "none" else [Path(p) for p in args.impostors.split(",")]
        document = run_protocol(
            args.photos,
            impostors,
            [by_name[n] for n in names],
            configs,
            args.min_quality,
            args.threads,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
        target = args.json or RESULTS / f"quality-{'quick-' if args.quick else ''}{time.strftime('%Y%m%d-%H%M%S')}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document), encoding="utf-8")
        print(f"raw results: {target}", file=sys.stderr)
    table = markdown(document)
    print(table)
    if args.doc:
        write_doc(args.doc, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
