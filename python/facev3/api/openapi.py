"""The OpenAPI document, served at /openapi.json and rendered at /docs by the packaged Swagger UI
(facev3/web/docs.html). Request options are documented from the parser's own tables
(facev3.api.requests), so the two cannot differ."""

from facev3.api.formats import JSON, MSGPACK
from facev3.api.requests import EMBED_OPTIONS, IMAGE_FIELD, RERANK_OPTIONS, Option

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
FLOATS = {"type": "array", "items": {"type": "number"}}
B64 = {"type": "string", "description": "base64 of little-endian float32 values"}


def option_schema(option: Option) -> dict:
    schema = {"type": option.type, "description": option.description}
    if option.default is not None:
        schema["default"] = option.default
    if option.choices:
        schema["enum"] = list(option.choices)
    if option.minimum is not None:
        schema["minimum"] = option.minimum
    if option.maximum is not None:
        schema["maximum"] = option.maximum
    return schema


def options_schema(table: tuple[Option, ...]) -> dict:
    return {option.name: option_schema(option) for option in table}


FACE = {
    "type": "object",
    "properties": {
        "bbox": {**FLOATS, "minItems": 4, "maxItems": 4},
        "score": {"type": "number"},
        "landmarks": {"type": "array", "items": FLOATS},
        "embedding": FLOATS,
        "norm": {"type": "number"},
        "aligned": {"type": "string"},
    },
}
IMAGE_RESULT = {
    "type": "object",
    "properties": {
        "index": {"type": "integer"},
        "id": {},
        "status": {"enum": ["ok", "error"]},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "faces": {"type": "array", "items": FACE},
        "error": ERROR["properties"]["error"],
        "duplicate_of": {"type": "integer"},
    },
}


def _errors(*statuses: int) -> dict:
    return {str(s): {"description": "error", "content": {"application/json": {"schema": ERROR}}} for s in statuses}


def _json(schema: dict) -> dict:
    return {"content": {JSON: {"schema": schema}}}


def _wire(schema: dict) -> dict:
    """JSON, or MessagePack with the same fields (vectors and images may be binary there)."""
    return {"content": {JSON: {"schema": schema}, MSGPACK: {"schema": schema, "description": MSGPACK_NOTE}}}


MSGPACK_NOTE = (
    "The same fields as JSON; vectors (query, embedding) may be binary little-endian float32 and images binary "
    "bytes. A response is MessagePack when Accept names application/msgpack; its embeddings are then binary float32."
)


def document() -> dict:
    embed_json = {
        "type": "object",
        "required": [IMAGE_FIELD],
        "properties": {
            IMAGE_FIELD: {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"type": "string", "description": "base64 image bytes"},
                        {"type": "object", "required": ["data"], "properties": {"id": {}, "data": {"type": "string"}}},
                    ]
                },
            },
            **options_schema(EMBED_OPTIONS),
        },
    }
    embed_multipart = {
        "type": "object",
        "properties": {
            IMAGE_FIELD: {"type": "array", "items": {"type": "string", "format": "binary"}},
            **options_schema(EMBED_OPTIONS),
        },
    }
    rerank_body = {
        "type": "object",
        "required": ["candidates"],
        "properties": {
            "query": FLOATS,
            "query_b64": B64,
            "candidates": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                        "embedding": FLOATS,
                        "embedding_b64": B64,
                    },
                },
            },
            **options_schema(RERANK_OPTIONS),
        },
    }
    rerank_result = {
        "type": "object",
        "properties": {
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {},
                        "score": {"type": "number"},
                        "cosine": {"type": "number"},
                        "match": {"type": "boolean"},
                    },
                },
            },
            "threshold": {"type": "number"},
            "diagnostics": {"type": "object"},
            "debug": {"type": "object"},
        },
    }
    simple = {"200": {"description": "ok", **_json({"type": "object"})}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "facev3", "version": "1", "description": "Face embeddings and calibrated re-ranking."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": {
            "/v1/embeddings": {
                "post": {
                    "summary": "Detect, align and embed every face of one or many images",
                    "requestBody": {
                        "required": True,
                        "content": {
                            **_wire(embed_json)["content"],
                            "multipart/form-data": {"schema": embed_multipart},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "per image, in input order",
                            **_wire(
                                {
                                    "type": "object",
                                    "properties": {
                                        "model": {"type": "string"},
                                        "embedding_size": {"type": "integer"},
                                        "normalized": {"type": "boolean"},
                                        "images": {"type": "array", "items": IMAGE_RESULT},
                                        "timings_ms": {"type": "object"},
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 413, 415, 422, 503),
                    },
                }
            },
            "/v1/rerank": {
                "post": {
                    "summary": "Score candidates (e.g. the Milvus top-k) against a query embedding",
                    "requestBody": {"required": True, **_wire(rerank_body)},
                    "responses": {
                        "200": {"description": "results by score", **_wire(rerank_result)},
                        **_errors(400, 401, 413, 415, 422, 503),
                    },
                }
            },
            "/v1/info": {
                "get": {"summary": "Models, embedding size, calibration, thresholds, version", "responses": simple}
            },
            "/healthz": {
                "get": {"summary": "Process alive and the rerank library loaded", "security": [], "responses": simple}
            },
            "/readyz": {"get": {"summary": "Inference backend ready", "responses": {**simple, **_errors(503)}}},
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": [],
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
        },
    }
