"""Framework-free HTTP messages: what an adapter hands to Api.handle and sends back."""

from dataclasses import dataclass

import orjson

from facev3.api.errors import ApiError

JSON = "application/json"


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


def json_response(status: int, payload: dict, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), JSON, headers)


def error_response(error: ApiError) -> HttpResponse:
    return json_response(error.status, {"error": {"code": error.code, "message": error.message}}, error.headers)
