"""The original plan's stack, as the load-test baseline: FastAPI + uvicorn + pydantic + numpy
scoring for /v1/rerank, and OpenCV's FaceDetectorYN + FaceRecognizerSF for /v1/embeddings, on the
same cleaned model files and the same payloads as facev3 (a written-down baseline, not a product).

    FACEV3_BASELINE_MODELS=DIR uvicorn bench.baselines.fastapi_app:app --port 8001
"""

import base64
import os
import threading
from pathlib import Path

import cv2
import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from facev3.models import registry

cv2.setNumThreads(1)
app = FastAPI()
MODELS = Path(os.environ.get("FACEV3_BASELINE_MODELS", "build/onnx"))
detector = cv2.FaceDetectorYN.create(str(MODELS / "yunet-2023mar.onnx"), "", (320, 320), 0.7, 0.3, 5000)
recognizer = cv2.FaceRecognizerSF.create(str(MODELS / "sface-2021dec.onnx"), "")
SFACE_CALIBRATION = registry.load("sface").spec.calibration
# OpenCV's DNN objects are not thread-safe and FastAPI runs sync endpoints on a thread pool
# (concurrent calls hung here): one image at a time through the models.
models_lock = threading.Lock()


class Candidate(BaseModel):
    id: str | int
    embedding: list[float] | None = None
    embedding_b64: str | None = None


class RerankBody(BaseModel):
    query: list[float] | None = None
    query_b64: str | None = None
    candidates: list[Candidate]
    threshold: float = 0.5
    top_k: int | None = None


def as_vector(floats, packed) -> np.ndarray:
    return np.frombuffer(base64.b64decode(packed), "<f4") if packed is not None else np.asarray(floats, np.float32)


@app.post("/v1/rerank")
def rerank(body: RerankBody) -> dict:
    query = as_vector(body.query, body.query_b64)
    rows = np.stack([as_vector(c.embedding, c.embedding_b64) for c in body.candidates])
    if rows.shape[1] != query.shape[0]:
        raise HTTPException(422, "dimension mismatch")
    cosine = (rows / np.linalg.norm(rows, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))
    score = 1 / (1 + np.exp(-SFACE_CALIBRATION.scale * (cosine - SFACE_CALIBRATION.threshold)))
    order = np.argsort(-score, kind="stable")[: body.top_k]
    return {
        "results": [
            {
                "id": body.candidates[i].id,
                "score": float(score[i]),
                "cosine": float(cosine[i]),
                "match": bool(score[i] >= body.threshold),
            }
            for i in order
        ]
    }


class EmbedBody(BaseModel):
    images: list[str]


@app.post("/v1/embeddings")
def embeddings(body: EmbedBody) -> dict:
    out = []
    for index, data in enumerate(body.images):
        image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            out.append({"index": index, "status": "error"})
            continue
        scale = min(1.0, 640 / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        results = []
        with models_lock:
            detector.setInputSize((small.shape[1], small.shape[0]))
            _, faces = detector.detect(small)
            for row in faces if faces is not None else []:
                full = row.copy()
                full[:14] /= scale
                feature = recognizer.feature(recognizer.alignCrop(image, full)).ravel()
                results.append(
                    {
                        "bbox": full[:4].tolist(),
                        "score": float(row[14]),
                        "embedding": (feature / np.linalg.norm(feature)).tolist(),
                    }
                )
        out.append({"index": index, "status": "ok", "faces": results})
    return {"images": out}


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}
