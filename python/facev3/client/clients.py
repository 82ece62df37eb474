"""Client and AsyncClient: thin shells over facev3.client.core that carry out its steps, with
httpx, blocking or awaiting. Their methods are the core's operations, declared once (Operation):
same names, arguments, defaults and docstrings in both."""

import asyncio
import functools
import inspect
import time
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

import httpx

from facev3.client.core import Core, Flow, RetryPolicy, Run, Send, Step, Wire

P = ParamSpec("P")
T = TypeVar("T")


class Operation(Generic[P, T]):
    """A core operation as a method: on a Client it returns the result, on an AsyncClient a
    coroutine of it. Its signature and docstring are the core's (see help(Client.embed))."""

    def __init__(self, flow: Callable[Concatenate[Core, P], Flow[T]]) -> None:
        self.flow = flow
        functools.update_wrapper(self, flow)
        signature = inspect.signature(flow)
        self.__signature__ = signature.replace(
            parameters=list(signature.parameters.values())[1:],
            return_annotation=typing.get_args(signature.return_annotation)[-1],
        )

    @overload
    def __get__(self, client: None, owner: type) -> Self: ...
    @overload
    def __get__(self, client: "AsyncClient", owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, client: "Client", owner: type) -> Callable[P, T]: ...
    def __get__(self, client, owner):
        if client is None:
            return self
        flow = self.flow
        if isinstance(client, AsyncClient):

            async def method(*args, **kwargs):
                return await client._run(flow(client._core, *args, **kwargs))
        else:

            def method(*args, **kwargs):
                return client._run(flow(client._core, *args, **kwargs))

        functools.update_wrapper(method, self)
        return method

    def __call__(self, client, /, *args, **kwargs):  # Client.embed(client, ...), as with a method
        return self.__get__(client, type(client))(*args, **kwargs)


class Shell:
    """What both clients share: settings, the core, the operations."""

    http_class: type[httpx.Client] | type[httpx.AsyncClient]
    default_sleep: Callable[[float], Any]

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        wire: Wire = "auto",
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self._core = Core(api_key=api_key, wire=wire, policy=RetryPolicy(retries, backoff, max_backoff))
        headers = self._core.headers
        self._http = self.http_class(base_url=base_url, timeout=timeout, transport=transport, headers=headers)
        self._sleep = sleep or type(self).default_sleep

    @property
    def wire(self) -> str | None:
        """ "json" or "msgpack": what requests are sent as; None while "auto" has not learnt it."""
        return self._core.wire

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._core.policy

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._http.base_url)!r}, wire={self.wire!r})"

    info = Operation(Core.info)
    healthz = Operation(Core.healthz)
    readyz = Operation(Core.readyz)
    embed = Operation(Core.embed)
    rerank = Operation(Core.rerank)
    compare = Operation(Core.compare)


class Client(Shell):
    """A blocking client of a facev3 service; thread-safe (one httpx.Client, its connection pool).

        with Client("http://localhost:8000", api_key="...") as client:
            face = client.embed("a.jpg").images[0].largest_face()

    timeout: seconds for each of connecting, sending, waiting and reading (or an httpx.Timeout);
    retries, backoff, max_backoff: see RetryPolicy (every request here is safe to send again: none
    has a side effect on the service); wire: "auto", "json" or "msgpack" (see facev3.client.core);
    transport: an httpx transport (a proxy, a mock in tests); sleep: how to wait between retries."""

    http_class = httpx.Client
    default_sleep = staticmethod(time.sleep)

    def _run(self, flow: Flow[T]) -> T:
        run = Run(flow)
        for step in run:
            run.outcome = self._do(step)
        return run.result

    def _do(self, step: Step) -> httpx.Response | httpx.TransportError | None:
        if not isinstance(step, Send):
            return self._sleep(step)
        try:
            return self._http.request(step.method, step.path, content=step.body, headers=step.headers)
        except httpx.TransportError as error:
            return error

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class AsyncClient(Shell):
    """The same client for asyncio: every method is a coroutine; close with `await aclose()` or
    `async with`. `sleep` must be a coroutine function (default asyncio.sleep). Photos given as
    paths or files are read on the event loop when the call starts: pass bytes to keep large
    reads off it."""

    http_class = httpx.AsyncClient
    default_sleep = staticmethod(asyncio.sleep)
    _sleep: Callable[[float], Awaitable[None]]

    async def _run(self, flow: Flow[T]) -> T:
        run = Run(flow)
        for step in run:
            run.outcome = await self._do(step)
        return run.result

    async def _do(self, step: Step) -> httpx.Response | httpx.TransportError | None:
        if not isinstance(step, Send):
            return await self._sleep(step)
        try:
            return await self._http.request(step.method, step.path, content=step.body, headers=step.headers)
        except httpx.TransportError as error:
            return error

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()
