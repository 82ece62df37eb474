"""The strongest plain alternative, as a load-test baseline: FastAPI + uvicorn without pydantic,
bodies parsed with orjson, answers written with orjson.
- /v1/rerank: the candidate matrix built with one np.array call (or one base64 decode per row and
  one frombuffer), numpy scoring; the same calibration and answer as facev3's cosine method.
- /v1/embeddings: OpenCV decodes, onnxruntime runs the same cleaned YuNet and SFace files as
  facev3 (one thread each, requests in parallel on FastAPI's thread pool), YuNet's heads are
  decoded in numpy with OpenCV's NMS, and faces are aligned to the ArcFace template with
  cv2.warpAffine: what a careful engineer writes in an afternoon, with facev3's embeddings.

    FACEV3_BASELINE_MODELS=DIR uvicorn bench.baselines.tuned_app:app --port 8002
"""

import base64
import os
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from facev3.core.models import ARCFACE_TEMPLATE
from facev3.models import registry

cv2.setNumThreads(1)
app = FastAPI()
CALIBRATION = registry.load("sface").spec.calibration
MODELS = Path(os.environ.get("FACEV3_BASELINE_MODELS", "build/onnx"))
TEMPLATE = np.array(ARCFACE_TEMPLATE, np.float32)


def session(name: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(MODELS / name), options, providers=["CPUExecutionProvider"])


yunet, sface = session("yunet-2023mar.onnx"), session("sface-2021dec.onnx")
YUNET_OUTPUTS = [output.name for output in yunet.get_outputs()]


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


def detect(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YuNet on a BGR image (downscaled to 640 px, padded to multiples of 32): boxes (x, y, w, h),
    scores and five landmarks, in the image's own pixels."""
    scale = min(1.0, 640 / max(image.shape[:2]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    height, width = small.shape[:2]
    blob = np.zeros((1, 3, -(-height // 32) * 32, -(-width // 32) * 32), np.float32)
    blob[0, :, :height, :width] = small.transpose(2, 0, 1)
    out = dict(zip(YUNET_OUTPUTS, yunet.run(YUNET_OUTPUTS, {"input": blob}), strict=True))
    boxes, scores, marks = [], [], []
    for stride in (8, 16, 32):
        score = np.sqrt(np.clip(out[f"cls_{stride}"][0, :, 0], 0, 1) * np.clip(out[f"obj_{stride}"][0, :, 0], 0, 1))
        keep = np.flatnonzero(score >= 0.7)
        cols = blob.shape[3] // stride
        cell = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)
        bbox = out[f"bbox_{stride}"][0, keep]
        size = np.exp(bbox[:, 2:4]) * stride
        boxes.append(np.hstack([(cell + bbox[:, :2]) * stride - size / 2, size]))
        marks.append((out[f"kps_{stride}"][0, keep].reshape(-1, 5, 2) + cell[:, None]) * stride)
        scores.append(score[keep])
    boxes, scores, marks = (np.concatenate(parts) for parts in (boxes, scores, marks))
    kept = np.asarray(cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), 0.7, 0.3), int).ravel()
    return boxes[kept] / scale, scores[kept], marks[kept] / scale


def embed(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """SFace embeddings (L2-normalized) of the faces aligned from the full-size BGR image."""
    crops = np.empty((len(landmarks), 112, 112, 3), np.uint8)
    for crop, points in zip(crops, landmarks, strict=True):
        matrix, _ = cv2.estimateAffinePartial2D(points, TEMPLATE, method=cv2.LMEDS)
        crop[:] = cv2.warpAffine(image, matrix, (112, 112))
    features = sface.run(["fc1"], {"data": crops[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32)})[0]
    return features / np.linalg.norm(features, axis=1, keepdims=True)


def embed_images(body: bytes) -> bytes:
    images = []
    for index, data in enumerate(orjson.loads(body)["images"]):
        image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            images.append({"index": index, "status": "error"})
            continue
        boxes, scores, landmarks = detect(image)
        vectors = embed(image, landmarks) if len(boxes) else np.empty((0, 128), np.float32)
        faces = [
            {"bbox": box.tolist(), "score": float(score), "landmarks": points.tolist(), "embedding": vector.tolist()}
            for box, score, points, vector in zip(boxes, scores, landmarks, vectors, strict=True)
        ]
        images.append({"index": index, "status": "ok", "faces": faces})
    return orjson.dumps({"images": images}, option=orjson.OPT_SERIALIZE_NUMPY)


@app.post("/v1/embeddings")
async def embeddings(request: Request) -> Response:
    body = await request.body()
    return Response(await run_in_threadpool(embed_images, body), media_type="application/json")
