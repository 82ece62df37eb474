"""Framework-free HTTP handlers: HttpRequest -> HttpResponse, the route table, auth, the in-flight
bound and the error contract ({"error": {"code", "message"}}, never a traceback). Both adapters
(Granian RSGI, Robyn) only move bytes in and out of `Api.handle`, offloaded routes on a worker
thread from `offload_pool`."""

import hmac
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import facev3
from facev3 import native
from facev3.api import openapi, static
from facev3.api.errors import ApiError, from_call_error
from facev3.api.formats import JSON, MSGPACK, response_format
from facev3.api.messages import (
    HttpRequest,
    HttpResponse,
    declared_length,
    encoded,
    error_response,
    json_response,
)
from facev3.api.metrics import Metrics
from facev3.api.requests import parse_embed_request, parse_rerank_request
from facev3.api.responses import embed_response, rerank_response
from facev3.config import Settings
from facev3.core import scoring
from facev3.core.errors import CallError
from facev3.core.models import Calibration
from facev3.core.pipeline import Pipeline
from facev3.threads import compute_pool


@dataclass(frozen=True)
class Route:
    handler: Callable[[HttpRequest], HttpResponse]
    bound: "InflightBound | None" = None  # the in-flight bound the route counts against
    # Async adapters run the handler on a worker thread when the body is at least this many
    # bytes (0: always; None: never). Inference takes seconds and releases the GIL; a rerank of a
    # few hundred KB is a few ms of GIL-bound parsing that a thread hop only slows (measured 2.5x
    # fewer requests/s through the pool), but a 30 MB one would stall the event loop.
    offload_above: int | None = None
    # Answered without an API key: the page, its files, the docs and the OpenAPI document are the
    # same bytes for every deployment (they ship in the wheel), and a browser cannot send a key
    # when it loads a page; what they call (/v1/...) still needs one.
    public: bool = False


# Reranks of at least this many bytes leave the event loop.
RERANK_OFFLOAD_BYTES = 8 << 20  # a JSON rerank of 200 x 1,024 floats (4 MB, about 12 ms) stays inline


def route_path(path: str) -> str:
    """The route a path names. One trailing slash is ignored: Robyn drops it before the adapter
    sees the path, and both servers must route alike."""
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


def check_complete(request: HttpRequest) -> None:
    """A body shorter (or longer) than its Content-Length is an upload that broke off: both
    servers hand it over as if complete when the client goes away, and it must not be served."""
    declared = declared_length(request.headers)
    if declared is not None and declared != len(request.body):
        raise ApiError(
            400,
            "incomplete_body",
            f"the body has {len(request.body):,} of the {declared:,} bytes its Content-Length declares",
        )


def offload_pool(settings: Settings) -> ThreadPoolExecutor:
    """The threads that run offloaded routes: one per request either bound admits, and a few
    for light routes beside them, below the server threads' priority (facev3.threads)."""
    workers = settings.max_inflight + settings.max_rerank_inflight + 4
    return compute_pool(workers, "facev3", settings.inference_nice)


