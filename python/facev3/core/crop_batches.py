"""Aligned faces straight into the backend's crop stage, embedded one stage-full at a time.

Faces are aligned from each full-resolution image as soon as it has been detected, into the next
free slots of the stage, so a request holds one decoded image at a time; with Triton's system
shared memory the stage is the registered input region, so the crops are never copied on their
way to the server. A full stage is embedded and released at once; the last, partial one on
`finish()`. Before each further image the stage hears which crops are final, so a backend with a
core to spare embeds them while that image is decoded and detected.
"""

import time
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from facev3 import native
from facev3.core import quality
from facev3.core.alignment import align
from facev3.core.ports import CropStage, InferenceBackend
from facev3.core.types import StageTimes


@dataclass(frozen=True)
class Embedded:
    embeddings: np.ndarray  # (n, D) float32, raw
    sharpness: np.ndarray  # (n,) relative sharpness of each aligned crop (facev3.core.quality)
    aligned: np.ndarray | None  # (n, h, w, 3) uint8 RGB, when kept


class CropBatches:
    def __init__(self, backend: InferenceBackend, *, mirror: bool, keep_aligned: bool, times: StageTimes) -> None:
        self._backend = backend
        self._mirror, self._keep_aligned = mirror, keep_aligned
        self._times = times
        self._held = ExitStack()
        self._stage: CropStage | None = None
        self._count = 0  # faces in the current stage
        self.count = 0  # faces added in all
        self._embeddings: list[np.ndarray] = []
        self._aligned: list[np.ndarray] = []
        self._sharpness: list[np.ndarray] = []

    def __enter__(self) -> "CropBatches":
        return self

    def __exit__(self, *exc_info) -> None:
        self._held.close()  # an error mid-request still gives the stage back

    def add(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        """Aligns the faces of one (h, w, 3) uint8 RGB image given their (n, 5, 2) landmarks."""
        landmarks = np.ascontiguousarray(landmarks, np.float32)
        self.count += len(landmarks)
        done = 0
        while done < len(landmarks):
            if self._stage is None:
                self._stage = self._held.enter_context(self._backend.stage())
            take = min(len(landmarks) - done, len(self._stage.crops) - self._count)
            t = time.perf_counter()
            crops = self._stage.crops[self._count : self._count + take]
            align(image, landmarks[done : done + take], self._backend.embedder.alignment, crops)
            self._times.add("align", t)
            self._count += take
            done += take
            if self._count == len(self._stage.crops):
                self._embed_stage()

    def next_image(self) -> None:
        """Another image is coming: the faces aligned so far may be embedded while it is detected."""
        if self._stage is not None:
            self._stage.aligned(self._count)

    def finish(self) -> Embedded:
        """Every face added, in order: raw embeddings, crop sharpness, and the crops when asked for."""
        self._embed_stage()
        size = self._backend.embedder.embedding_size
        embeddings = np.concatenate(self._embeddings) if self._embeddings else np.zeros((0, size), np.float32)
        sharpness = np.concatenate(self._sharpness) if self._sharpness else np.zeros(0, np.float32)
        aligned = None
        if self._keep_aligned:
            aligned = (
                np.concatenate(self._aligned)
                if self._aligned
                else np.zeros((0, *self._backend.embedder.alignment.shape), np.uint8)
            )
        return Embedded(embeddings, sharpness, aligned)

    def _embed_stage(self) -> None:
        if self._stage is None:
            return
        t = time.perf_counter()
        crops = self._stage.crops[: self._count]
        self._sharpness.append(quality.sharpness(crops))
        if self._keep_aligned:
            self._aligned.append(crops.copy())  # the stage is reused by the next request
        raw = self._stage.embed(self._count)
        if self._mirror:
            # Flip fusion: mean of the unit embeddings of each face and its mirror, kept at the
            # original's scale so that `norm` still reads as the model's confidence. The mirror
            # images are written over the originals in the stage.
            crops[:] = crops[:, :, ::-1]
            flipped = self._stage.embed(self._count)
            fused = native.merge_embeddings(np.stack([raw, flipped], axis=1), renormalize=True)
            raw = fused * np.linalg.norm(raw, axis=1, keepdims=True)
        self._embeddings.append(raw.astype(np.float32, copy=False))
        self._held.close()
        self._stage, self._count = None, 0
        self._times.add("embed", t)
