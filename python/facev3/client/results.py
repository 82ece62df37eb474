"""What the service answers, as frozen dataclasses read from its JSON or MessagePack payloads.

Vectors are float32 numpy arrays whichever wire carried them (a list of numbers in JSON, binary
little-endian float32 in MessagePack). Fields the service may add later are ignored, so a newer
service does not break an older client."""

from dataclasses import dataclass, fields

import numpy as np
import pybase64


def vector(value) -> np.ndarray:
    """A float32 vector from a list of numbers or from binary little-endian float32 (a writable
    copy in native byte order)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return np.frombuffer(value, "<f4").astype(np.float32)
    return np.asarray(value, np.float32)


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str

    @classmethod
    def from_payload(cls, payload: dict) -> "ErrorInfo":
        return cls(payload["code"], payload["message"])


@dataclass(frozen=True, eq=False)
class Face:
    """One face: `bbox` (x1, y1, x2, y2) in the photo's pixels, the detector's `score`, five
    `landmarks` (x, y) (None unless asked for), the `embedding` (unit length unless normalize was
    off), the raw embedding's `norm`, the face's `quality` (0-1) with its `quality_factors`, and,
    when asked for, the aligned crop as PNG bytes."""

    bbox: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...] | None
    embedding: np.ndarray
    norm: float
    aligned: bytes | None = None
    quality: float | None = None  # None from a service older than quality scores
    quality_factors: dict[str, float] | None = None

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.bbox
        return (x2 - x1) * (y2 - y1)

    @classmethod
    def from_payload(cls, payload: dict) -> "Face":
        landmarks = payload.get("landmarks")
        aligned = payload.get("aligned")
        return cls(
            bbox=tuple(payload["bbox"]),
            score=payload["score"],
            landmarks=None if landmarks is None else tuple(map(tuple, landmarks)),
            embedding=vector(payload["embedding"]),
            norm=payload["norm"],
            aligned=pybase64.b64decode(aligned) if isinstance(aligned, str) else aligned,
            quality=payload.get("quality"),
            quality_factors=payload.get("quality_factors"),
        )


@dataclass(frozen=True)
class ImageResult:
    """One photo of a request, at `index` in the request, with the `id` it was sent with. When
    `ok` is False, `error` says why (e.g. "corrupt_image") and the other photos are unaffected.
    `duplicate_of` is the index of an identical earlier photo (with dedupe)."""

    index: int
    id: str | int | None
    ok: bool
    width: int | None
    height: int | None
    faces: list[Face]
    error: ErrorInfo | None = None
    duplicate_of: int | None = None

    def largest_face(self) -> Face | None:
        return max(self.faces, key=lambda face: face.area, default=None)

    @classmethod
    def from_payload(cls, payload: dict) -> "ImageResult":
        error = payload.get("error")
        return cls(
            index=payload["index"],
            id=payload.get("id"),
            ok=payload["status"] == "ok",
            width=payload.get("width"),
            height=payload.get("height"),
            faces=[Face.from_payload(face) for face in payload.get("faces", ())],
            error=None if error is None else ErrorInfo.from_payload(error),
            duplicate_of=payload.get("duplicate_of"),
        )


@dataclass(frozen=True)
class EmbedResult:
    """`model` is name@version of the embedder: pass it to rerank(model=...) to have vectors of
    another model refused rather than scored."""

    model: str
    embedding_size: int
    images: list[ImageResult]
    normalized: bool = True
    timings_ms: dict[str, float] | None = None

    @classmethod
    def from_payload(cls, payload: dict) -> "EmbedResult":
        return cls(
            model=payload["model"],
            embedding_size=payload["embedding_size"],
            images=[ImageResult.from_payload(image) for image in payload["images"]],
            normalized=payload.get("normalized", True),
            timings_ms=payload.get("timings_ms"),
        )


@dataclass(frozen=True)
class Match:
    """A candidate: its calibrated `score` in 0-1, the raw `cosine`, whether the score reaches the
    threshold (`match`), and with debug its `similarity` after the re-ranking method."""

    id: str | int
    score: float
    cosine: float
    match: bool
    similarity: float | None = None


@dataclass(frozen=True)
class Diagnostics:
    latency_ms: float
    candidate_count: int
    method: str
    calibration: str


@dataclass(frozen=True)
class RerankResult:
    """`results` best first (only the top_k when asked)."""

    results: list[Match]
    threshold: float
    diagnostics: Diagnostics

    @property
    def matches(self) -> list[Match]:
        return [result for result in self.results if result.match]

    @classmethod
    def from_payload(cls, payload: dict) -> "RerankResult":
        similarity = payload.get("debug", {}).get("similarity") or [None] * len(payload["results"])
        d = payload["diagnostics"]
        results = zip(payload["results"], similarity, strict=True)
        return cls(
            results=[Match(r["id"], r["score"], r["cosine"], r["match"], s) for r, s in results],
            threshold=payload["threshold"],
            diagnostics=Diagnostics(d["latency_ms"], d["candidate_count"], d["method"], d["calibration"]),
        )


@dataclass(frozen=True)
class DetectorInfo:
    name: str  # name@version
    default_threshold: float


@dataclass(frozen=True)
class EmbedderInfo:
    name: str  # name@version: what rerank(model=...) checks
    embedding_size: int


@dataclass(frozen=True)
class CalibrationInfo:
    name: str
    cosine_threshold: float
    scale: float


@dataclass(frozen=True)
class Limits:
    max_images: int
    max_candidates: int
    max_body_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class Info:
    version: str
    backend: str
    detector: DetectorInfo
    embedder: EmbedderInfo
    calibration: CalibrationInfo
    rerank_threshold: float
    limits: Limits

    @classmethod
    def from_payload(cls, payload: dict) -> "Info":
        detector, embedder, calibration, limits = (
            payload[key] for key in ("detector", "embedder", "calibration", "limits")
        )
        return cls(
            version=payload["version"],
            backend=payload["backend"],
            detector=DetectorInfo(detector["name"], detector["default_threshold"]),
            embedder=EmbedderInfo(embedder["name"], embedder["embedding_size"]),
            calibration=CalibrationInfo(calibration["name"], calibration["cosine_threshold"], calibration["scale"]),
            rerank_threshold=payload["rerank_threshold"],
            limits=Limits(**{field.name: limits[field.name] for field in fields(Limits)}),
        )
