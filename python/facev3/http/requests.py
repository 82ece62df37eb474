"""Request bodies -> validated values, or an ApiError with a stable code and the right status."""

from dataclasses import dataclass

import numpy as np
import orjson
import pybase64

from facev3.pipeline import EmbedOptions

JSON = "application/json"
MULTIPART = "multipart/form-data"
RERANK_FIELDS = {"query", "query_b64", "candidates", "threshold", "top_k", "method", "debug"}
CANDIDATE_FIELDS = {"id", "embedding", "embedding_b64"}
B64_CANDIDATE_FIELDS = {"id", "embedding_b64"}
METHODS = ("cosine", "kreciprocal", "qe")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


# ---- shared helpers --------------------------------------------------------------------------


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def load_json_object(content_type: str, body: bytes) -> dict:
    if media_type(content_type) != JSON:
        raise ApiError(415, "unsupported_media_type", f"send {JSON}, got {content_type or 'no content type'}")
    if not body:
        raise ApiError(400, "empty_body", "the request body is empty")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "malformed_json", "the body must be a JSON object")
    return payload


def reject_unknown(payload: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise ApiError(422, "unknown_field", f"unknown field(s) in {where}: {', '.join(unknown)}")


def _strict_b64decode(text: str) -> bytes:
    return pybase64.b64decode(text, validate=True)


def decode_b64(text, field: str) -> bytes:
    if not isinstance(text, str):
        raise ApiError(422, "bad_base64", f"{field} must be a base64 string")
    try:
        return _strict_b64decode(text)
    except ValueError:
        raise ApiError(422, "bad_base64", f"{field} is not valid base64") from None


def number(payload: dict, key: str, kind: type, low: float, high: float, default):
    value = payload.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ApiError(422, "invalid_value", f"{key} must be a {'whole number' if kind is int else 'number'}")
    if not low <= value <= high:
        raise ApiError(422, "invalid_value", f"{key} must be between {low} and {high}, got {value}")
    return kind(value)


# ---- /v1/rerank --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RerankRequest:
    query: np.ndarray
    ids: list
    candidates: np.ndarray
    threshold: float
    top_k: int | None
    method: str
    debug: bool


def vector(item: dict, floats_key: str, b64_key: str, where: str) -> np.ndarray:
    if (floats_key in item) == (b64_key in item):
        raise ApiError(422, "missing_field", f"{where} needs exactly one of {floats_key} or {b64_key}")
    if b64_key in item:
        raw = decode_b64(item[b64_key], f"{where}.{b64_key}")
        if len(raw) % 4:
            raise ApiError(422, "bad_base64", f"{where}.{b64_key} is not a whole number of float32 values")
        return np.frombuffer(raw, "<f4")
    values = item[floats_key]
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ApiError(422, "invalid_value", f"{where}.{floats_key} must be a list of numbers")
    return np.array(values, np.float32)


def b64_candidates_in_bulk(candidates: list, dim: int) -> tuple[list, np.ndarray] | None:
    """The usual request (every candidate exactly {id, embedding_b64}, all of them valid) parsed a
    column at a time; None when anything is off, and the one-by-one parse then names the problem.
    0.32 ms against the per-candidate loop's 0.73 ms at 200 x 1024."""
    if not all(type(item) is dict and item.keys() == B64_CANDIDATE_FIELDS for item in candidates):
        return None
    ids = [item["id"] for item in candidates]
    if not all(type(i) is str or type(i) is int for i in ids) or len(set(ids)) != len(ids):
        return None
    texts = [item["embedding_b64"] for item in candidates]
    width = 4 * -(-4 * dim // 3)  # base64 characters of one padded float32 row
    if not all(type(text) is str and len(text) == width for text in texts):
        return None
    try:
        rows = list(map(_strict_b64decode, texts))
    except ValueError:
        return None
    if not all(len(row) == 4 * dim for row in rows):  # padding can differ between rows of one width
        return None
    return ids, np.frombuffer(b"".join(rows), "<f4").reshape(len(candidates), dim)


def candidates_one_by_one(candidates: list, dim: int) -> tuple[list, np.ndarray]:
    matrix = np.empty((len(candidates), dim), np.float32)
    ids, seen = [], set()
    for i, item in enumerate(candidates):
        where = f"candidates[{i}]"
        if not isinstance(item, dict):
            raise ApiError(422, "invalid_value", f"{where} must be an object")
        reject_unknown(item, CANDIDATE_FIELDS, where)
        identifier = item.get("id")
        if not isinstance(identifier, (str, int)) or isinstance(identifier, bool):
            raise ApiError(422, "missing_field", f"{where}.id must be a string or an integer")
        if identifier in seen:
            raise ApiError(422, "duplicate_id", f"{where}.id {identifier!r} appears more than once")
        seen.add(identifier)
        ids.append(identifier)
        row = vector(item, "embedding", "embedding_b64", where)
        if len(row) != dim:
            raise ApiError(422, "dim_mismatch", f"{where} has {len(row)} dimensions, the query {dim}")
        matrix[i] = row
    return ids, matrix


def parse_rerank_request(content_type: str, body: bytes, settings) -> RerankRequest:
    payload = load_json_object(content_type, body)
    reject_unknown(payload, RERANK_FIELDS, "the request")
    query = vector(payload, "query", "query_b64", "query")
    candidates = payload.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise ApiError(422, "missing_field", "candidates must be a non-empty list of {id, embedding | embedding_b64}")
    if len(candidates) > settings.max_candidates:
        raise ApiError(413, "too_many_candidates", f"{len(candidates)} candidates; the limit is {settings.max_candidates}")
    ids, matrix = b64_candidates_in_bulk(candidates, len(query)) or candidates_one_by_one(candidates, len(query))
    method = payload.get("method", "cosine")
    if method not in METHODS:
        raise ApiError(422, "invalid_value", f"method must be one of {', '.join(METHODS)}")
    return RerankRequest(
        query=query, ids=ids, candidates=matrix,
        threshold=number(payload, "threshold", float, 0.0, 1.0, settings.rerank_threshold),
        top_k=number(payload, "top_k", int, 1, settings.max_candidates, None),
        method=method, debug=payload.get("debug", False) is True,
    )


# ---- /v1/embeddings ----------------------------------------------------------------------------

OPTION_FIELDS = {"return_aligned", "normalize", "return_landmarks", "det_threshold", "min_face_size", "max_faces",
                 "dedupe", "mirror"}


@dataclass(frozen=True)
class EmbedRequest:
    images: list[bytes]  # undecodable base64 is kept as b"" plus an entry in errors
    ids: list
    errors: dict[int, ApiError]  # per image, reported in its entry
    options: EmbedOptions
    return_landmarks: bool


def parse_embed_request(content_type: str, body: bytes, settings) -> EmbedRequest:
    if media_type(content_type) == MULTIPART:
        images, options = parse_multipart(content_type, body)
        items = [{"id": name, "data": data} for name, data in images]
    else:
        payload = load_json_object(content_type, body)
        reject_unknown(payload, OPTION_FIELDS | {"images"}, "the request")
        items, options = payload.get("images"), {k: v for k, v in payload.items() if k != "images"}
        if not isinstance(items, list):
            raise ApiError(422, "missing_field", "images must be a list of base64 strings or {id, data} objects")
    if not items:
        raise ApiError(422, "missing_field", "no images in the request")
    if len(items) > settings.max_images:
        raise ApiError(413, "too_many_images", f"{len(items)} images; the limit is {settings.max_images}")
    images, ids, errors = [], [], {}
    for i, item in enumerate(items):
        identifier, data = _image_item(item, i)
        ids.append(identifier)
        if isinstance(data, bytes):
            images.append(data)
            continue
        try:
            images.append(decode_b64(data, f"images[{i}]"))
        except ApiError as error:
            images.append(b"")
            errors[i] = error
    return EmbedRequest(images, ids, errors, *_embed_options(options, settings))


def _image_item(item, index: int):
    if isinstance(item, str):
        return None, item
    if isinstance(item, dict) and "data" in item and set(item) <= {"id", "data"}:
        return item.get("id"), item["data"]
    raise ApiError(422, "invalid_value", f"images[{index}] must be a base64 string or an object {{id, data}}")


def _embed_options(options: dict, settings) -> tuple[EmbedOptions, bool]:
    reject_unknown(options, OPTION_FIELDS, "the options")
    flags = {}
    for key, default in (("return_aligned", settings.return_aligned), ("normalize", True), ("return_landmarks", True),
                         ("dedupe", False), ("mirror", False)):
        value = options.get(key, default)
        if not isinstance(value, bool):
            raise ApiError(422, "invalid_value", f"{key} must be true or false")
        flags[key] = value
    embed = EmbedOptions(
        det_threshold=number(options, "det_threshold", float, 0.0, 1.0, None),
        min_face_size=number(options, "min_face_size", float, 0.0, 100_000.0, 0.0),
        max_faces=number(options, "max_faces", int, 1, 10_000, None),
        normalize=flags["normalize"], return_aligned=flags["return_aligned"], mirror=flags["mirror"],
        dedupe=flags["dedupe"],
    )
    return embed, flags["return_landmarks"]


def parse_multipart(content_type: str, body: bytes) -> tuple[list[tuple[str | None, bytes]], dict]:
    """Parts of field `images` (files, in order, names kept even when repeated) and the options as
    form fields (JSON-like values: true, 0.5, 3)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "malformed_multipart", "multipart/form-data needs a boundary")
    parts: list[dict] = []
    header = {}

    def on_part_begin():
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data, start, end):
        header["field"] = data[start:end].decode("latin-1").lower()

    def on_header_value(data, start, end):
        parts[-1]["headers"][header["field"]] = data[start:end].decode("latin-1")

    def on_part_data(data, start, end):
        parts[-1]["data"] += data[start:end]

    parser = MultipartParser(boundary, {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                                        "on_header_value": on_header_value, "on_part_data": on_part_data})
    try:
        parser.write(body)
        parser.finalize()
    except Exception as error:  # noqa: BLE001 - python-multipart raises several types
        raise ApiError(400, "malformed_multipart", f"the multipart body cannot be parsed: {error}") from None
    images, options = [], {}
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get("content-disposition", ""))
        name = disposition.get(b"name", b"").decode()
        if name == "images":
            filename = disposition.get(b"filename")
            images.append((filename.decode() if filename else None, bytes(part["data"])))
        else:
            try:
                options[name] = orjson.loads(bytes(part["data"]))
            except orjson.JSONDecodeError:
                raise ApiError(422, "invalid_value", f"form field {name} must be true, false or a number") from None
    return images, options
