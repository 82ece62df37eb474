"""Photos -> faces -> embeddings, independent of HTTP and of the inference backend.

Per call, one image at a time: decode (limits, EXIF), detect on a <= max_side copy, and align every
face from the full-resolution image with facev3.native.align_faces (RGB crops, as SFace expects)
straight into the backend's crop stage, which is embedded whenever it is full (crop_batches).
"""

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from facev3.core import detection
from facev3.core.crop_batches import CropBatches, Embedded
from facev3.core.errors import DeadlineExceeded, FaceError, TooManyFaces, TooManyFacesInCall
from facev3.core.imaging import DecodeLimits, decode_image
from facev3.core.ports import InferenceBackend
from facev3.core.quality import quality
from facev3.core.types import Detections, Face, ImageResult, StageTimes


@dataclass(frozen=True)
class PipelineSettings:
    max_side: int = 640
    limits: DecodeLimits = DecodeLimits()
    # Work bounds: faces beyond them are refused, not silently dropped (a request may ask for the
    # largest with max_faces).
    max_faces_per_image: int = 100
    max_faces_per_call: int = 512


Rotations = Literal["none", "fallback", "auto"]
ROTATIONS = get_args(Rotations)


@dataclass(frozen=True)
class EmbedOptions:
    """Per-call choices; det_threshold None means the detector's own default. rotations: "fallback"
    detects again on the photo turned by 90, 180 and 270 degrees when the upright pass finds no
    face scoring the detector's upright_score (free on photos with a clear upright face), "auto"
    always does, "none" never does."""

    det_threshold: float | None = None
    min_face_size: float = 0.0
    max_faces: int | None = None
    min_quality: float = 0.0
    rotations: Rotations = "fallback"
    normalize: bool = True
    return_aligned: bool = False
    mirror: bool = False
    dedupe: bool = False


@dataclass
class _Found:
    index: int
    width: int
    height: int
    detections: Detections


class Pipeline:
    def __init__(self, backend: InferenceBackend, settings: PipelineSettings = PipelineSettings()) -> None:
        self.backend = backend
        self.settings = settings

    def run(
        self, images: Sequence[bytes], options: EmbedOptions = EmbedOptions(), deadline: float | None = None
    ) -> tuple[list[ImageResult], StageTimes]:
        """One result per image, in order, and the time spent per stage. `deadline` (a
        time.monotonic() reading) is checked before each image: past it, DeadlineExceeded."""
        times = StageTimes()
        results: list[ImageResult | None] = [None] * len(images)
        found: list[_Found] = []
        first_seen: dict[bytes, int] = {}
        with CropBatches(
            self.backend, mirror=options.mirror, keep_aligned=options.return_aligned, times=times
        ) as batches:
            for index, data in enumerate(images):
                if index:
                    batches.next_image()
                if deadline is not None and time.monotonic() > deadline:
                    raise DeadlineExceeded(f"the call ran past its deadline after {index} of {len(images)} images")
                if options.dedupe:
                    digest = hashlib.sha256(data).digest()
                    if digest in first_seen:
                        results[index] = ImageResult(index, duplicate_of=first_seen[digest])
                        continue
                    first_seen[digest] = index
                try:
                    found.append(self._find_faces(index, data, options, times, batches))
                except FaceError as error:
                    results[index] = ImageResult(index, error=error)
            embedded = batches.finish()

        start = 0
        for f in found:
            faces = slice(start, start + len(f.detections))
            start = faces.stop
            results[f.index] = ImageResult(f.index, f.width, f.height, self._faces(f, embedded, faces, options))
        for index, result in enumerate(results):
            if result is not None and result.duplicate_of is not None:
                original = results[result.duplicate_of]
                results[index] = ImageResult(
                    index, original.width, original.height, original.faces, original.error, result.duplicate_of
                )
        return results, times

    def _find_faces(
        self, index: int, data: bytes, options: EmbedOptions, times: StageTimes, batches: CropBatches
    ) -> _Found:
        t = time.perf_counter()
        image = decode_image(data, self.settings.limits)
        t = times.add("decode", t)
        found = self._detect(image, options)
        found = found.take(_selected(found, options.min_face_size, options.max_faces))
        times.add("detect", t)
        limit = self.settings.max_faces_per_image
        if len(found) > limit:
            raise TooManyFaces(
                f"{len(found)} faces found; one image may give {limit}: ask for the largest with "
                "max_faces, or raise det_threshold or min_face_size"
            )
        if batches.count + len(found) > self.settings.max_faces_per_call:
            raise TooManyFacesInCall(
                f"more than {self.settings.max_faces_per_call} faces in one call: send fewer "
                "images per call, or limit faces with max_faces"
            )
        batches.add(image, found.landmarks)
        return _Found(index, image.shape[1], image.shape[0], found)

    def _detect(self, image: np.ndarray, options: EmbedOptions) -> Detections:
        """Faces of the image upright, and on the image turned by quarter turns as options.rotations
        asks. The turns' faces are merged by NMS in the image's own coordinates, so each face keeps
        the turn that scores it best: the upright one (a detector also finds some faces upside down
        or on their side, with lower scores and landmarks that would align them wrongly)."""
        detector = self.backend.detector
        threshold = detector.score_threshold if options.det_threshold is None else options.det_threshold

        def detect(turns: int) -> Detections:
            turned = np.ascontiguousarray(np.rot90(image, turns)) if turns else image
            found = self.backend.detect(turned, self.settings.max_side, threshold, detector.nms_threshold)
            return detection.unrotate(found, turns, *image.shape[:2])

        found = [detect(0)]
        unsure = not len(found[0]) or float(found[0].scores.max()) < detector.upright_score
        if options.rotations == "auto" or (options.rotations == "fallback" and unsure):
            found += [detect(turns) for turns in (1, 2, 3)]
        if len(found) == 1:
            return found[0]
        merged = Detections(
            *(np.concatenate([getattr(f, name) for f in found]) for name in ("boxes", "scores", "landmarks"))
        )
        return merged.take(detection.nms(merged.boxes, merged.scores, detector.nms_threshold, len(merged)))

    def _faces(self, found: _Found, embedded: Embedded, rows: slice, options: EmbedOptions) -> tuple[Face, ...]:
        raw = embedded.embeddings[rows]
        norms = np.linalg.norm(raw, axis=1)
        vectors = raw / norms[:, None] if options.normalize else raw
        d = found.detections
        faces = []
        for i in range(len(d)):
            face_quality = quality(
                d.boxes[i],
                d.landmarks[i],
                float(d.scores[i]),
                float(embedded.sharpness[rows][i]),
                float(norms[i]),
                self.backend.embedder,
            )
            if face_quality.score < options.min_quality:
                continue
            crop = embedded.aligned[rows][i] if embedded.aligned is not None else None
            faces.append(
                Face(d.boxes[i], float(d.scores[i]), d.landmarks[i], vectors[i], float(norms[i]), crop, face_quality)
            )
        return tuple(faces)


def _selected(found: Detections, min_face_size: float, max_faces: int | None) -> np.ndarray:
    """Faces whose box is at least min_face_size on its shorter side; the largest max_faces of
    them, kept in score order."""
    sides = np.minimum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
    keep = np.flatnonzero(sides >= min_face_size)
    if max_faces is not None and len(keep) > max_faces:
        areas = (found.boxes[keep, 2] - found.boxes[keep, 0]) * (found.boxes[keep, 3] - found.boxes[keep, 1])
        keep = np.sort(keep[np.argsort(-areas, kind="stable")[:max_faces]])
    return keep
