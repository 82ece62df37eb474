"""One frozen settings object from the environment (and a .env file), checked at start-up: an
invalid value stops the service with a message naming the setting.

Each setting is declared once, below, with its environment variable; the choices of a setting
are its Literal type, so the parser, .env.example and the docs read them from one place.
"""

import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from facev3.backends.triton.shm import ShmKind

Backend = Literal["local", "triton"]
Device = Literal["cpu", "cuda", "tensorrt"]
Runtime = Literal["auto", "onnxruntime", "openvino"]
Precision = Literal["fp32", "bf16"]
LogLevel = Literal["debug", "info", "warning", "error"]


class SettingsError(ValueError):
    pass


def setting(env: str, default, *, positive: bool = False):
    return field(default=default, metadata={"env": env, "positive": positive})


@dataclass(frozen=True)
class Settings:
    backend: Backend = setting("FACEV3_BACKEND", "local")  # local = the models in-process
    triton_url: str = setting("TRITON_URL", "127.0.0.1:8001")  # host:port, or several, comma-separated
    triton_shm: ShmKind = setting("TRITON_SHM", "system")
    triton_timeout_s: float = setting("TRITON_TIMEOUT_S", 10.0, positive=True)
    # A built-in model's name or a manifest path. None: local: yunet and sface; triton: the models
    # its repository runs (a model given here must be the one Triton runs).
    detector: str | None = setting("FACEV3_DETECTOR", None)
    embedder: str | None = setting("FACEV3_EMBEDDER", None)
    threads: int = setting("FACEV3_THREADS", 1, positive=True)  # onnxruntime intra-op threads per worker
    # Nice levels the inference threads run below the server's own (0 to 19; 0: at the same level)
    inference_nice: int = setting("FACEV3_INFERENCE_NICE", 10)
    device: Device = setting("FACEV3_DEVICE", "cpu")  # the local backend's: cpu | cuda | tensorrt (onnxruntime-gpu)
    # The local backend's runtime per model: auto times onnxruntime and OpenVINO (when installed) at start
    runtime: Runtime = setting("FACEV3_RUNTIME", "auto")
    # The local embedder's arithmetic: bf16 (OpenVINO, on CPUs with bf16 units; fp32 on others) is
    # faster, its embeddings a cosine of 0.9994 or more to fp32's on real faces (docs/performance.md)
    embedder_precision: Precision = setting("FACEV3_EMBEDDER_PRECISION", "fp32")
    # Faces per embedding batch (local); None: the fastest for the embedder's runtime
    max_batch_size: int | None = setting("MAX_BATCH_SIZE", None, positive=True)
    rerank_threshold: float = setting("RERANK_THRESHOLD", 0.5)  # calibrated score for match
    # A Milvus gallery (a milvus-lite file or http://host:19530) for /v1/gallery/search; None: none
    gallery: str | None = setting("FACEV3_GALLERY", None)
    gallery_collection: str | None = setting("FACEV3_GALLERY_COLLECTION", None)  # default: the embedder's
    return_aligned: bool = setting("RETURN_ALIGNED", False)  # default of the request option
    max_body_bytes: int = setting("FACEV3_MAX_BODY_BYTES", 50_000_000, positive=True)
    max_images: int = setting("FACEV3_MAX_IMAGES", 32, positive=True)  # per request
    max_image_bytes: int = setting("FACEV3_MAX_IMAGE_BYTES", 20_000_000, positive=True)
    max_pixels: int = setting("FACEV3_MAX_PIXELS", 40_000_000, positive=True)  # per image
    max_candidates: int = setting("FACEV3_MAX_CANDIDATES", 1000, positive=True)  # per rerank
    max_inflight: int = setting("FACEV3_MAX_INFLIGHT", 8, positive=True)  # inference; beyond it, 503 + Retry-After
    max_rerank_inflight: int = setting("FACEV3_MAX_RERANK_INFLIGHT", 32, positive=True)  # reranks, bounded apart
    max_faces_per_image: int = setting("FACEV3_MAX_FACES_PER_IMAGE", 100, positive=True)
    max_faces_per_request: int = setting("FACEV3_MAX_FACES_PER_REQUEST", 512, positive=True)
    header_timeout_s: float = setting("FACEV3_HEADER_TIMEOUT_S", 10.0, positive=True)  # request head (Granian)
    body_timeout_s: float = setting("FACEV3_BODY_TIMEOUT_S", 30.0, positive=True)  # whole body, once the head is in
    request_timeout_s: float = setting("FACEV3_REQUEST_TIMEOUT_S", 60.0, positive=True)  # inference deadline
    workers: int = setting("FACEV3_WORKERS", 1, positive=True)  # processes
    api_keys: tuple[str, ...] = setting("FACEV3_API_KEYS", ())  # comma-separated; empty = no auth
    # no auth needed (probes and scrapers carry no key)
    open_paths: tuple[str, ...] = setting("FACEV3_OPEN_PATHS", ("/healthz", "/readyz", "/metrics"))
    log_level: LogLevel = setting("FACEV3_LOG_LEVEL", "info")


ENV_NAMES = {f.name: f.metadata["env"] for f in fields(Settings)}


def choices(name: str) -> tuple[str, ...]:
    """The allowed values of a setting with a Literal type, else ()."""
    kind = typing.get_type_hints(Settings)[name]
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else ()


def read_dotenv(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}


def load_settings(environ: dict[str, str] | None = None, dotenv: Path = Path(".env")) -> Settings:
    """Environment variables win over the .env file, which wins over the defaults."""
    source = {**read_dotenv(dotenv), **(os.environ if environ is None else environ)}
    values = {}
    kinds = typing.get_type_hints(Settings)
    for f in fields(Settings):
        name = f.metadata["env"]
        if name not in source:
            continue
        value = _parse(name, source[name], f.default, kinds[f.name])
        allowed = choices(f.name)
        if allowed and value not in allowed:
            raise SettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
        if f.metadata["positive"] and value is not None and value <= 0:
            raise SettingsError(f"{name} must be > 0, got {value}")
        values[f.name] = value
    settings = Settings(**values)
    if not 0 <= settings.inference_nice <= 19:
        raise SettingsError(f"FACEV3_INFERENCE_NICE must be in [0, 19], got {settings.inference_nice}")
    if settings.backend == "triton" and settings.embedder_precision != "fp32":
        raise SettingsError(
            f"FACEV3_EMBEDDER_PRECISION={settings.embedder_precision} sets the local backend's embedder; "
            "Triton computes in what its model repository says"
        )
    if not 0.0 <= settings.rerank_threshold <= 1.0:
        raise SettingsError(f"RERANK_THRESHOLD must be in [0, 1], got {settings.rerank_threshold}")
    if "FACEV3_API_KEYS" in source and source["FACEV3_API_KEYS"].strip() and not settings.api_keys:
        raise SettingsError(
            "FACEV3_API_KEYS lists no key (only separators): set keys, or leave it empty to disable auth"
        )
    return settings


def _parse(name: str, raw: str, default, kind):
    raw = raw.strip()
    try:
        if default is None:  # an optional setting: empty is None, else its type's value
            (base,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
            return base(raw) if raw else None
        if isinstance(default, bool):
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError("expected true or false")
            return raw.lower() in ("1", "true", "yes")
        if isinstance(default, tuple):
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        return type(default)(raw)
    except ValueError as error:
        raise SettingsError(f"{name}={raw!r}: {error}") from None
