"""The usual rerank bodies read in bulk, without a Python object per value.

A JSON rerank whose query and candidates all have the usual shape (every candidate exactly
{id, embedding} with a list of numbers, or exactly {id, embedding_b64}) is read by simdjson:
float lists go straight into float buffers, base64 rows are decoded into one matrix. Anything
unusual returns None, and the general parse (orjson, then one candidate at a time) names the
problem, so a wrong guess costs time, never correctness.
"""

import threading

import numpy as np
import pybase64
import simdjson

# A simdjson parser keeps its buffers for the next document: fresh ones page-fault on first touch
# (3 ms of a 4 MB float rerank). Each thread keeps one for bodies the heap serves warm
# (facev3.http.memory) and larger ones get their own, so no worker keeps a parser of 50 MB.
REUSED_PARSER_BYTES = 8 << 20
_threads = threading.local()

Parsed = tuple[dict, np.ndarray, list, np.ndarray]  # the other fields, query, ids, candidate matrix


def strict_b64decode(text: str) -> bytes:
    return pybase64.b64decode(text, validate=True)


def base64_rows(texts: list, dim: int) -> np.ndarray | None:
    """Rows of base64 float32 as one (len(texts), dim) matrix, or None when any is not exactly dim
    values of valid base64."""
    width = 4 * -(-4 * dim // 3)  # base64 characters of one padded float32 row
    if not all(type(text) is str and len(text) == width for text in texts):
        return None
    try:
        rows = list(map(strict_b64decode, texts))
    except ValueError:
        return None
    if not all(len(row) == 4 * dim for row in rows):  # base64 padding can differ between rows of one width
        return None
    return np.frombuffer(b"".join(rows), "<f4").reshape(len(texts), dim)


def json_rerank(body: bytes | bytearray) -> Parsed | None:
    """The usual JSON rerank, or None. Booleans, strings and nulls in a float list make simdjson
    refuse it; a list nested in a float list is caught by counting the body's "[": exactly the
    lists read, or step aside."""
    try:
        document = _parse(body)
        if not isinstance(document, simdjson.Object):
            return None
        keys = list(document.keys())
        if len(set(keys)) != len(keys) or ("query" in keys) == ("query_b64" in keys):  # orjson keeps a last key
            return None
        candidates = list(document["candidates"]) if isinstance(document.get("candidates"), simdjson.Array) else []
        if not candidates or not all(isinstance(item, simdjson.Object) and len(item) == 2 for item in candidates):
            return None
        key = "embedding_b64" if "embedding_b64" in candidates[0] else "embedding"
        if not all("id" in item and key in item for item in candidates):
            return None
        ids = [item["id"] for item in candidates]
        if not all(type(i) is str or type(i) is int for i in ids) or len(set(ids)) != len(ids):
            return None
        query = _float_list(document["query"]) if "query" in keys else _base64_vector(document["query_b64"])
        if query is None or not len(query):
            return None
        if key == "embedding_b64":
            matrix = base64_rows([item[key] for item in candidates], len(query))
        elif _brackets(body) == 1 + len(candidates) + ("query" in keys):  # the array and each float list
            matrix = _float_lists([item[key] for item in candidates], len(query))
        else:
            return None
        if matrix is None:
            return None
        others = {name: document[name] for name in keys if name not in ("query", "query_b64", "candidates")}
    except (ValueError, TypeError, RuntimeError, KeyError):  # simdjson's refusals: the general parse explains
        return None
    return others, query, ids, matrix


def _parse(body: bytes | bytearray) -> simdjson.Object | simdjson.Array | object:
    if len(body) > REUSED_PARSER_BYTES:
        return simdjson.Parser().parse(bytes(body))
    parser = getattr(_threads, "parser", None)
    if parser is None:
        parser = _threads.parser = simdjson.Parser()
    return parser.parse(bytes(body))


def _float_list(value) -> np.ndarray | None:
    """A JSON array of numbers as float32, or None."""
    if not isinstance(value, simdjson.Array):
        return None
    values = np.frombuffer(value.as_buffer(of_type="d"), np.float64)
    return values.astype(np.float32) if len(values) == len(value) else None


def _float_lists(values: list, dim: int) -> np.ndarray | None:
    matrix = np.empty((len(values), dim), np.float32)
    for i, value in enumerate(values):
        row = _float_list(value)
        if row is None or len(row) != dim:
            return None
        matrix[i] = row
    return matrix


def _brackets(body: bytes | bytearray) -> int:
    """How many "[" the body holds (numpy counts 2.5 x faster than bytes.count)."""
    return int(np.count_nonzero(np.frombuffer(body, np.uint8) == ord("[")))


def _base64_vector(value) -> np.ndarray | None:
    if type(value) is not str:
        return None
    raw = strict_b64decode(value)  # a ValueError steps aside
    return np.frombuffer(raw, "<f4") if len(raw) % 4 == 0 else None
