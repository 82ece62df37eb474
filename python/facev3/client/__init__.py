"""A Python client of the facev3 HTTP service: Client (blocking) and AsyncClient (asyncio), typed
results, JSON or MessagePack chosen by itself, an API key, timeouts and bounded retries that
honour Retry-After. Installed with `pip install facev3[client]` (httpx)."""

from facev3.client.clients import AsyncClient, Client
from facev3.client.core import RetryPolicy
from facev3.client.errors import (
    AuthError,
    FaceV3Error,
    ImageError,
    RequestError,
    ServerError,
    TransportError,
    Unavailable,
)
from facev3.client.results import (
    CalibrationInfo,
    DetectorInfo,
    Diagnostics,
    EmbedderInfo,
    EmbedResult,
    ErrorInfo,
    Face,
    ImageResult,
    Info,
    Limits,
    Match,
    RerankResult,
)

__all__ = [
    "AsyncClient",
    "AuthError",
    "CalibrationInfo",
    "Client",
    "DetectorInfo",
    "Diagnostics",
    "EmbedResult",
    "EmbedderInfo",
    "ErrorInfo",
    "Face",
    "FaceV3Error",
    "ImageError",
    "ImageResult",
    "Info",
    "Limits",
    "Match",
    "RequestError",
    "RerankResult",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "Unavailable",
]
