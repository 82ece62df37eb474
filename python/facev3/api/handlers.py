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
from dataclasses import dataclass

import facev3
from facev3 import native
from facev3.api import openapi, static
from facev3.api.errors import ApiError
from facev3.api.messages import HttpRequest, HttpResponse, error_response, json_response
from facev3.api.metrics import Metrics
from facev3.api.requests import parse_embed_request, parse_rerank_request
from facev3.api.responses import embed_response, rerank_response
from facev3.config import Settings
from facev3.core import scoring
from facev3.core.errors import BackendUnavailable
from facev3.core.pipeline import Pipeline


@dataclass(frozen=True)
class Route:
    handler: Callable[[HttpRequest], HttpResponse]
    bounded: bool = False  # counts against FACEV3_MAX_INFLIGHT
    # Runs on a worker thread in async servers: inference (seconds, and it releases the GIL).
    # Rerank stays on the event loop: a few ms of GIL-bound parsing, which a thread hop only slows
    # (measured 2.5x fewer requests/s through the pool).
    offload: bool = False
    # Answered without an API key: the page, its files, the docs and the OpenAPI document are the
    # same bytes for every deployment (they ship in the wheel), and a browser cannot send a key
    # when it loads a page; what they call (/v1/...) still needs one.
    public: bool = False


def offload_pool(settings: Settings) -> ThreadPoolExecutor:
    """The threads that run offloaded routes: enough for max_inflight heavy requests and a few
    light ones beside them."""
    return ThreadPoolExecutor(settings.max_inflight + 4, thread_name_prefix="facev3")


class InflightBound:
    """At most `limit` bounded requests at a time; beyond it, requests are refused, not queued."""

    def __init__(self, limit: int) -> None:
        self.limit, self._busy, self._lock = limit, 0, threading.Lock()

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
        return ApiError(503, "overloaded", f"more than {self.limit} requests in flight; retry shortly", retry_after=1)


class Api:
    """The service's handlers over one pipeline and one calibration; built by facev3.bootstrap."""

    def __init__(self, settings: Settings, pipeline: Pipeline, calibration: scoring.Calibration) -> None:
        self.settings, self.pipeline, self.calibration = settings, pipeline, calibration
        self.log = logging.getLogger("facev3")
        self.metrics = Metrics()
        self._inflight = InflightBound(self.settings.max_inflight)
        self.static = static.StaticFiles()
        # The route table, shared by both adapters: path -> method -> Route. Exact paths only:
        # each packaged web file is an entry of its own (/static/...), listed when the Api is built.
        self.routes: dict[str, dict[str, Route]] = {
            "/v1/embeddings": {"POST": Route(self.embeddings, bounded=True, offload=True)},
            "/v1/rerank": {"POST": Route(self.rerank, bounded=True)},
            "/v1/info": {"GET": Route(self.info)},
            "/healthz": {"GET": Route(self.healthz)},
            "/readyz": {"GET": Route(self.readyz, offload=True)},  # may wait on Triton
            "/metrics": {"GET": Route(self.metrics_page)},
            "/openapi.json": {"GET": Route(self.openapi, public=True)},
            "/docs": {"GET": Route(self.static.page("docs.html"), public=True)},
            "/": {"GET": Route(self.static.page("index.html"), public=True)},
            **{path: {"GET": Route(self.static.asset, public=True)} for path in self.static.asset_paths},
        }

    def route(self, method: str, path: str) -> Route | None:
        return self.routes.get(path, {}).get(method)

    def offloaded(self, request: HttpRequest) -> bool:
        route = self.route(request.method, request.path)
        return route is not None and route.offload

    def refuse_early(self, method: str, path: str) -> HttpResponse | None:
        """The 503 a bounded route would give now, for adapters that can answer before reading
        the body: a client that retries at once costs a header parse, not a full upload."""
        route = self.route(method, path)
        if route is None or not route.bounded or not self._inflight.full:
            return None
        return error_response(self._inflight.error())

    def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        endpoint = request.path if request.path in self.routes else "unmatched"
        try:
            response = self._dispatch(request)
        except ApiError as error:
            response = error_response(error)
        except BackendUnavailable as error:
            response = error_response(ApiError(503, error.code, error.message, retry_after=2))
        except Exception:
            self.log.exception("unhandled error on %s %s", request.method, request.path)
            response = error_response(ApiError(500, "internal_error", "internal error; see the service log"))
        self.metrics.observe_request(endpoint, response.status, time.perf_counter() - started)
        return response

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        methods = self.routes.get(request.path)
        if methods is None:
            raise ApiError(404, "not_found", f"no route {request.path}")
        if request.method not in methods:
            raise ApiError(405, "method_not_allowed", f"{request.path} accepts {', '.join(methods)}")
        route = methods[request.method]
        if not route.public:
            self._authenticate(request)
        if not route.bounded:
            return route.handler(request)
        if not self._inflight.try_enter():
            raise self._inflight.error()
        try:
            with self.metrics.inflight.track_inprogress():
                return route.handler(request)
        finally:
            self._inflight.leave()

    def _authenticate(self, request: HttpRequest) -> None:
        keys = self.settings.api_keys
        if not keys or request.path in self.settings.open_paths:
            return
        given = request.headers.get("x-api-key", "")
        authorization = request.headers.get("authorization", "")
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
        results, times = self.pipeline.run(images, parsed.options)
        self.metrics.observe_pipeline(times, [len(r.faces) for r in results if r.error is None])
        backend = self.pipeline.backend
        return json_response(200, embed_response(parsed, results, times, backend.embedder, backend.embedding_size))

    def rerank(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        parsed = parse_rerank_request(request.headers.get("content-type", ""), request.body, self.settings)
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
        return json_response(200, rerank_response(parsed, result, self.calibration.name, elapsed))

    def info(self, request: HttpRequest) -> HttpResponse:
        backend, s = self.pipeline.backend, self.settings
        return json_response(
            200,
            {
                "version": facev3.__version__,
                "backend": backend.name,
                "detector": {"name": backend.detector.name, "default_threshold": backend.detector.default_threshold},
                "embedder": {"name": backend.embedder, "embedding_size": backend.embedding_size},
                "calibration": {
                    "name": self.calibration.name,
                    "cosine_threshold": self.calibration.threshold,
                    "scale": self.calibration.scale,
                },
                "rerank_threshold": s.rerank_threshold,
                "limits": {
                    "max_images": s.max_images,
                    "max_candidates": s.max_candidates,
                    "max_body_bytes": s.max_body_bytes,
                    "max_pixels": s.max_pixels,
                },
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
        """Releases the backend (with Triton: unregisters and unlinks shared memory)."""
        self.pipeline.backend.close()
