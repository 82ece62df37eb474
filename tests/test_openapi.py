"""The OpenAPI document says what the parser accepts: the same fields, types, ranges and choices
(both are read from the request tables), and the re-rank methods are the native core's."""

import numpy as np
import orjson
import pytest

from facev3 import native
from facev3.api import openapi
from facev3.api.errors import ApiError
from facev3.api.requests import EMBED_OPTIONS, RERANK_OPTIONS, RERANK_VECTORS, parse_embed_request, parse_rerank_request
from facev3.config import Settings
from facev3.core import scoring

SETTINGS = Settings()
QUERY = {"query": [1.0, 0.0], "candidates": [{"id": 1, "embedding": [1.0, 1.0]}]}


def request_schema(path: str, media: str = "application/json") -> dict:
    return openapi.document()["paths"][path]["post"]["requestBody"]["content"][media]["schema"]


def test_documented_fields_are_exactly_the_accepted_fields():
    assert set(request_schema("/v1/rerank")["properties"]) == RERANK_VECTORS | {o.name for o in RERANK_OPTIONS}
    assert set(request_schema("/v1/rerank", "application/msgpack")["properties"]) == RERANK_VECTORS | {
        o.name for o in RERANK_OPTIONS
    }
    for media in ("application/json", "application/msgpack", "multipart/form-data"):
        assert set(request_schema("/v1/embeddings", media)["properties"]) == {"images"} | {
            o.name for o in EMBED_OPTIONS
        }


def parse(path: str, fields: dict):
    if path == "/v1/rerank":
        return parse_rerank_request("application/json", orjson.dumps({**QUERY, **fields}), SETTINGS)
    return parse_embed_request("application/json", orjson.dumps({"images": ["aGk="], **fields}), SETTINGS)


def valid_and_invalid(schema: dict) -> tuple[list, list]:
    if "enum" in schema:
        return schema["enum"], ["not-" + schema["enum"][0]]
    if schema["type"] == "boolean":
        return [True, False], [1, "yes"]
    if schema["type"] == "string":
        return ["sface@2021dec"], [5, True]
    low, high = schema.get("minimum"), schema.get("maximum")
    valid = [v for v in (low, high) if v is not None]
    invalid = ["1"] + ([low - 1] if low is not None else []) + ([high + 1] if high is not None else [])
    return valid or [1], invalid + ([0.5] if schema["type"] == "integer" else [])


@pytest.mark.parametrize("path", ["/v1/rerank", "/v1/embeddings"])
def test_every_documented_option_is_accepted_in_range_and_refused_outside_it(path):
    vectors = RERANK_VECTORS | {"images"}
    for name, schema in request_schema(path)["properties"].items():
        if name in vectors:
            continue
        valid, invalid = valid_and_invalid(schema)
        for value in valid:
            parse(path, {name: value})
        for value in invalid:
            with pytest.raises(ApiError) as error:
                parse(path, {name: value})
            assert error.value.code == "invalid_value" and name in error.value.message


def test_the_documented_methods_are_the_native_cores():
    methods = request_schema("/v1/rerank")["properties"]["method"]["enum"]
    assert methods == list(scoring.METHODS)
    query, candidates = np.eye(2, dtype=np.float32)[0], np.eye(2, dtype=np.float32)
    for method in methods:
        assert (
            native.rerank(query, candidates, calibration_threshold=0.5, calibration_scale=10.0, method=method).order[0]
            == 0
        )
    with pytest.raises(ValueError):
        native.rerank(query, candidates, calibration_threshold=0.5, calibration_scale=10.0, method="bm25")
