"""The Triton adapter of the inference port: gRPC to the face_detect and face_embed ensembles.

One gRPC channel per process (the client is thread-safe; each crop stage holds its own
shared-memory slot, so size `slots` to the requests in flight). Both ensembles' configs are read
once at start-up: the tensors this client uses are checked, and the manifests of the models they
run (their MANIFEST parameters) and the max batch are kept. A stage holds the ensemble's
max_batch_size crops of the embedder's crop size. TRITON_SHM:
  system  the stage is a registered POSIX shared-memory region: faces are aligned straight into
          it, and embeddings are read from another region (bench/bench_triton.py measures the
          transport against plain gRPC);
  cuda    the same with CUDA shared memory (GPU servers; needs tritonclient[cuda]);
  none    plain gRPC tensors.
Every failure to reach Triton or a model becomes BackendUnavailable; after a server restart the
regions are registered again on the next call, so the service recovers without a restart.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import numpy as np

from facev3.backends.triton.shm import SHM_KINDS, ShmPool, Slot
from facev3.core.errors import BackendUnavailable
from facev3.core.models import DetectorSpec, EmbedderSpec
from facev3.core.ports import ArrayStage, CropStage
from facev3.core.types import Detections
from facev3.models.manifest import Manifest, Role, manifest_from_dict

# gRPC backs off up to 2 minutes between reconnects to a dead server, and a call made while the
# channel waits fails at once. Reconnects are capped at 1 s and UNAVAILABLE is retried (the request
# never reached Triton), so the first request after Triton comes back succeeds.
RECONNECT = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 1),
    (
        "grpc.service_config",
        json.dumps(
            {
                "methodConfig": [
                    {
                        "name": [{"service": "inference.GRPCInferenceService"}],
                        "retryPolicy": {
                            "maxAttempts": 5,
                            "initialBackoff": "0.1s",
                            "maxBackoff": "1s",
                            "backoffMultiplier": 2,
                            "retryableStatusCodes": ["UNAVAILABLE"],
                        },
                    }
                ]
            }
        ),
    ),
)


# (inputs, outputs) this client sends and reads.
DETECT_TENSORS = ({"IMAGE", "MAX_SIDE", "SCORE_THRESHOLD", "NMS_THRESHOLD"}, {"BOXES", "SCORES", "LANDMARKS"})
EMBED_TENSORS = ({"CROPS"}, {"EMBEDDING"})


class TritonBackend:
    name = "triton"

    def __init__(
        self,
        url: str,
        *,
        shm: str = "system",
        timeout_s: float = 10.0,
        slots: int = 4,
        detect_model: str = "face_detect",
        embed_model: str = "face_embed",
    ) -> None:
        import tritonclient.grpc as grpcclient

        if shm not in SHM_KINDS:
            raise ValueError(f"TRITON_SHM must be one of {', '.join(SHM_KINDS)}, got {shm!r}")
        self.timeout_s = timeout_s
        self._grpc = grpcclient
        keepalive = grpcclient.KeepAliveOptions()
        self._client = grpcclient.InferenceServerClient(
            url,
            channel_args=[
                ("grpc.max_send_message_length", grpcclient.MAX_GRPC_MESSAGE_SIZE),
                ("grpc.max_receive_message_length", grpcclient.MAX_GRPC_MESSAGE_SIZE),
                ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
                ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
                *RECONNECT,
            ],
        )
        self._detect_model, self._embed_model = detect_model, embed_model
        try:
            detect_config, _ = self._tensors(url, detect_model, DETECT_TENSORS)
            config, outputs = self._tensors(url, embed_model, EMBED_TENSORS)
            # The models that actually run, as the ensembles' configs describe them.
            self._manifests = {"detector": _manifest(detect_config), "embedder": _manifest(config)}
            self.max_batch = int(config["max_batch_size"])
            served = (tuple(int(d) for d in _inputs(config)["CROPS"]["dims"]), int(outputs["EMBEDDING"]["dims"][-1]))
            described = (self.embedder.alignment.shape, self.embedder.embedding_size)
            if served != described:
                raise BackendUnavailable(
                    f"Triton model {embed_model!r} takes crops of {served[0]} and gives {served[1]} values, but "
                    f"its manifest says {described[0]} and {described[1]}"
                )
        except BackendUnavailable:
            self._client.close()
            raise
        self._pool = None
        if shm != "none":
            # Sized from the embedder's crops and embedding size and the ensemble's max batch.
            output_bytes = self.max_batch * self.embedder.embedding_size * 4
            input_shape = (self.max_batch, *self.embedder.alignment.shape)
            self._pool = ShmPool(self._client, shm, slots, input_shape, np.uint8, output_bytes)

    @property
    def detector(self) -> DetectorSpec:
        return self._manifests["detector"].spec

    @property
    def embedder(self) -> EmbedderSpec:
        return self._manifests["embedder"].spec

    def manifest(self, role: Role) -> Manifest:
        """The manifest Triton's repository was generated from."""
        return self._manifests[role]

    def use_manifest(self, manifest: Manifest) -> None:
        """Takes a local copy of the manifest of a model Triton runs (the caller has checked that it
        is the same model; its calibration may be newer)."""
        self._manifests[manifest.role] = manifest

    def _tensors(self, url: str, model: str, expected: tuple[set[str], set[str]]) -> tuple[dict, dict]:
        """The model's config and its outputs by name, read once; a model that lacks a
        tensor this client uses stops the start-up, naming it, rather than failing every call."""
        try:
            config = self._client.get_model_config(model, as_json=True, client_timeout=self.timeout_s)["config"]
        except Exception as error:
            raise BackendUnavailable(f"Triton at {url} has no ready model {model!r}: {error}") from None
        inputs = _inputs(config)
        outputs = {t["name"]: t for t in config.get("output", [])}
        missing = sorted(expected[0] - set(inputs)) + sorted(expected[1] - set(outputs))
        if missing:
            raise BackendUnavailable(f"Triton model {model!r} lacks the tensors this client uses: {', '.join(missing)}")
        return config, outputs

    def ready(self) -> bool:
        try:
            return all(
                self._client.is_model_ready(m, client_timeout=self.timeout_s)
                for m in (self._detect_model, self._embed_model)
            )
        except Exception:
            return False

    def detect(self, image_rgb: np.ndarray, max_side: int, score_threshold: float, nms_threshold: float) -> Detections:
        feeds = {
            "IMAGE": np.ascontiguousarray(image_rgb, np.uint8),
            "MAX_SIDE": np.array([max_side], np.int32),
            "SCORE_THRESHOLD": np.array([score_threshold], np.float32),
            "NMS_THRESHOLD": np.array([nms_threshold], np.float32),
        }
        inputs = []
        for name, value in feeds.items():
            tensor = self._grpc.InferInput(name, list(value.shape), _triton_dtype(value))
            tensor.set_data_from_numpy(value)
            inputs.append(tensor)
        outputs = [self._grpc.InferRequestedOutput(n) for n in ("BOXES", "SCORES", "LANDMARKS")]
        result = self._infer(self._detect_model, inputs, outputs)
        return Detections(
            result.as_numpy("BOXES").reshape(-1, 4),
            result.as_numpy("SCORES").reshape(-1),
            result.as_numpy("LANDMARKS").reshape(-1, 5, 2),
        )

    @contextmanager
    def stage(self) -> Iterator[CropStage]:
        if self._pool is None:
            yield ArrayStage(self._embed_plain, np.empty((self.max_batch, *self.embedder.alignment.shape), np.uint8))
            return
        with self._pool.acquire(self.timeout_s) as slot:
            yield ArrayStage(partial(self._embed_in_slot, slot), slot.input)

    def _embed_plain(self, crops: np.ndarray) -> np.ndarray:
        tensor = self._grpc.InferInput("CROPS", list(crops.shape), "UINT8")
        tensor.set_data_from_numpy(np.ascontiguousarray(crops))
        result = self._infer(self._embed_model, [tensor], [self._grpc.InferRequestedOutput("EMBEDDING")])
        return result.as_numpy("EMBEDDING")

    def _embed_in_slot(self, slot: Slot, crops: np.ndarray) -> np.ndarray:
        """crops is slot.input[:n]: the faces are already in the region."""
        try:
            return self._infer_in_slot(slot, len(crops))
        except BackendUnavailable as error:
            # A server restarted since our last call has forgotten the regions: register them
            # again and retry once (other failures are not retried).
            if "shared memory region" not in error.message:
                raise
            self._pool.register()  # _infer has marked the pool stale
            return self._infer_in_slot(slot, len(crops))

    def _infer_in_slot(self, slot: Slot, n: int) -> np.ndarray:
        slot.upload(n)
        shape = self.embedder.alignment.shape
        tensor = self._grpc.InferInput("CROPS", [n, *shape], "UINT8")
        tensor.set_shared_memory(slot.input_name, n * int(np.prod(shape)))
        output = self._grpc.InferRequestedOutput("EMBEDDING")
        size = self.embedder.embedding_size
        output.set_shared_memory(slot.output_name, n * size * 4)
        self._infer(self._embed_model, [tensor], [output])
        return slot.read_output((n, size), np.float32)

    def _infer(self, model: str, inputs: list, outputs: list):
        from tritonclient.utils import InferenceServerException

        try:
            return self._client.infer(model, inputs, outputs=outputs, client_timeout=self.timeout_s)
        except InferenceServerException as error:
            if self._pool is not None:
                self._pool.mark_stale()  # a restarted server has forgotten our regions
            raise BackendUnavailable(f"Triton model {model!r} failed: {error.message() or error}") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close(self.timeout_s)
            self._pool = None
        self._client.close()


def _inputs(config: dict) -> dict[str, dict]:
    return {t["name"]: t for t in config.get("input", [])}


def _manifest(config: dict) -> Manifest:
    """The manifest of the model an ensemble runs, from its MANIFEST parameter (JSON, written by
    facev3.tritonserver.repository); a config without it stops the start, naming it."""
    name = config.get("name")
    text = config.get("parameters", {}).get("MANIFEST", {}).get("string_value")
    if not text:
        raise BackendUnavailable(
            f"Triton model {name!r} has no MANIFEST parameter: generate the repository with `facev3 triton repo`"
        )
    return manifest_from_dict(json.loads(text), origin=f"Triton model {name!r}")


def _triton_dtype(value: np.ndarray) -> str:
    from tritonclient.utils import np_to_triton_dtype

    return np_to_triton_dtype(value.dtype)
