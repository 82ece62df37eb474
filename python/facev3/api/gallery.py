"""POST /v1/gallery/search, when FACEV3_GALLERY names a Milvus gallery (`facev3 gallery add`
enrols it): the largest face of one photo against the gallery, Milvus' top-k re-ranked as
/v1/rerank does, each result with its label, photo and aligned crop."""

from facev3.api.errors import ApiError
from facev3.api.requests import RERANK_OPTIONS, Option, image_item, load_object, read_options, reject_unknown
from facev3.api.responses import error_payload
from facev3.config import Settings
from facev3.core.models import Calibration
from facev3.core.pipeline import Pipeline
from facev3.gallery.errors import GalleryError

GALLERY_OPTIONS = (
    Option("top_k", "integer", "gallery faces to return, best first", default=10, minimum=1, maximum=100),
    *(option for option in RERANK_OPTIONS if option.name in ("threshold", "method")),
)
CANDIDATES = 100  # Milvus' top-k, re-ranked down to top_k


def parse_gallery_request(content_type: str, body: bytes, settings: Settings) -> tuple[bytes | None, object, dict]:
    payload, _ = load_object(content_type, body)
    reject_unknown(payload, {"image"} | {o.name for o in GALLERY_OPTIONS}, "the request")
    if "image" not in payload:
        raise ApiError(422, "missing_field", "image is missing: a base64 photo (binary in MessagePack)")
    item = image_item(payload["image"], 0)
    return item.data, item.error, read_options(GALLERY_OPTIONS, payload, settings)


def gallery_search(
    store, pipeline: Pipeline, calibration: Calibration, settings: Settings, content_type: str, body: bytes
) -> dict:
    from facev3.gallery.search import rank, result_record

    data, request_error, options = parse_gallery_request(content_type, body, settings)
    answer = {"model": store.model_tag, "collection": store.name, "face": None, "results": []}
    if request_error is not None:
        return answer | {"error": error_payload(request_error)}
    (result,), _ = pipeline.run([data])
    face = result.largest_face()
    if face is None:
        error = result.error.code if result.error else "no_face"
        message = result.error.message if result.error else "no face was found in the photo"
        return answer | {"error": {"code": error, "message": message}}
    try:
        (hits,) = store.search(face.embedding[None], store.model_tag, CANDIDATES)
        ranked = rank(
            face.embedding,
            hits,
            calibration,
            method=options["method"],
            threshold=options["threshold"],
            show=options["top_k"],
        )
        crops = store.get([r.hit.id for r in ranked], ["crop"])
    except GalleryError as error:
        raise ApiError(503, "gallery_unavailable", error.message, retry_after=2) from None
    answer["face"] = {"bbox": face.box.tolist(), "score": face.score, "quality": face.quality.score}
    answer["results"] = [result_record(r) | {"crop": crops.get(r.hit.id, {}).get("crop", "")} for r in ranked]
    return answer