class InflightBound:
    """At most `limit` requests of its routes at a time; beyond it, requests are refused, not
    queued."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit, self.what, self._busy, self._lock = limit, what, 0, threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self._busy >= self.limit:
                return False
            self._busy += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._busy -= 1

    @property
    def full(self) -> bool:
        return self._busy >= self.limit

    def error(self) -> ApiError:
        return ApiError(
            503, "overloaded", f"more than {self.limit} {self.what} requests in flight; retry shortly", retry_after=1
        )


class Api:
    """The service's handlers over one pipeline and one calibration; built by facev3.bootstrap."""

    def __init__(self, settings: Settings, pipeline: Pipeline, calibration: Calibration, gallery=None) -> None:
        """gallery: an open facev3.gallery.store.GalleryStore when FACEV3_GALLERY names one."""
        self.settings, self.pipeline, self.calibration, self.gallery = settings, pipeline, calibration, gallery
        self.log = logging.getLogger("facev3")
        self.metrics = Metrics()
        inference = InflightBound(settings.max_inflight, "inference")
        reranks = InflightBound(settings.max_rerank_inflight, "rerank")
        self.static = static.StaticFiles()
        # The route table, shared by both adapters: path -> method -> Route. Exact paths only:
        # each packaged web file is an entry of its own (/static/...), listed when the Api is built.
        self.routes: dict[str, dict[str, Route]] = {
            "/v1/embeddings": {"POST": Route(self.embeddings, inference, offload_above=0)},
            "/v1/rerank": {"POST": Route(self.rerank, reranks, offload_above=RERANK_OFFLOAD_BYTES)},
            "/v1/info": {"GET": Route(self.info)},
            "/healthz": {"GET": Route(self.healthz)},
            "/readyz": {"GET": Route(self.readyz, offload_above=0)},  # may wait on Triton
            "/metrics": {"GET": Route(self.metrics_page)},
            "/openapi.json": {"GET": Route(self.openapi, public=True)},
            "/docs": {"GET": Route(self.static.page("docs.html"), public=True)},
            "/": {"GET": Route(self.static.page("index.html"), public=True)},
            **{path: {"GET": Route(self.static.asset, public=True)} for path in self.static.asset_paths},
        }
        if gallery is not None:
            self.routes["/v1/gallery/search"] = {"POST": Route(self.gallery_search, inference, offload_above=0)}

    def offloaded(self, request: HttpRequest) -> bool:
        """Whether an async adapter should run this request on a worker thread."""
        methods = self.routes.get(route_path(request.path), {})
        route = methods.get("GET" if request.method == "HEAD" else request.method)
        return route is not None and route.offload_above is not None and len(request.body) >= route.offload_above

    def admit(self, method: str, path: str, headers: dict[str, str]) -> HttpResponse | None:
        """The error a request gets from its head alone (no route, a method the route lacks, no
        valid key, no capacity), for adapters that answer before reading the body: a refused
        client costs a header parse, not an upload. None when the request may go on."""
        path = route_path(path)
        try:
            route = self._route(method, path)
            self._authenticate(route, path, headers)
        except ApiError as error:
            return error_response(error)
        if route is not None and route.bound is not None and route.bound.full:
            return error_response(route.bound.error())
        return None

    def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request = replace(request, path=route_path(request.path))
        endpoint = request.path if request.path in self.routes else "unmatched"
        try:
            response = self._dispatch(request)
        except ApiError as error:
            response = error_response(error)
        except CallError as error:
            response = error_response(from_call_error(error))
        except Exception:
            self.log.exception("unhandled error on %s %s", request.method, request.path)
            response = error_response(ApiError(500, "internal_error", "internal error; see the service log"))
        self.metrics.observe_request(endpoint, response.status, time.perf_counter() - started)
        return response

    def _route(self, method: str, path: str) -> Route | None:
        """The route of a request; None for OPTIONS (answered from the table alone)."""
        methods = self.routes.get(path)
        if methods is None:
            raise ApiError(404, "not_found", f"no route {path}")
        if method == "OPTIONS":
            return None
        route = methods.get("GET" if method == "HEAD" else method)
        if route is None:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{path} accepts {', '.join(self._allowed(path))}",
                headers=(("allow", ", ".join(self._allowed(path))),),
            )
        return route

    def _allowed(self, path: str) -> list[str]:
        methods = list(self.routes[path])
        return [*methods, *(["HEAD"] if "GET" in methods else []), "OPTIONS"]

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        route = self._route(request.method, request.path)
        if route is None:
            return HttpResponse(204, b"", headers=(("allow", ", ".join(self._allowed(request.path))),))
        self._authenticate(route, request.path, request.headers)
        check_complete(request)
        response = self._run(route, request)
        return (
            HttpResponse(response.status, b"", response.content_type, response.headers)
            if (request.method == "HEAD")
            else response
        )

    def _run(self, route: Route, request: HttpRequest) -> HttpResponse:
        if route.bound is None:
            return route.handler(request)
        if not route.bound.try_enter():
            raise route.bound.error()
        try:
            with self.metrics.inflight.track_inprogress():
                return route.handler(request)
        finally:
            route.bound.leave()

    def _authenticate(self, route: Route | None, path: str, headers: dict[str, str]) -> None:
        keys = self.settings.api_keys
        if not keys or route is None or route.public or path in self.settings.open_paths:
            return
        given = headers.get("x-api-key", "")
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            given = authorization[7:].strip()
        # Compare against every key in constant time (no short-circuit), so timing tells nothing
        # about which matched.
        matches = [hmac.compare_digest(given.encode(), key.encode()) for key in keys]
        if not any(matches):
            raise ApiError(
                401, "unauthorized", "missing or invalid API key (Authorization: Bearer KEY or X-API-Key: KEY)"
            )

    # ---- endpoints -----------------------------------------------------------------------

    def embeddings(self, request: HttpRequest) -> HttpResponse:
        parsed = parse_embed_request(request.headers.get("content-type", ""), request.body, self.settings)
        images = [item.data for item in parsed.images if item.error is None]  # request errors stay out
        deadline = time.monotonic() + self.settings.request_timeout_s
        results, times = self.pipeline.run(images, parsed.options, deadline)
        self.metrics.observe_pipeline(times, results)
        backend = self.pipeline.backend
        wire = response_format(request.headers.get("accept", ""))
        return encoded(200, embed_response(parsed, results, times, backend.embedder, wire), wire)

    def rerank(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        parsed = parse_rerank_request(request.headers.get("content-type", ""), request.body, self.settings)
        model = self.pipeline.backend.embedder.tag
        if parsed.model is not None and parsed.model != model:
            raise ApiError(422, "model_mismatch", f"the vectors are from {parsed.model}; this service scores {model}")
        try:
            result = scoring.rerank(
                parsed.query,
                parsed.candidates,
                self.calibration,
                method=parsed.method,
                match_threshold=parsed.threshold,
                top_k=parsed.top_k,
            )
        except native.InputError as error:
            raise ApiError(422, error.code, f"embeddings rejected: {error}") from None
        elapsed = time.perf_counter() - started
        self.metrics.observe_rerank(len(parsed.ids), elapsed)
        wire = response_format(request.headers.get("accept", ""))
        return encoded(200, rerank_response(parsed, result, self.calibration.name, elapsed), wire)

    def gallery_search(self, request: HttpRequest) -> HttpResponse:
        from facev3.api.gallery import gallery_search

        content_type = request.headers.get("content-type", "")
        return json_response(
            200,
            gallery_search(self.gallery, self.pipeline, self.calibration, self.settings, content_type, request.body),
        )

    def info(self, request: HttpRequest) -> HttpResponse:
        backend, s = self.pipeline.backend, self.settings
        return json_response(
            200,
            {
                "version": facev3.__version__,
                "backend": backend.name,
                "detector": {"name": backend.detector.tag, "default_threshold": backend.detector.score_threshold},
                "embedder": {"name": backend.embedder.tag, "embedding_size": backend.embedder.embedding_size},
                "calibration": {
                    "name": self.calibration.name,
                    "cosine_threshold": self.calibration.threshold,
                    "scale": self.calibration.scale,
                },
                "rerank_threshold": s.rerank_threshold,
                "limits": {
                    "max_body_bytes": s.max_body_bytes,
                    "max_images": s.max_images,
                    "max_image_bytes": s.max_image_bytes,
                    "max_pixels": s.max_pixels,
                    "max_faces_per_image": s.max_faces_per_image,
                    "max_faces_per_request": s.max_faces_per_request,
                    "max_candidates": s.max_candidates,
                    "request_timeout_s": s.request_timeout_s,
                },
                "wire_formats": [JSON, MSGPACK],
                **({"gallery": {"collection": self.gallery.name}} if self.gallery is not None else {}),
            },
        )

    def healthz(self, request: HttpRequest) -> HttpResponse:
        return json_response(200, {"status": "ok", "rerank_library": native.SIMD_KERNEL})

    def readyz(self, request: HttpRequest) -> HttpResponse:
        backend = self.pipeline.backend
        if not backend.ready():
            raise ApiError(
                503, "backend_unavailable", f"the {backend.name} inference backend is not ready", retry_after=2
            )
        return json_response(200, {"status": "ready", "backend": backend.name})

    def metrics_page(self, request: HttpRequest) -> HttpResponse:
        body, content_type = self.metrics.exposition()
        return HttpResponse(200, body, content_type)

    def openapi(self, request: HttpRequest) -> HttpResponse:
        return json_response(200, openapi.document())

    def close(self) -> None:
        """Releases the backend (with Triton: unregisters and unlinks shared memory) and the gallery."""
        self.pipeline.backend.close()
        if self.gallery is not None:
            self.gallery.close()
