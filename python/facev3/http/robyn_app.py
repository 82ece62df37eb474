"""The Robyn adapter: Robyn's own actix-web server (Granian cannot serve Robyn: it has no ASGI or RSGI entry).

Robyn 0.88 is handled where it is unsafe:
  - multipart: it keys files by filename, so parts with equal names overwrite each other, and
    the raw body is gone. Multipart is refused with 415 (use JSON with base64), never lossy;
  - no body limit is enforced by Robyn (the body is buffered first): Content-Length above the
    limit is answered 413, but only a fronting proxy can stop the upload itself;
  - SIGTERM never exits: a handler drains in-flight requests, then interrupts the main thread;
  - a busy port loops forever with the default check: _check_port=False.
Routes marked `offload` (inference) get an async handler that runs Api.handle on a thread pool,
so requests infer concurrently (onnxruntime and gRPC release the GIL) while Robyn's one actix
thread keeps serving; the others (rerank: a few ms of GIL-bound parsing) are sync handlers on
Robyn's worker threads (--workers), where a thread hop would only slow them down.
"""

import _thread
import asyncio
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from facev3 import bootstrap
from facev3.api.errors import ApiError
from facev3.api.formats import media_type
from facev3.api.handlers import Api, offload_pool
from facev3.api.messages import HttpRequest, HttpResponse, declared_length, error_response
from facev3.api.requests import MULTIPART
from facev3.config import load_settings
from facev3.http.memory import give_back_large_blocks

DRAIN_SECONDS = 2.0
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


# FACEV3_LOG_LEVEL -> Robyn's: its INFO lists every route it adds (over a hundred lines), which is
# debugging output to an operator.
ROBYN_LOG_LEVELS = {"debug": "DEBUG", "info": "WARN", "warning": "WARN", "error": "ERROR"}


def build_app(api: Api, pool: ThreadPoolExecutor, workers: int = 1):
    # Robyn reads its options from sys.argv (at import and in Robyn()): give it only ours.
    level = ROBYN_LOG_LEVELS[api.settings.log_level]
    argv = sys.argv
    sys.argv = [argv[0], "--workers", str(workers), "--disable-openapi", "--log-level", level]
    try:
        from robyn import Response, Robyn

        app = Robyn(__file__)
    finally:
        sys.argv = argv

    def to_robyn(response: HttpResponse):
        return Response(
            status_code=response.status,
            headers={"content-type": response.content_type, **dict(response.headers)},
            description=response.body,
        )

    def prepare(request) -> HttpRequest | HttpResponse:
        """Robyn's request as ours, or the error it gets before reaching the route."""
        headers = {key.lower(): value for key, value in request.headers.to_dict().items()}
        if isinstance(next(iter(headers.values()), None), list):
            headers = {key: values[0] for key, values in headers.items()}
        refused = api.admit(request.method.upper(), request.url.path, headers)
        if refused is not None:
            return refused
        declared = declared_length(headers)
        if declared is not None and declared > api.settings.max_body_bytes:
            return error_response(
                ApiError(413, "body_too_large", f"the body exceeds {api.settings.max_body_bytes:,} bytes")
            )
        if media_type(headers.get("content-type", "")) == MULTIPART:
            return error_response(
                ApiError(
                    415,
                    "multipart_unsupported",
                    "the Robyn server cannot read multipart uploads without losing parts; "
                    "send application/json with base64 images, or use the Granian server",
                )
            )
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        return HttpRequest(request.method.upper(), request.url.path, headers, body)

    def handle(request) -> object:
        prepared = prepare(request)
        return to_robyn(prepared if isinstance(prepared, HttpResponse) else api.handle(prepared))

    async def handle_offloaded(request) -> object:
        prepared = prepare(request)
        if isinstance(prepared, HttpResponse):
            return to_robyn(prepared)
        if not api.offloaded(prepared):
            return to_robyn(api.handle(prepared))
        return to_robyn(await asyncio.get_running_loop().run_in_executor(pool, api.handle, prepared))

    # Every method on every path, and a catch-all, so that 404 and 405 come from the route table
    # as JSON like every other error, not from Robyn.
    for path in [*api.routes, "/*rest"]:
        for method in HTTP_METHODS:
            route = api.routes.get(path, {}).get(method)
            may_offload = route is not None and route.offload_above is not None
            app.add_route(method, path, handle_offloaded if may_offload else handle)
    return app


def serve(host: str, port: int, workers: int) -> None:
    """Serves in this process until SIGTERM (facev3 serve runs it under facev3.http.supervisor)."""
    give_back_large_blocks()
    settings = load_settings()
    bootstrap.configure_logging(settings)
    api = bootstrap.build_api(settings)
    pool = offload_pool(settings)
    app = build_app(api, pool, workers)

    def drain_then_stop(signum, frame) -> None:
        threading.Timer(DRAIN_SECONDS, _thread.interrupt_main).start()

    # interrupt_main raises through SIGINT's handler, which a background shell may have set to
    # ignore: restore Python's, so the drained stop always ends.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, drain_then_stop)
    try:
        app.start(host=host, port=port, _check_port=False)
    except KeyboardInterrupt:
        pass
    finally:
        pool.shutdown(wait=True)
        api.close()


if __name__ == "__main__":  # the supervised child of `facev3 serve --server robyn`
    host, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    serve(host, port, workers)
