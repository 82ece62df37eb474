"""Request bodies -> validated values, or an ApiError with a stable code and the right status.

The options of each endpoint are tables (EMBED_OPTIONS, RERANK_OPTIONS): the parser validates
with them and facev3.api.openapi documents them, so the two cannot drift apart.
"""

from dataclasses import dataclass

import numpy as np
import orjson
import pybase64

from facev3.api.errors import ApiError
from facev3.api.formats import load_object, media_type
from facev3.api.rerank_bulk import read_body
from facev3.config import Settings
from facev3.core import scoring
from facev3.core.pipeline import ROTATIONS, EmbedOptions

MULTIPART = "multipart/form-data"
TYPES = {"boolean": (bool,), "number": (int, float), "integer": (int,), "string": (str,)}


@dataclass(frozen=True)
class Option:
    """One optional field of a request body: its JSON type, range and default. JSON null reads as
    absent. A default named by `setting` comes from that field of Settings."""

    name: str
    type: str  # a key of TYPES
    description: str
    default: object = None
    setting: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    maximum_setting: str | None = None  # the Settings field that bounds it instead of `maximum`
    choices: tuple[str, ...] = ()

    def read(self, payload: dict, settings: Settings):
        value = payload.get(self.name)
        if value is None:
            return getattr(settings, self.setting) if self.setting else self.default
        if isinstance(value, bool) != (self.type == "boolean") or not isinstance(value, TYPES[self.type]):
            raise ApiError(422, "invalid_value", f"{self.name} must be {_TYPE_NAMES[self.type]}")
        if self.choices and value not in self.choices:
            raise ApiError(422, "invalid_value", f"{self.name} must be one of {', '.join(self.choices)}")
        high = getattr(settings, self.maximum_setting) if self.maximum_setting else self.maximum
        if (self.minimum is not None and value < self.minimum) or (high is not None and value > high):
            raise ApiError(422, "invalid_value", f"{self.name} must be between {self.minimum} and {high}, got {value}")
        return float(value) if self.type == "number" else value


_TYPE_NAMES = {"boolean": "true or false", "number": "a number", "integer": "a whole number", "string": "a string"}


def read_options(table: tuple[Option, ...], payload: dict, settings: Settings) -> dict:
    return {option.name: option.read(payload, settings) for option in table}


# ---- shared helpers --------------------------------------------------------------------------


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


# ---- /v1/rerank --------------------------------------------------------------------------------

RERANK_OPTIONS = (
    Option(
        "threshold",
        "number",
        "calibrated score at which a candidate matches (default RERANK_THRESHOLD)",
        setting="rerank_threshold",
        minimum=0.0,
        maximum=1.0,
    ),
    Option("top_k", "integer", "return only the best top_k candidates", minimum=1, maximum_setting="max_candidates"),
    Option("method", "string", "re-ranking method", default="cosine", choices=scoring.METHODS),
    Option("debug", "boolean", "add each candidate's similarity after the method", default=False),
    Option(
        "model",
        "string",
        "name@version of the model that made the vectors: refused (model_mismatch) when the "
        "service scores another model's",
    ),
)
RERANK_VECTORS = {"query", "query_b64", "candidates"}
CANDIDATE_FIELDS = {"id", "embedding", "embedding_b64"}


@dataclass(frozen=True)
class RerankRequest:
    query: np.ndarray
    ids: list
    candidates: np.ndarray
    threshold: float
    top_k: int | None
    method: str
    debug: bool
    model: str | None


def vector(item: dict, floats_key: str, b64_key: str, where: str = "") -> np.ndarray:
    """One float32 vector: under floats_key a list of numbers (or, in MessagePack, binary
    little-endian float32), or under b64_key base64 of little-endian float32. `where` prefixes the
    field names in messages (e.g. "candidates[3].")."""
    if (floats_key in item) == (b64_key in item):
        code = "missing_field" if floats_key not in item else "invalid_value"
        raise ApiError(422, code, f"give exactly one of {where}{floats_key} or {where}{b64_key}")
    if b64_key in item:
        raw = decode_b64(item[b64_key], f"{where}{b64_key}")
        if len(raw) % 4:
            raise ApiError(422, "bad_base64", f"{where}{b64_key} is not a whole number of float32 values")
        values = np.frombuffer(raw, "<f4")
    else:
        values = float_list(item[floats_key], f"{where}{floats_key}")
    if not len(values):
        raise ApiError(422, "empty", f"{where}{floats_key if floats_key in item else b64_key} has no values")
    return values


def float_list(values, field: str) -> np.ndarray:
    """A list of numbers as float32, or MessagePack binary read as little-endian float32. The
    list's types are checked by one set of the items' types (C speed, about 4 x faster than an
    isinstance test per value), so booleans, strings and nulls are refused without a Python loop."""
    if isinstance(values, bytes):
        if len(values) % 4:
            raise ApiError(422, "invalid_value", f"{field} is not a whole number of float32 values")
        return np.frombuffer(values, "<f4")
    if not isinstance(values, list) or not set(map(type, values)) <= {float, int}:
        raise ApiError(422, "invalid_value", f"{field} must be a list of numbers")
    return np.array(values, np.float32)


