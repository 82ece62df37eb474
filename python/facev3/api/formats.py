"""Wire formats of request and response bodies: JSON, and MessagePack with vectors as binary
float32 (little-endian), which costs no float parsing or printing at all.

A request's Content-Type picks how its body is read; its Accept header picks how the answer is
written (MessagePack when it asks for it, else JSON). Errors are always JSON.
"""

from dataclasses import dataclass

import numpy as np
import orjson
import ormsgpack

from facev3.api.errors import ApiError

JSON = "application/json"
MSGPACK = "application/msgpack"
MSGPACK_ALIASES = frozenset({MSGPACK, "application/x-msgpack", "application/vnd.msgpack"})


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class WireFormat:
    name: str
    content_type: str

    def loads(self, body: bytes) -> object:
        if self.content_type == JSON:
            return orjson.loads(body)
        return ormsgpack.unpackb(body)

    def dumps(self, payload: dict) -> bytes:
        if self.content_type == JSON:
            return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
        return ormsgpack.packb(payload, option=ormsgpack.OPT_SERIALIZE_NUMPY)

    def vector(self, values: np.ndarray):
        """A float32 vector as this format carries it best: numbers in JSON, bytes in MessagePack."""
        return values if self.content_type == JSON else np.asarray(values, "<f4").tobytes()


JSON_FORMAT = WireFormat("json", JSON)
MSGPACK_FORMAT = WireFormat("msgpack", MSGPACK)


def request_format(content_type: str) -> WireFormat | None:
    """The format a Content-Type names, or None (multipart and unknown types)."""
    kind = media_type(content_type)
    return JSON_FORMAT if kind == JSON else MSGPACK_FORMAT if kind in MSGPACK_ALIASES else None


def response_format(accept: str) -> WireFormat:
    """MessagePack when the Accept header names it, else JSON."""
    return MSGPACK_FORMAT if any(media_type(part) in MSGPACK_ALIASES for part in accept.split(",")) else JSON_FORMAT


def load_object(content_type: str, body: bytes) -> tuple[dict, WireFormat]:
    """A JSON or MessagePack body that must hold an object (a map)."""
    wire = request_format(content_type)
    if wire is None:
        raise ApiError(
            415, "unsupported_media_type", f"send {JSON} or {MSGPACK}, got {content_type or 'no content type'}"
        )
    if not body:
        raise ApiError(400, "empty_body", "the request body is empty")
    try:
        payload = wire.loads(body)
    except (ValueError, TypeError) as error:  # orjson's and ormsgpack's decode errors are ValueErrors
        code = "malformed_json" if wire is JSON_FORMAT else "malformed_msgpack"
        raise ApiError(400, code, f"the body is not valid {wire.name}: {error}") from None
    if not isinstance(payload, dict):
        code = "malformed_json" if wire is JSON_FORMAT else "malformed_msgpack"
        raise ApiError(400, code, f"the body must be a {wire.name} object (map)")
    return payload, wire
