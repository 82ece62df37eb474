"""Photos -> faces -> embeddings, independent of HTTP and of the inference backend.

Per call, one image at a time: decode (limits, EXIF), detect on a <= max_side copy, and align every
face from the full-resolution image with facev3.native.align_faces (RGB crops, as SFace expects)
straight into the backend's crop stage, which is embedded whenever it is full (crop_batches).
"""

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facev3.core.crop_batches import CropBatches
from facev3.core.errors import DeadlineExceeded, FaceError, TooManyFaces, TooManyFacesInCall
from facev3.core.imaging import DecodeLimits, decode_image
from facev3.core.ports import InferenceBackend
from facev3.core.types import Detections, Face, ImageResult, StageTimes


@dataclass(frozen=True)
class PipelineSettings:
    max_side: int = 640
    limits: DecodeLimits = DecodeLimits()
    # Work bounds: faces beyond them are refused, not silently dropped (a request may ask for the
    # largest with max_faces).
    max_faces_per_image: int = 100
    max_faces_per_call: int = 512


@dataclass(frozen=True)
class EmbedOptions:
    """Per-call choices; det_threshold None means the detector's own default."""

    det_threshold: float | None = None
    min_face_size: float = 0.0
    max_faces: int | None = None
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
            embeddings, aligned = batches.finish()

        start = 0
        for f in found:
            faces = slice(start, start + len(f.detections))
            start = faces.stop
            crops = aligned[faces] if aligned is not None else None
            results[f.index] = ImageResult(
                f.index, f.width, f.height, self._faces(f, embeddings[faces], crops, options)
            )
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
        threshold = options.det_threshold
        if threshold is None:
            threshold = self.backend.detector.score_threshold
        found = self.backend.detect(image, self.settings.max_side, threshold, self.backend.detector.nms_threshold)
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

    def _faces(
        self, found: _Found, raw: np.ndarray, crops: np.ndarray | None, options: EmbedOptions
    ) -> tuple[Face, ...]:
        norms = np.linalg.norm(raw, axis=1)
        vectors = raw / norms[:, None] if options.normalize else raw
        d = found.detections
        return tuple(
            Face(
                d.boxes[i],
                float(d.scores[i]),
                d.landmarks[i],
                vectors[i],
                float(norms[i]),
                crops[i] if crops is not None else None,
            )
            for i in range(len(d))
        )


def _selected(found: Detections, min_face_size: float, max_faces: int | None) -> np.ndarray:
    """Faces whose box is at least min_face_size on its shorter side; the largest max_faces of
    them, kept in score order."""
    sides = np.minimum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
    keep = np.flatnonzero(sides >= min_face_size)
    if max_faces is not None and len(keep) > max_faces:
        areas = (found.boxes[keep, 2] - found.boxes[keep, 0]) * (found.boxes[keep, 3] - found.boxes[keep, 1])
        keep = np.sort(keep[np.argsort(-areas, kind="stable")[:max_faces]])
    return keep
