"""One frozen settings object from the environment (and a .env file), checked at start-up: an
invalid value stops the service with a message naming the setting."""

import os
from dataclasses import dataclass, fields
from pathlib import Path


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    backend: str = "local"                  # FACEV3_BACKEND: local | triton
    triton_url: str = "127.0.0.1:8001"      # TRITON_URL
    triton_shm: str = "system"              # TRITON_SHM: system | cuda | none
    triton_timeout_s: float = 10.0          # TRITON_TIMEOUT_S
    detector: str = "yunet"                 # FACEV3_DETECTOR: yunet | centerface
    threads: int = 1                        # FACEV3_THREADS: onnxruntime intra-op threads per worker
    max_batch_size: int = 2                 # MAX_BATCH_SIZE: faces per embedding batch (local backend)
    rerank_threshold: float = 0.5           # RERANK_THRESHOLD: calibrated score for match
    return_aligned: bool = False            # RETURN_ALIGNED: default of the request option
    max_body_bytes: int = 50_000_000        # FACEV3_MAX_BODY_BYTES
    max_images: int = 32                    # FACEV3_MAX_IMAGES per request
    max_image_bytes: int = 20_000_000       # FACEV3_MAX_IMAGE_BYTES
    max_pixels: int = 40_000_000            # FACEV3_MAX_PIXELS per image
    max_candidates: int = 1000              # FACEV3_MAX_CANDIDATES per rerank
    max_inflight: int = 8                   # FACEV3_MAX_INFLIGHT: beyond it, 503 + Retry-After
    workers: int = 1                        # FACEV3_WORKERS: processes
    api_keys: tuple[str, ...] = ()          # FACEV3_API_KEYS: comma-separated; empty = no auth
    open_paths: tuple[str, ...] = ("/healthz", "/metrics")  # FACEV3_OPEN_PATHS: no auth needed
    log_level: str = "info"                 # FACEV3_LOG_LEVEL


ENV_NAMES = {
    "backend": "FACEV3_BACKEND", "triton_url": "TRITON_URL", "triton_shm": "TRITON_SHM",
    "triton_timeout_s": "TRITON_TIMEOUT_S", "detector": "FACEV3_DETECTOR", "threads": "FACEV3_THREADS",
    "max_batch_size": "MAX_BATCH_SIZE", "rerank_threshold": "RERANK_THRESHOLD", "return_aligned": "RETURN_ALIGNED",
    "max_body_bytes": "FACEV3_MAX_BODY_BYTES", "max_images": "FACEV3_MAX_IMAGES",
    "max_image_bytes": "FACEV3_MAX_IMAGE_BYTES", "max_pixels": "FACEV3_MAX_PIXELS",
    "max_candidates": "FACEV3_MAX_CANDIDATES", "max_inflight": "FACEV3_MAX_INFLIGHT", "workers": "FACEV3_WORKERS",
    "api_keys": "FACEV3_API_KEYS", "open_paths": "FACEV3_OPEN_PATHS", "log_level": "FACEV3_LOG_LEVEL",
}
CHOICES = {"backend": ("local", "triton"), "triton_shm": ("system", "cuda", "none"),
           "detector": ("yunet", "centerface"), "log_level": ("debug", "info", "warning", "error")}
POSITIVE = {"threads", "max_batch_size", "max_body_bytes", "max_images", "max_image_bytes", "max_pixels",
            "max_candidates", "max_inflight", "workers", "triton_timeout_s"}


def read_dotenv(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}


def load_settings(environ: dict[str, str] | None = None, dotenv: Path = Path(".env")) -> Settings:
    """Environment variables win over the .env file, which wins over the defaults."""
    source = {**read_dotenv(dotenv), **(os.environ if environ is None else environ)}
    values = {}
    for field in fields(Settings):
        name = ENV_NAMES[field.name]
        if name in source:
            values[field.name] = _parse(name, source[name], field.default)
    settings = Settings(**values)
    for field_name, allowed in CHOICES.items():
        if getattr(settings, field_name) not in allowed:
            raise SettingsError(f"{ENV_NAMES[field_name]}={getattr(settings, field_name)!r}: expected one of {', '.join(allowed)}")
    for field_name in POSITIVE:
        if getattr(settings, field_name) <= 0:
            raise SettingsError(f"{ENV_NAMES[field_name]} must be > 0, got {getattr(settings, field_name)}")
    if not 0.0 <= settings.rerank_threshold <= 1.0:
        raise SettingsError(f"RERANK_THRESHOLD must be in [0, 1], got {settings.rerank_threshold}")
    return settings


def _parse(name: str, raw: str, default):
    raw = raw.strip()
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError("expected true or false")
            return raw.lower() in ("1", "true", "yes")
        if isinstance(default, tuple):
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        return type(default)(raw)
    except ValueError as error:
        raise SettingsError(f"{name}={raw!r}: {error}") from None