def candidates_in_bulk(candidates: list, dim: int) -> tuple[list, np.ndarray] | None:
    """The usual request (every candidate exactly {id, embedding_b64}, or in MessagePack exactly
    {id, embedding} with binary float32, all of them valid) parsed a column at a time; None when
    anything is off, and the one-by-one parse then names the problem. 0.32 ms against the
    per-candidate loop's 0.73 ms at 200 x 1024 in base64."""
    first = candidates[0] if type(candidates[0]) is dict else {}
    key = "embedding_b64" if "embedding_b64" in first else "embedding"
    if not all(type(item) is dict and item.keys() == {"id", key} for item in candidates):
        return None
    ids = [item["id"] for item in candidates]
    if not all(type(i) is str or type(i) is int for i in ids) or len(set(ids)) != len(ids):
        return None
    values = [item[key] for item in candidates]
    if key == "embedding":
        rows = values
        if not all(type(row) is bytes for row in rows):
            return None
    else:
        width = 4 * -(-4 * dim // 3)  # base64 characters of one padded float32 row
        if not all(type(text) is str and len(text) == width for text in values):
            return None
        try:
            rows = list(map(_strict_b64decode, values))
        except ValueError:
            return None
    if not all(len(row) == 4 * dim for row in rows):  # base64 padding can differ between rows of one width
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
        if "id" not in item:
            raise ApiError(422, "missing_field", f"{where}.id is missing")
        identifier = item["id"]
        if not isinstance(identifier, (str, int)) or isinstance(identifier, bool):
            raise ApiError(422, "invalid_value", f"{where}.id must be a string or an integer")
        if identifier in seen:
            raise ApiError(422, "duplicate_id", f"{where}.id {identifier!r} appears more than once")
        seen.add(identifier)
        ids.append(identifier)
        row = vector(item, "embedding", "embedding_b64", f"{where}.")
        if len(row) != dim:
            raise ApiError(422, "dim_mismatch", f"{where} has {len(row)} dimensions, the query {dim}")
        matrix[i] = row
    return ids, matrix


def parse_rerank_request(content_type: str, body: bytes, settings: Settings) -> RerankRequest:
    usual, payload = read_body(content_type, body, settings.max_candidates)
    if usual is not None:
        others, query, ids, matrix = usual
        reject_unknown(others, RERANK_VECTORS | {o.name for o in RERANK_OPTIONS}, "the request")
        if len(ids) > settings.max_candidates:
            raise ApiError(413, "too_many_candidates", f"{len(ids)} candidates; the limit is {settings.max_candidates}")
        return RerankRequest(query=query, ids=ids, candidates=matrix, **read_options(RERANK_OPTIONS, others, settings))
    if payload is None:
        payload, _ = load_object(content_type, body)
    reject_unknown(payload, RERANK_VECTORS | {o.name for o in RERANK_OPTIONS}, "the request")
    query = vector(payload, "query", "query_b64")
    if "candidates" not in payload:
        raise ApiError(422, "missing_field", "candidates is missing: a list of {id, embedding | embedding_b64}")
    candidates = payload["candidates"]
    if not isinstance(candidates, list):
        raise ApiError(422, "invalid_value", "candidates must be a list of {id, embedding | embedding_b64}")
    if not candidates:
        raise ApiError(422, "empty", "candidates is empty")
    if len(candidates) > settings.max_candidates:
        raise ApiError(
            413, "too_many_candidates", f"{len(candidates)} candidates; the limit is {settings.max_candidates}"
        )
    ids, matrix = candidates_in_bulk(candidates, len(query)) or candidates_one_by_one(candidates, len(query))
    return RerankRequest(query=query, ids=ids, candidates=matrix, **read_options(RERANK_OPTIONS, payload, settings))


# ---- /v1/embeddings ----------------------------------------------------------------------------

EMBED_OPTIONS = (
    Option(
        "return_aligned",
        "boolean",
        "add the 112x112 aligned crop as base64 PNG (default RETURN_ALIGNED)",
        setting="return_aligned",
    ),
    Option("normalize", "boolean", "L2-normalize the embeddings", default=True),
    Option("return_landmarks", "boolean", "add the five landmarks of each face", default=True),
    # Below 0.3 a detector returns noise by the thousand (one photo gave 1,461 faces at 0).
    Option(
        "det_threshold", "number", "detection score threshold (default: the detector's own)", minimum=0.3, maximum=1.0
    ),
    Option(
        "min_face_size",
        "number",
        "drop faces whose box is smaller on its shorter side, in pixels",
        default=0.0,
        minimum=0.0,
        maximum=100_000.0,
    ),
    Option(
        "max_faces",
        "integer",
        "keep the largest faces (at most FACEV3_MAX_FACES_PER_IMAGE)",
        minimum=1,
        maximum_setting="max_faces_per_image",
    ),
    Option(
        "min_quality",
        "number",
        'drop faces whose quality (0-1, README "Quality") is lower',
        default=0.0,
        minimum=0.0,
        maximum=1.0,
    ),
    Option(
        "rotations",
        "string",
        "detect on the photo turned by 90, 180 and 270 degrees: when the upright photo "
        "has no clear face (fallback), always (auto) or never (none)",
        default="fallback",
        choices=ROTATIONS,
    ),
    Option("dedupe", "boolean", "embed identical images once", default=False),
    Option("mirror", "boolean", "fuse each face with its mirror image", default=False),
)
IMAGE_FIELD = "images"
# Multipart file fields read as images: what upload forms and tools commonly name them.
IMAGE_FIELDS = (IMAGE_FIELD, "image", "file", "files")
MAX_BOUNDARY = 70  # RFC 2046


@dataclass(frozen=True)
class ImageItem:
    """One image of a request: its bytes, or the request error that keeps it out of the pipeline."""

    id: object
    data: bytes | None
    error: ApiError | None = None


@dataclass(frozen=True)
class EmbedRequest:
    images: list[ImageItem]
    options: EmbedOptions
    return_landmarks: bool


def parse_embed_request(content_type: str, body: bytes, settings: Settings) -> EmbedRequest:
    if media_type(content_type) == MULTIPART:
        images, options = parse_multipart(content_type, body)
    else:
        options, _ = load_object(content_type, body)
        if IMAGE_FIELD not in options:
            raise ApiError(422, "missing_field", "images is missing: a list of base64 strings or {id, data} objects")
        images = options.pop(IMAGE_FIELD)
        if not isinstance(images, list):
            raise ApiError(422, "invalid_value", "images must be a list of base64 strings or {id, data} objects")
    if not images:
        raise ApiError(422, "empty", "no images in the request")
    if len(images) > settings.max_images:
        raise ApiError(413, "too_many_images", f"{len(images)} images; the limit is {settings.max_images}")
    reject_unknown(options, {o.name for o in EMBED_OPTIONS}, "the request")
    values = read_options(EMBED_OPTIONS, options, settings)
    return_landmarks = values.pop("return_landmarks")
    # Multipart parts are ImageItems already; JSON entries are base64 strings or {id, data}.
    items = [item if isinstance(item, ImageItem) else image_item(item, i) for i, item in enumerate(images)]
    return EmbedRequest(items, EmbedOptions(**values), return_landmarks)


def image_item(item, index: int) -> ImageItem:
    """A JSON or MessagePack entry: the image as base64 (or, in MessagePack, binary), alone or as
    {id, data}; undecodable base64 fails this image only."""
    if isinstance(item, (str, bytes)):
        identifier, data = None, item
    elif isinstance(item, dict) and "data" in item and set(item) <= {"id", "data"}:
        identifier, data = item.get("id"), item["data"]
    else:
        raise ApiError(422, "invalid_value", f"images[{index}] must be an image (base64) or an object {{id, data}}")
    if identifier is not None and (not isinstance(identifier, (str, int)) or isinstance(identifier, bool)):
        raise ApiError(422, "invalid_value", f"images[{index}].id must be a string or an integer")
    if isinstance(data, bytes):
        return ImageItem(identifier, data)
    try:
        return ImageItem(identifier, decode_b64(data, f"images[{index}]"))
    except ApiError as error:
        return ImageItem(identifier, None, error)


def parse_multipart(content_type: str, body: bytes) -> tuple[list[ImageItem], dict]:
    """Files under an image field (in order, names kept even when repeated) and the options as
    form fields (JSON-like values: true, 0.5, 3). The body must end with its closing delimiter."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > MAX_BOUNDARY:
        raise ApiError(
            400,
            "malformed_multipart",
            f"multipart/form-data needs a boundary of 1 to {MAX_BOUNDARY} characters (RFC 2046)",
        )
    parts: list[dict] = []
    header, ended = {}, []

    def on_part_begin():
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data, start, end):
        header["field"] = data[start:end].decode("latin-1").lower()

    def on_header_value(data, start, end):
        parts[-1]["headers"][header["field"]] = data[start:end].decode("latin-1")

    def on_part_data(data, start, end):
        parts[-1]["data"] += data[start:end]

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_part_data": on_part_data,
        "on_end": lambda: ended.append(1),
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except Exception as error:  # python-multipart raises several types
        raise ApiError(400, "malformed_multipart", f"the multipart body cannot be parsed: {error}") from None
    if not ended:
        raise ApiError(400, "malformed_multipart", "the multipart body ends before its closing delimiter")
    images, options = [], {}
    for index, part in enumerate(parts):
        _, disposition = parse_options_header(part["headers"].get("content-disposition", ""))
        name = _utf8(disposition.get(b"name", b""), f"the name of part {index}")
        if name in IMAGE_FIELDS:
            filename = disposition.get(b"filename")
            images.append(ImageItem(filename.decode("utf-8", "replace") if filename else None, bytes(part["data"])))
            continue
        try:
            options[name] = orjson.loads(bytes(part["data"]))
        except orjson.JSONDecodeError:
            raise ApiError(422, "invalid_value", f"form field {name} must be true, false or a number") from None
    return images, options


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_multipart", f"{what} is not UTF-8") from None
