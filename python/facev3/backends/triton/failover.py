"""Several Triton servers behind the inference port (TRITON_URL=host1:8001,host2:8001).

Requests are spread over the servers that answer (round robin). A server that fails a request is
skipped from then on, after that one failed try, and the request is retried on the next server:
a detection is sent again, and an embedding's crops are copied into the next server's stage. A
watcher thread asks every skipped server for readiness once a second and brings it back when it
answers (a server that was down at start-up joins the same way). Shared memory is used only with
servers on this host; the others get plain gRPC. All servers must run the same models.
"""

import itertools
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np

from facev3.backends.triton.backend import TritonBackend
from facev3.backends.triton.shm import ShmKind
from facev3.core.errors import BackendUnavailable
from facev3.core.models import DetectorSpec, EmbedderSpec
from facev3.core.ports import CropStage, embed_crops
from facev3.core.types import Detections
from facev3.models.manifest import Manifest, Role, first_difference

REVIVE_EVERY_S = 1.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def on_this_host(url: str) -> bool:
    host = url.rsplit(":", 1)[0].strip("[]")
    return host in LOOPBACK or host in {socket.gethostname(), socket.getfqdn()}


@dataclass
class Member:
    url: str
    shm: ShmKind
    backend: TritonBackend | None = None  # None until it has answered once
    up: bool = False


class TritonFailover:
    name = "triton"

    def __init__(self, urls: list[str], *, shm: ShmKind, timeout_s: float, slots: int) -> None:
        self._timeout_s, self._slots = timeout_s, slots
        self._members = [Member(url, shm if on_this_host(url) else "none") for url in urls]
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._local_manifests: dict[Role, Manifest] = {}
        errors = [error for member in self._members if (error := self._connect(member))]
        if len(errors) == len(self._members):
            raise BackendUnavailable("no Triton server answered: " + "; ".join(errors))
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="facev3-triton-watcher", daemon=True)
        self._watcher.start()

    # ---- which servers answer ------------------------------------------------------------------

    def _connect(self, member: Member) -> str | None:
        """Connects a member that has never answered; the error when it still does not."""
        try:
            backend = TritonBackend(member.url, shm=member.shm, timeout_s=self._timeout_s, slots=self._slots)
        except BackendUnavailable as error:
            return error.message
        reference = next((m.backend for m in self._members if m.backend is not None), None)
        for role in ("detector", "embedder"):
            if reference is not None and (field := first_difference(reference.manifest(role), backend.manifest(role))):
                backend.close()
                return f"Triton at {member.url} runs another {role} than {reference.manifest(role).tag} ({field})"
            if role in self._local_manifests:
                backend.use_manifest(self._local_manifests[role])
        member.backend, member.up = backend, True
        return None

    def _watch(self) -> None:
        while not self._stop.wait(REVIVE_EVERY_S):
            for member in self._members:
                if member.up:
                    continue
                if member.backend is None:
                    self._connect(member)
                elif member.backend.ready():
                    member.up = True

    def _order(self) -> list[Member]:
        """The servers that answer, starting with the next in turn."""
        with self._lock:
            start = next(self._turn)
        up = [m for m in self._members if m.up]
        return up[start % len(up) :] + up[: start % len(up)] if up else []

    def _first(self, call: Callable[[Member], object]):
        """call(member) on the servers in turn until one answers."""
        failures = []
        for member in self._order():
            try:
                return call(member)
            except BackendUnavailable as error:
                member.up = False
                failures.append(f"{member.url}: {error.message}")
        raise BackendUnavailable("no Triton server answered" + (": " + "; ".join(failures) if failures else ""))

    # ---- the inference port ----------------------------------------------------------------------

    @property
    def _reference(self) -> TritonBackend:
        return next(m.backend for m in self._members if m.backend is not None)

    @property
    def detector(self) -> DetectorSpec:
        return self._reference.detector

    @property
    def embedder(self) -> EmbedderSpec:
        return self._reference.embedder

    def manifest(self, role: Role) -> Manifest:
        return self._reference.manifest(role)

    def use_manifest(self, manifest: Manifest) -> None:
        self._local_manifests[manifest.role] = manifest
        for member in self._members:
            if member.backend is not None:
                member.backend.use_manifest(manifest)

    def detect(self, image_rgb: np.ndarray, max_side: int, score_threshold: float, nms_threshold: float) -> Detections:
        return self._first(lambda m: m.backend.detect(image_rgb, max_side, score_threshold, nms_threshold))

    @contextmanager
    def stage(self) -> Iterator[CropStage]:
        with ExitStack() as held:
            member, stage = self._first(lambda m: (m, held.enter_context(m.backend.stage())))

            def elsewhere(crops: np.ndarray) -> np.ndarray:
                member.up = False
                return self._first(lambda m: embed_crops(m.backend, crops))

            yield FailoverStage(stage, elsewhere)

    def ready(self) -> bool:
        return any(m.up and m.backend.ready() for m in self._members)

    def close(self) -> None:
        self._stop.set()
        self._watcher.join()
        for member in self._members:
            if member.backend is not None:
                member.backend.close()

    def state(self) -> dict[str, bool]:
        """Whether each server is in the rotation now (for metrics and tests)."""
        return {m.url: m.up for m in self._members}


class FailoverStage:
    """One server's crop stage; when that server fails the embedding, `elsewhere` embeds a copy
    of the crops on the next server that answers."""

    def __init__(self, stage: CropStage, elsewhere: Callable[[np.ndarray], np.ndarray]) -> None:
        self._stage, self._elsewhere = stage, elsewhere
        self.crops = stage.crops

    def embed(self, count: int) -> np.ndarray:
        try:
            return self._stage.embed(count)
        except BackendUnavailable:
            return self._elsewhere(self.crops[:count].copy())

    def aligned(self, count: int) -> None:
        self._stage.aligned(count)
