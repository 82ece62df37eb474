"""The client's one implementation, without I/O: each operation is a generator (a flow) that
yields what to do next (a Send, or a float: seconds to sleep), is sent back the outcome (an
httpx.Response, or the httpx.TransportError that came instead) and returns the typed result.
Client and AsyncClient only carry the steps out, blocking or awaiting, so request building,
wire negotiation, retries and response parsing exist once.

Wire formats: JSON sends vectors and images as base64 (query_b64, embedding_b64); MessagePack
sends them as binary (little-endian float32 for vectors) and is answered with binary vectors, which
costs no float parsing or printing on either side. With wire="auto" the client sends JSON and
asks `Accept: application/msgpack, application/json` until a /v1/embeddings or /v1/rerank answer
tells what the service speaks; from then on it uses MessagePack when that answer was MessagePack,
else JSON (a service that predates MessagePack answers JSON whatever it is asked). Errors are JSON
always, so they never decide.
"""

import os
import random
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Generic, Literal, TypeVar

import httpx
import numpy as np
import orjson
import ormsgpack
import pybase64

import facev3
from facev3.client.errors import (
    FaceV3Error,
    ImageError,
    ServerError,
    TransportError,
    Unavailable,
    class_for,
    parse_retry_after,
)
from facev3.client.results import EmbedResult, Face, ImageResult, Info, Match, RerankResult

T = TypeVar("T")
JSON = "application/json"
MSGPACK = "application/msgpack"
MSGPACK_TYPES = frozenset({MSGPACK, "application/x-msgpack", "application/vnd.msgpack"})
BOTH = f"{MSGPACK}, {JSON}"
Wire = Literal["auto", "json", "msgpack"]

# A photo: a path (a str is always a path), its bytes, or a file opened in binary mode.
Image = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]
Vector = np.ndarray | Sequence[float]
Id = str | int


@dataclass(frozen=True)
class Send:
    method: str
    path: str
    body: bytes | None = None
    headers: Mapping[str, str] | None = None


Step = Send | float
Outcome = httpx.Response | httpx.TransportError | None
Flow = Generator[Step, Outcome, T]


