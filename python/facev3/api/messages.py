"""Framework-free HTTP messages: what an adapter hands to Api.handle and sends back."""

from dataclasses import dataclass

from facev3.api.errors import ApiError
from facev3.api.formats import JSON, JSON_FORMAT, WireFormat


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes | bytearray


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def declared_length(headers: dict[str, str]) -> int | None:
    """The body length a request's Content-Length declares, or None without a readable one (the
    servers refuse a malformed one before the adapter; "²" is a digit to str.isdigit, not to int)."""
    declared = headers.get("content-length")
    return int(declared) if declared is not None and declared.isascii() and declared.isdigit() else None


def json_response(status: int, payload: dict, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return encoded(status, payload, JSON_FORMAT, headers)


def encoded(status: int, payload: dict, wire: WireFormat, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status, wire.dumps(payload), wire.content_type, headers)


def error_response(error: ApiError) -> HttpResponse:
    return json_response(error.status, {"error": {"code": error.code, "message": error.message}}, error.headers)
