"""Pipeline and rerank results -> the JSON payloads of the API."""

import cv2
import numpy as np
import pybase64

from facev3.pipeline import Face, ImageResult


def png_base64(crop_rgb: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(crop_rgb[..., ::-1]))
    assert ok, "PNG encoding of a 112x112x3 uint8 crop cannot fail"
    return pybase64.b64encode(encoded.tobytes()).decode()


def face_payload(face: Face, landmarks: bool) -> dict:
    payload = {"bbox": face.box.tolist(), "score": face.score, "embedding": face.embedding.tolist(), "norm": face.norm}
    if landmarks:
        payload["landmarks"] = face.landmarks.tolist()
    if face.aligned is not None:
        payload["aligned"] = png_base64(face.aligned)
    return payload


def image_payload(result: ImageResult, identifier, request_error, landmarks: bool) -> dict:
    entry = {"index": result.index, "id": identifier}
    error = request_error or result.error
    if error is not None:
        return entry | {"status": "error", "error": {"code": error.code, "message": error.message}, "faces": []}
    entry |= {"status": "ok", "width": result.width, "height": result.height,
              "faces": [face_payload(f, landmarks) for f in result.faces]}
    if result.duplicate_of is not None:
        entry["duplicate_of"] = result.duplicate_of
    return entry


def embed_response(results: list[ImageResult], parsed, stage_ms: dict, service) -> dict:
    return {
        "model": service.embedder_name,
        "embedding_size": service.pipeline.backend.embedding_size,
        "normalized": parsed.options.normalize,
        "images": [image_payload(r, parsed.ids[r.index], parsed.errors.get(r.index), parsed.return_landmarks)
                   for r in results],
        "timings_ms": {stage: round(ms, 3) for stage, ms in stage_ms.items()},
    }


def rerank_response(parsed, result, calibration: str, elapsed_s: float) -> dict:
    order = result.order.tolist()
    score, cosine, match = result.score.tolist(), result.cosine.tolist(), result.match.tolist()
    payload = {
        "results": [{"id": parsed.ids[i], "score": score[i], "cosine": cosine[i], "match": match[i]} for i in order],
        "threshold": parsed.threshold,
        "diagnostics": {"latency_ms": round(elapsed_s * 1e3, 3), "candidate_count": len(parsed.ids),
                        "method": parsed.method, "calibration": calibration},
    }
    if parsed.debug:
        similarity = result.similarity.tolist()
        payload["debug"] = {"similarity": {str(parsed.ids[i]): similarity[i] for i in order},
                            "dim": int(parsed.candidates.shape[1])}
    return payload