class Run(Generic[T]):
    """Steps through a flow: iterate for the steps, set `outcome` after each; `result` at the end."""

    def __init__(self, flow: Flow[T]) -> None:
        self.flow, self.outcome, self.result = flow, None, None

    def __iter__(self) -> Iterator[Step]:
        while True:
            try:
                step = self.flow.send(self.outcome)
            except StopIteration as done:
                self.result = done.value
                return
            yield step


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are tried again and after how long. Every request of this API is free of side
    effects (embeddings and reranks are computed, nothing is stored), so sending one again is
    safe even if the service saw it. Retried: 502, 503 and 504 (overloaded, backend_unavailable,
    deadline_exceeded, a proxy without upstream) and broken connections (refused, reset, closed
    early, a connect timeout). Never: any 4xx (the same request fails the same way), 500, and
    read or write timeouts (the service may still be working on it: another try doubles its
    load, and the timeout was the caller's budget).

    Delay before retry n (n = 0, 1, ...): backoff * 2**n, at least the service's Retry-After,
    stretched by up to `jitter` (a fraction) so that clients refused together do not come back
    together, and never more than max_backoff. At most `retries` retries, so retries + 1
    requests in all."""

    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.max_backoff < 0 or self.jitter < 0:
            raise ValueError("retries, backoff, max_backoff and jitter must not be negative")

    def delay(self, retry: int, error: FaceV3Error) -> float | None:
        """Seconds to wait before retry number `retry` (from 0), or None: give up and raise."""
        if retry >= self.retries or not retryable(error):
            return None
        base = max(error.retry_after or 0.0, self.backoff * 2**retry)
        return min(self.max_backoff, base * (1 + self.jitter * random.random()))


RETRIED_TRANSPORT = frozenset({"connect_error", "connect_timeout", "network_error"})


def retryable(error: FaceV3Error) -> bool:
    return isinstance(error, Unavailable) or (isinstance(error, TransportError) and error.code in RETRIED_TRANSPORT)


def transport_error(error: httpx.TransportError, attempts: int) -> TransportError:
    if isinstance(error, httpx.ConnectTimeout):
        code, what = "connect_timeout", "timed out connecting to"
    elif isinstance(error, httpx.TimeoutException):
        code, what = "timeout", "timed out waiting for"
    elif isinstance(error, httpx.ConnectError):
        code, what = "connect_error", "cannot connect to"
    elif isinstance(error, (httpx.NetworkError, httpx.RemoteProtocolError)):
        code, what = "network_error", "connection broken to"
    else:
        code, what = "transport_error", "cannot send to"
    try:
        where = f"{error.request.method} {error.request.url}"
    except RuntimeError:  # an error raised before a request was attached
        where = "the service"
    return TransportError(None, code, f"{what} {where}: {str(error) or type(error).__name__}", attempts=attempts)


def response_error(response: httpx.Response, attempts: int) -> FaceV3Error:
    """The service's {"error": {"code", "message"}}; for an answer without it (a proxy's page),
    code "http_<status>" and the start of its text."""
    status = response.status_code
    try:
        error = orjson.loads(response.content)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = f"http_{status}", response.text[:200].strip() or response.reason_phrase
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return class_for(status)(status, code, message, retry_after, attempts)


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def read_image(image: Image) -> bytes:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        return Path(image).read_bytes()
    if hasattr(image, "read"):
        data = image.read()
        if not isinstance(data, bytes):
            raise TypeError("a file-like image must be opened in binary mode ('rb')")
        return data
    raise TypeError(f"an image is a path, bytes or a binary file, not {type(image).__name__}")


def image_list(images: Image | Sequence[Image]) -> list[bytes]:
    single = isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(images, "read")
    return [read_image(image) for image in ([images] if single else images)]


def plain_id(identifier):
    """numpy integers (ids from a vector store's arrays) as Python ints, which both wires carry."""
    return identifier.item() if isinstance(identifier, np.generic) else identifier


def candidate_rows(
    candidates: Mapping[Id, Vector] | Sequence[tuple[Id, Vector]] | np.ndarray, ids: Sequence[Id] | None
) -> tuple[list[Id], np.ndarray]:
    """(ids, a C-contiguous little-endian float32 matrix) from a dict id -> vector, (id, vector)
    pairs, or a 2-D array with its `ids`. Vectors of another float type are converted."""
    if isinstance(candidates, np.ndarray) and candidates.ndim == 2:
        if ids is None:
            raise TypeError("a 2-D array of candidates needs ids=[one per row]")
        keys, rows = list(ids), candidates
    elif ids is not None:
        raise TypeError("ids= goes with a 2-D array of candidates; a dict or pairs carry their own ids")
    elif isinstance(candidates, Mapping):
        keys, rows = list(candidates), list(candidates.values())
    else:
        pairs = list(candidates)
        keys, rows = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
    if not keys:
        raise ValueError("no candidates to rerank")
    matrix = np.ascontiguousarray(rows, "<f4")
    if matrix.ndim != 2 or len(matrix) != len(keys):
        raise ValueError(f"candidates must be {len(keys)} vectors of one length, got an array of shape {matrix.shape}")
    return [plain_id(key) for key in keys], matrix


def encoder(binary: bool) -> Callable[[bytes], bytes | str]:
    """How raw bytes travel: as they are in MessagePack, as base64 text in JSON."""
    return bytes if binary else pybase64.b64encode_as_string


class Core:
    """Configuration, negotiated wire and the operations. `wire` is "json" or "msgpack" once
    chosen or learnt, None while "auto" has not learnt it yet."""

    def __init__(self, *, api_key: str | None, wire: Wire, policy: RetryPolicy) -> None:
        if wire not in ("auto", "json", "msgpack"):
            raise ValueError(f'wire must be "auto", "json" or "msgpack", not {wire!r}')
        self.wire: str | None = None if wire == "auto" else wire
        self.policy = policy
        self.headers = {"user-agent": f"facev3-client/{facev3.__version__}"}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"

    # ---- operations (POSTs have no side effects on the service, so every one is safe to retry) --

    def info(self) -> Flow[Info]:
        """The service's version, backend, models, calibration, rerank threshold and limits."""
        return (yield from self._call(Send("GET", "/v1/info", headers={"accept": JSON}), Info.from_payload))

    def healthz(self) -> Flow[bool]:
        """Whether the service process answers (no retries): False when it is unreachable or
        answers 502-504; other errors (a wrong URL: 404) raise."""
        return (yield from self._probe("/healthz"))

    def readyz(self) -> Flow[bool]:
        """Whether the inference backend is ready (no retries): False on 503 backend_unavailable
        or when unreachable; other errors raise."""
        return (yield from self._probe("/readyz"))

    def embed(
        self,
        images: Image | Sequence[Image],
        *,
        ids: Sequence[Id] | None = None,
        normalize: bool = True,
        return_aligned: bool = False,
        return_landmarks: bool = True,
        det_threshold: float | None = None,
        min_face_size: float | None = None,
        max_faces: int | None = None,
        min_quality: float | None = None,
        rotations: str | None = None,
        mirror: bool = False,
        dedupe: bool = False,
    ) -> Flow[EmbedResult]:
        """Detects, aligns and embeds the faces of one photo or a list of them (paths, bytes or
        binary files; at most the service's limits.max_images). One result per photo, in order,
        each with the `ids` entry it was sent with; a photo that cannot be read gets its own error
        (ImageResult.ok False) and the others still succeed. max_faces keeps the largest faces;
        det_threshold (0.3-1) defaults to the detector's own; min_face_size is in pixels;
        min_quality (0-1) drops faces of lower quality; rotations ("fallback", "auto", "none")
        turns the photo when its faces are not upright."""
        photos = image_list(images)
        if ids is not None and len(ids) != len(photos):
            raise ValueError(f"{len(ids)} ids for {len(photos)} images")
        keys = None if ids is None else [plain_id(i) for i in ids]
        options = {
            "normalize": normalize,
            "return_aligned": return_aligned,
            "return_landmarks": return_landmarks,
            "mirror": mirror,
            "dedupe": dedupe,
            "det_threshold": det_threshold,
            "min_face_size": min_face_size,
            "max_faces": max_faces,
            "min_quality": min_quality,
            "rotations": rotations,
        }

        def payload(binary: bool) -> dict:
            data = list(map(encoder(binary), photos))
            return {
                "images": data if keys is None else [{"id": k, "data": d} for k, d in zip(keys, data, strict=True)],
                **{name: value for name, value in options.items() if value is not None},
            }

        return (yield from self._call(self._post("/v1/embeddings", payload), EmbedResult.from_payload))

    def rerank(
        self,
        query: Vector,
        candidates: Mapping[Id, Vector] | Sequence[tuple[Id, Vector]] | np.ndarray,
        *,
        ids: Sequence[Id] | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        method: str = "cosine",
        model: str | None = None,
        debug: bool = False,
    ) -> Flow[RerankResult]:
        """Scores candidates against a query vector: calibrated 0-1 scores, best first, and
        whether each reaches `threshold` (default: the service's rerank_threshold). Candidates
        are a dict id -> vector, (id, vector) pairs, or a 2-D array with ids=[...] (ids are
        strings or integers, e.g. a vector store's primary keys; at most limits.max_candidates).
        method: "cosine", "kreciprocal" or "qe"; model: the name@version the vectors came from
        (EmbedResult.model), refused as "model_mismatch" if the service scores another one."""
        vector = np.ascontiguousarray(query, "<f4")
        if vector.ndim != 1:
            raise ValueError(f"query must be one vector, got an array of shape {vector.shape}")
        keys, matrix = candidate_rows(candidates, ids)
        options = {"method": method, "debug": debug, "threshold": threshold, "top_k": top_k, "model": model}

        def payload(binary: bool) -> dict:
            encode, suffix = encoder(binary), "" if binary else "_b64"
            field = f"embedding{suffix}"
            rows = [{"id": key, field: encode(row.tobytes())} for key, row in zip(keys, matrix, strict=True)]
            return {
                f"query{suffix}": encode(vector.tobytes()),
                "candidates": rows,
                **{name: value for name, value in options.items() if value is not None},
            }

        return (yield from self._call(self._post("/v1/rerank", payload), RerankResult.from_payload))

    def compare(self, a: Image, b: Image, *, threshold: float | None = None) -> Flow[Match]:
        """Whether the largest face of photo `a` and that of photo `b` are the same person: one
        embed of both, then a rerank of b's face against a's. Raises ImageError when a photo
        cannot be read (its own code) or has no face ("no_face")."""
        embedded = yield from self.embed([a, b], ids=["a", "b"], max_faces=1, return_landmarks=False)
        first, second = (largest_face(image) for image in embedded.images)
        ranked = yield from self.rerank(
            first.embedding, [("b", second.embedding)], threshold=threshold, model=embedded.model
        )
        return ranked.results[0]

    # ---- requests and answers -------------------------------------------------------------------

    def _post(self, path: str, payload: Callable[[bool], dict]) -> Send:
        if self.wire == "msgpack":
            body, content_type = ormsgpack.packb(payload(True)), MSGPACK
        else:
            body, content_type = orjson.dumps(payload(False)), JSON
        return Send("POST", path, body, {"content-type": content_type, "accept": JSON if self.wire == "json" else BOTH})

    def _probe(self, path: str) -> Flow[bool]:
        try:
            yield from self._call(Send("GET", path, headers={"accept": JSON}), lambda payload: payload, retry=False)
        except (Unavailable, TransportError):
            return False
        return True

    def _call(self, send: Send, parse: Callable[[Any], T], *, retry: bool = True) -> Flow[T]:
        """Sends until an answer succeeds or the policy gives up, then parses it."""
        retries = 0
        while True:
            outcome = yield send
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return self._read(outcome, parse, learn=send.method == "POST")
            if isinstance(outcome, httpx.Response):
                error = response_error(outcome, retries + 1)
            else:
                error = transport_error(outcome, retries + 1)
            delay = self.policy.delay(retries, error) if retry else None
            if delay is None:
                raise error
            yield delay
            retries += 1

    def _read(self, response: httpx.Response, parse: Callable[[Any], T], *, learn: bool) -> T:
        binary = media_type(response.headers.get("content-type", "")) in MSGPACK_TYPES
        if learn and self.wire is None:
            self.wire = "msgpack" if binary else "json"
        try:
            return parse(ormsgpack.unpackb(response.content) if binary else orjson.loads(response.content))
        except (ValueError, KeyError, TypeError) as error:
            raise ServerError(
                response.status_code, "bad_response", f"cannot read the answer to {response.request.url}: {error!r}"
            ) from error


def largest_face(image: ImageResult) -> Face:
    """The largest face of a photo, or the ImageError that says why there is none."""
    if not image.ok:
        raise ImageError(None, image.error.code, f"image {image.id}: {image.error.message}")
    face = image.largest_face()
    if face is None:
        raise ImageError(None, "no_face", f"image {image.id}: no face found")
    return face
