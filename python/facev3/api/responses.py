"""Pipeline and rerank results -> the payloads of the API (and of the CLI's records), for the
response's wire format (facev3.api.formats)."""

import cv2
import numpy as np
import pybase64

from facev3.api.errors import ApiError
from facev3.api.formats import JSON_FORMAT, WireFormat
from facev3.api.requests import EmbedRequest, RerankRequest
from facev3.core.errors import FaceError
from facev3.core.models import EmbedderSpec
from facev3.core.types import Face, ImageResult, StageTimes


def png_base64(crop_rgb: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(crop_rgb[..., ::-1]))
    assert ok, "PNG encoding of a 112x112x3 uint8 crop cannot fail"
    return pybase64.b64encode(encoded.tobytes()).decode()


def error_payload(error: ApiError | FaceError) -> dict:
    return {"code": error.code, "message": error.message}


def face_payload(face: Face, *, landmarks: bool = True, embedding: bool = True, wire: WireFormat = JSON_FORMAT) -> dict:
    payload = {
        "bbox": face.box.tolist(),
        "score": face.score,
        "norm": face.norm,
        "quality": face.quality.score,
        "quality_factors": face.quality.factors(),
    }
    if embedding:
        payload["embedding"] = wire.vector(face.embedding)
    if landmarks:
        payload["landmarks"] = face.landmarks.tolist()
    if face.aligned is not None:
        payload["aligned"] = png_base64(face.aligned)
    return payload


def embed_response(
    request: EmbedRequest, results: list[ImageResult], times: StageTimes, model: EmbedderSpec, wire: WireFormat
) -> dict:
    """`results` are the pipeline's for the request's images without a request error, in order;
    each image's entry keeps its place and index in the request."""
    passed = [index for index, item in enumerate(request.images) if item.error is None]
    results_by_index = {passed[r.index]: r for r in results}
    images = []
    for index, item in enumerate(request.images):
        entry = {"index": index, "id": item.id}
        result = results_by_index.get(index)
        error = item.error or (result.error if result else None)
        if error is not None:
            images.append(entry | {"status": "error", "error": error_payload(error), "faces": []})
            continue
        entry |= {
            "status": "ok",
            "width": result.width,
            "height": result.height,
            "faces": [face_payload(f, landmarks=request.return_landmarks, wire=wire) for f in result.faces],
        }
        if result.duplicate_of is not None:
            entry["duplicate_of"] = passed[result.duplicate_of]
        images.append(entry)
    return {
        "model": model.tag,
        "embedding_size": model.embedding_size,
        "normalized": request.options.normalize,
        "images": images,
        "timings_ms": {stage: round(ms, 3) for stage, ms in times.as_dict().items()},
    }


def rerank_response(request: RerankRequest, result, calibration: str, elapsed_s: float) -> dict:
    order = result.order.tolist()
    score, cosine, match = result.score.tolist(), result.cosine.tolist(), result.match.tolist()
    payload = {
        "results": [{"id": request.ids[i], "score": score[i], "cosine": cosine[i], "match": match[i]} for i in order],
        "threshold": request.threshold,
        "diagnostics": {
            "latency_ms": round(elapsed_s * 1e3, 3),
            "candidate_count": len(request.ids),
            "method": request.method,
            "calibration": calibration,
        },
    }
    if request.debug:
        similarity = result.similarity.tolist()
        # A list in the order of `results`: keyed by id, ids 1 and "1" would merge.
        payload["debug"] = {"similarity": [similarity[i] for i in order], "dim": int(request.candidates.shape[1])}
    return payload
