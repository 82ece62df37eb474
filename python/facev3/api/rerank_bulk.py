"""Rerank bodies read without a Python object per vector value for the usual requests.

The usual request with base64 vectors in JSON, or binary ones in MessagePack (the query and every
candidate exactly {id, embedding}), is read in one native pass straight into the matrix
(cpp/include/facev3/rerank_wire.h). The usual JSON request with float lists is read by simdjson
straight into float buffers. Any other JSON object comes back as Python objects (the last of
repeated keys wins, as in orjson) for the general parse; simdjson reads those 1.6 x faster than
orjson. What simdjson refuses is left to orjson, whose message names the problem, so a wrong guess
costs time, never correctness.
"""

import threading

import numpy as np
import orjson
import ormsgpack
import simdjson

from facev3 import native
from facev3.api.formats import JSON_FORMAT, MSGPACK_FORMAT, request_format

# A simdjson parser keeps its buffers for the next document: fresh ones page-fault on first touch
# (3 ms of a 4 MB float rerank). Each thread keeps one for bodies the heap serves warm
# (facev3.http.memory) and larger ones get their own, so no worker keeps a parser of 50 MB.
REUSED_PARSER_BYTES = 8 << 20
_threads = threading.local()

UsualRequest = tuple[dict, np.ndarray, list, np.ndarray]  # the other fields, query, ids, candidate matrix


def read_body(
    content_type: str, body: bytes | bytearray, max_candidates: int
) -> tuple[UsualRequest | None, dict | None]:
    """(a usual request read into buffers, None), or (None, a JSON body as a dict), or (None, None)
    for the general parse to read. The native readers leave a request of more than max_candidates
    to the general parse, which refuses it; float lists come back whatever their count, for the
    caller to check."""
    wire = request_format(content_type)
    if wire is JSON_FORMAT:
        return read_json(body, max_candidates)
    if wire is MSGPACK_FORMAT:
        return _read_natively(native.read_rerank_msgpack, ormsgpack.unpackb, body, max_candidates), None
    return None, None


def read_json(body: bytes | bytearray, max_candidates: int) -> tuple[UsualRequest | None, dict | None]:
    """As read_body; (None, None) when simdjson refuses the body, it is not an object, or it is
    another shape past REUSED_PARSER_BYTES."""
    usual = _read_natively(native.read_rerank_b64, orjson.loads, body, max_candidates)
    if usual is not None:
        return usual, None
    try:
        document = _parse(body)
    except (ValueError, RuntimeError):  # simdjson's refusals (UnicodeDecodeError is a ValueError)
        return None, None
    if not isinstance(document, simdjson.Object):
        return None, None
    usual = _usual_float_lists(document, body)
    if usual is not None:
        return usual, None
    # A large body's Python objects would sit beside the parser's buffers (20 MB of base64 held
    # four times over); orjson reads it once the parser is gone.
    return None, document.as_dict() if len(body) <= REUSED_PARSER_BYTES else None


def _read_natively(reader, loads, body: bytes | bytearray, max_candidates: int) -> UsualRequest | None:
    """The native reader skips the other members (the options) unparsed: `loads` (orjson or
    ormsgpack) parses them, which also checks them."""
    read = reader(body, max_candidates)
    if read is None:
        return None
    others, query, ids, rows = read
    if len(set(ids)) != len(ids):
        return None
    try:
        return loads(others), query, ids, rows
    except ValueError:  # orjson's and ormsgpack's decode errors
        return None


def _parse(body: bytes | bytearray) -> object:
    if len(body) > REUSED_PARSER_BYTES:
        return simdjson.Parser().parse(bytes(body))
    parser = getattr(_threads, "parser", None)
    if parser is None:
        parser = _threads.parser = simdjson.Parser()
    return parser.parse(bytes(body))


def _usual_float_lists(document: simdjson.Object, body: bytes | bytearray) -> UsualRequest | None:
    """Booleans, strings and nulls in a list make as_buffer refuse it; a list nested in a list is
    caught by counting the body's "[": exactly the lists read, or step aside."""
    try:
        keys = list(document.keys())
        if len(set(keys)) != len(keys) or "query" not in keys or "query_b64" in keys or "candidates" not in keys:
            return None
        candidates = document["candidates"]
        if not isinstance(candidates, simdjson.Array) or not len(candidates):
            return None
        if _brackets(body) != len(candidates) + 2:  # the candidates' array, the query's, one per row
            return None
        query = _float_list(document["query"])
        if query is None or not len(query):
            return None
        ids, rows = [], np.empty((len(candidates), len(query)), np.float32)
        for i, item in enumerate(candidates):
            if not isinstance(item, simdjson.Object) or len(item) != 2:
                return None
            identifier, row = item["id"], _float_list(item["embedding"])
            if type(identifier) not in (str, int) or row is None or len(row) != len(query):
                return None
            ids.append(identifier)
            rows[i] = row
        if len(set(ids)) != len(ids):
            return None
        others = {key: document[key] for key in keys if key not in ("query", "candidates")}
    except (ValueError, TypeError, KeyError):
        return None
    return others, query, ids, rows


def _float_list(value) -> np.ndarray | None:
    """A JSON array of numbers as float32, or None."""
    if not isinstance(value, simdjson.Array):
        return None
    values = np.frombuffer(value.as_buffer(of_type="d"), np.float64)
    return values.astype(np.float32) if len(values) == len(value) else None


def _brackets(body: bytes | bytearray) -> int:
    """How many "[" the body holds (numpy counts 2.5 x faster than bytes.count)."""
    return int(np.count_nonzero(np.frombuffer(body, np.uint8) == ord("[")))
