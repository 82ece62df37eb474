"""The Granian adapter (RSGI), the default server: bytes in and out of Api.handle.

Granian gives graceful SIGTERM (in-flight requests finish) and worker processes; this adapter
adds what RSGI leaves to the app: a body limit checked on Content-Length and again while
streaming (a 50 MB upload is refused before it is buffered), and inference on a thread pool so
it never blocks the event loop (routes marked `offload`; short GIL-bound handlers such as rerank
run inline). Models load per worker in __rsgi_init__.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from facev3 import bootstrap
from facev3.api.errors import ApiError
from facev3.api.handlers import Api, offload_pool
from facev3.api.messages import HttpRequest, HttpResponse, declared_length, error_response
from facev3.config import load_settings
from facev3.http.memory import LARGE_BLOCK_BYTES, give_back_large_blocks
from facev3.http.signals import signals_held_for


class RsgiApp:
    def __init__(self) -> None:
        self.settings = load_settings()  # invalid settings stop the worker with a named setting
        self.api: Api | None = None
        self.pool: ThreadPoolExecutor | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        with signals_held_for(loop):
            give_back_large_blocks()
            self.api = bootstrap.build_api(self.settings)
            self.pool = offload_pool(self.settings)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        if self.api is not None:
            self.api.close()  # unregisters and unlinks Triton shared memory

    async def __rsgi__(self, scope, proto) -> None:
        if scope.proto != "http":
            return
        headers = {key.lower(): value for key, value in scope.headers.items()}
        refused = self.api.admit(scope.method.upper(), scope.path, headers)
        if refused is not None:
            return self._send(proto, refused)
        try:
            body = await self._read_body(headers, proto)
        except ApiError as error:
            return self._send(proto, error_response(error))
        request = HttpRequest(scope.method.upper(), scope.path, headers, body)
        if self.api.offloaded(request):
            response = await asyncio.get_running_loop().run_in_executor(self.pool, self.api.handle, request)
        else:
            response = self.api.handle(request)
        self._send(proto, response)

    async def _read_body(self, headers: dict[str, str], proto) -> bytes | bytearray:
        """The body, refused past FACEV3_MAX_BODY_BYTES (declared or streamed) or when it does not
        arrive within FACEV3_BODY_TIMEOUT_S. A body declared small enough for the heap
        (facev3.http.memory) is joined from its chunks once: growing a buffer copied a 1 MB
        rerank three more times. Any other grows one buffer, which maps past the threshold and
        goes back whole, where holding a 20 MB body's chunks fragmented the heap for good."""
        limit, timeout = self.settings.max_body_bytes, self.settings.body_timeout_s
        too_large = ApiError(413, "body_too_large", f"the body exceeds {limit:,} bytes (FACEV3_MAX_BODY_BYTES)")
        declared = declared_length(headers)
        if declared is not None and declared > limit:
            raise too_large
        join_at_end = declared is not None and declared <= LARGE_BLOCK_BYTES  # the server reads no more
        chunks, body, size = [], bytearray(), 0
        try:
            async with asyncio.timeout(timeout):
                async for chunk in proto:
                    size += len(chunk)
                    if size > limit:
                        raise too_large
                    if join_at_end:
                        chunks.append(chunk)
                    else:
                        body += chunk
        except TimeoutError:
            raise ApiError(
                408, "body_timeout", f"the body did not arrive within {timeout:g} s (FACEV3_BODY_TIMEOUT_S)"
            ) from None
        return b"".join(chunks) if join_at_end else body

    @staticmethod
    def _send(proto, response: HttpResponse) -> None:
        headers = [("content-type", response.content_type), *response.headers]
        proto.response_bytes(response.status, headers, response.body)


app = RsgiApp()
