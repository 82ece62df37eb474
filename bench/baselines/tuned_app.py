"""The strongest plain alternative for /v1/rerank, as a load-test baseline: FastAPI + uvicorn
without pydantic, the body parsed with orjson, the candidate matrix built with one np.array call
(or one base64 decode per row and one frombuffer), numpy scoring and an orjson response. The same
calibration and answer as facev3's cosine method.

    uvicorn bench.baselines.tuned_app:app --port 8002
"""

import base64

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from facev3.models import registry

app = FastAPI()
CALIBRATION = registry.load("sface").spec.calibration


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": "invalid", "message": message}}, status_code=status)


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.post("/v1/rerank")
async def rerank(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body())
        candidates = body["candidates"]
        if "query_b64" in body:
            query = np.frombuffer(base64.b64decode(body["query_b64"]), "<f4")
            rows = np.frombuffer(b"".join(base64.b64decode(c["embedding_b64"]) for c in candidates), "<f4")
            rows = rows.reshape(len(candidates), -1)
        else:
            query = np.array(body["query"], np.float32)
            rows = np.array([c["embedding"] for c in candidates], np.float32)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as failure:
        return error(422, str(failure))
    if rows.ndim != 2 or rows.shape[1] != len(query):
        return error(422, "dimension mismatch")
    cosine = (rows / np.linalg.norm(rows, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))
    score = 1 / (1 + np.exp(-CALIBRATION.scale * (cosine - CALIBRATION.threshold)))
    order = np.argsort(-score, kind="stable")[: body.get("top_k")]
    threshold = body.get("threshold", 0.5)
    results = [
        {
            "id": candidates[i]["id"],
            "score": float(score[i]),
            "cosine": float(cosine[i]),
            "match": bool(score[i] >= threshold),
        }
        for i in order
    ]
    return Response(orjson.dumps({"results": results, "threshold": threshold}), media_type="application/json")
