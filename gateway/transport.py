"""The transport: the only module that imports httpx.

A transport takes an :class:`HttpRequest` and returns an :class:`HttpResponse`. Network
failures become :class:`~gateway.errors.ProviderUnavailable` when the request certainly
did not reach the provider (safe to retry) and :class:`~gateway.errors.OutcomeUnknown`
when it may have (not retried by default). Any object with the same ``send`` / ``close``
methods can stand in, e.g. a faster async backend.

Every backend takes the same :class:`HttpSettings`, mapped so that each number means the
same on httpx and on aiohttp (``tests/e2e/test_transport_parity.py`` holds both to it
against a slow loopback server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, get_args, runtime_checkable
from urllib.parse import urlsplit

import httpx

from gateway.config import AsyncBackend
from gateway.errors import ConfigError, OutcomeUnknown, ProviderError, ProviderUnavailable
from gateway.extras import MissingExtra
from gateway.http import HttpRequest, HttpResponse
from gateway.log import get_logger


@runtime_checkable
class Transport(Protocol):
    """Synchronous transport protocol."""

    def send(self, request: HttpRequest) -> HttpResponse: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncTransport(Protocol):
    """Asynchronous transport protocol."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    """Timeouts (seconds) and the connection limit of one transport, for every backend.

    A request that fails on a timeout is ``ProviderUnavailable`` (retried) when nothing was
    sent — ``connect``, ``pool`` — and ``OutcomeUnknown`` when it was — ``read``.
    """

    connect: float = 5.0
    """Opening a new connection (TCP, and TLS for https)."""
    read: float = 30.0
    """Silence while waiting for the answer and reading it: the longest gap between two
    bytes, not a bound on the whole answer (a slow trickle is not cut). httpx also
    bounds sending the request by it; aiohttp cannot (no write timeout: its read timer
    starts once the request is written), which matters only for a peer that stops
    reading a body larger than the socket buffers — megabytes; ours are kilobytes.
    aiohttp rounds values of 5 s and more up to a whole second (its timer coalescing)."""
    pool: float = 30.0
    """Waiting for a free connection while ``max_connections`` are busy. httpx bounds the
    wait and the connect after it separately; aiohttp has one budget for both, given
    ``max(pool, connect)``: the same as long as a slot frees before ``pool - connect``."""
    max_connections: int = 100
    """Connections open at once, all hosts together; further requests wait (``pool``)."""
    keepalive_expiry: float = 5.0
    """An idle connection is closed after this long (aiohttp's own default is 15 s)."""

    def __post_init__(self) -> None:
        for name in ("connect", "read", "pool", "keepalive_expiry"):
            if not getattr(self, name) > 0:
                raise ValueError(f"HttpSettings.{name} must be a positive number of seconds")
        if self.max_connections < 1:
            raise ValueError("HttpSettings.max_connections must be at least 1")

    def httpx_timeout(self) -> httpx.Timeout:
        # Writing under the read budget: one "silence" setting, whichever way bytes flow.
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.pool)

    def httpx_limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_connections,
            keepalive_expiry=self.keepalive_expiry,
        )


DEFAULT_SETTINGS = HttpSettings()

# Failures that happen before a byte of the request left: the provider saw nothing.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def request_failed(request: HttpRequest, exc: BaseException, *, sent: bool) -> ProviderError:
    """The error every backend raises when no response came: not sent → retryable
    ProviderUnavailable; possibly sent → OutcomeUnknown. Names the host, never the URL
    (query strings may carry credentials)."""
    parts = urlsplit(request.url)
    where = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    kind = type(exc).__name__
    if not sent:
        return ProviderUnavailable(f"could not connect to {where} ({kind})")
    return OutcomeUnknown(f"request sent to {where} but no response received ({kind})")


def _failure(exc: httpx.HTTPError, request: HttpRequest) -> ProviderError:
    return request_failed(request, exc, sent=not isinstance(exc, _NOT_SENT))


def _build(client: httpx.Client | httpx.AsyncClient, request: HttpRequest) -> httpx.Request:
    # httpx.Request directly: build_request's merging of client URL/params/cookies costs
    # more than the rest of a send, and our requests are complete already.
    if request.form:
        return encode_form(request, extensions={"timeout": client.timeout.as_dict()})
    return httpx.Request(
        request.method,
        request.url,
        headers=request.headers,
        content=request.content,
        extensions={"timeout": client.timeout.as_dict()},
    )


def encode_form(request: HttpRequest, **kwargs: Any) -> httpx.Request:
    """``request.form`` as httpx encodes multipart (the emulator's in-process path too)."""
    data = {p.name: p.value for p in request.form if p.filename is None}
    files = [
        (p.name, (p.filename, p.value, p.content_type or "application/octet-stream"))
        for p in request.form
        if p.filename is not None
    ]
    return httpx.Request(
        request.method, request.url, headers=request.headers, data=data, files=files, **kwargs
    )


def _convert(resp: httpx.Response, content: bytes) -> HttpResponse:
    return HttpResponse(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, content)


class HttpxTransport:
    """Sync transport on ``httpx.Client`` (inject one to use respx or ``MockTransport``;
    ``settings`` apply to the client made here, an injected one keeps its own)."""

    def __init__(
        self, client: httpx.Client | None = None, *, settings: HttpSettings = DEFAULT_SETTINGS
    ) -> None:
        self._owned = client is None
        self._client = client or httpx.Client(
            timeout=settings.httpx_timeout(), limits=settings.httpx_limits()
        )

    def send(self, request: HttpRequest) -> HttpResponse:
        try:
            resp = self._client.send(_build(self._client, request))
            return _convert(resp, resp.read())
        except httpx.HTTPError as exc:
            raise _failure(exc, request) from None

    def close(self) -> None:
        if self._owned:
            self._client.close()


class AsyncHttpxTransport:
    """Async transport on ``httpx.AsyncClient`` (``settings`` as for HttpxTransport)."""

    def __init__(
        self, client: httpx.AsyncClient | None = None, *, settings: HttpSettings = DEFAULT_SETTINGS
    ) -> None:
        self._owned = client is None
        self._client = client or httpx.AsyncClient(
            timeout=settings.httpx_timeout(), limits=settings.httpx_limits()
        )

    async def send(self, request: HttpRequest) -> HttpResponse:
        try:
            resp = await self._client.send(_build(self._client, request))
            return _convert(resp, await resp.aread())
        except httpx.HTTPError as exc:
            raise _failure(exc, request) from None

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


def default_async_transport(
    backend: AsyncBackend = "auto", *, settings: HttpSettings = DEFAULT_SETTINGS
) -> AsyncTransport:
    """AsyncGateway's transport for ``[gateway] async_backend``: ``aiohttp`` (extra
    ``fast``, the fastest measured; MissingExtra without it), ``httpx``, or ``auto`` —
    aiohttp when installed, else httpx. Logs the choice (``transport.async_backend``)."""
    if backend not in get_args(AsyncBackend):
        raise ConfigError("gateway.async_backend", f"unknown backend {backend!r}")
    used = "httpx" if backend == "httpx" else "aiohttp"
    if used == "aiohttp":
        try:
            from gateway.transport_aiohttp import AiohttpTransport
        except MissingExtra as exc:  # aiohttp absent (a broken install still raises)
            if backend == "aiohttp":
                feature = '[gateway] async_backend = "aiohttp"'
                raise MissingExtra("fast", feature, exc.name or "aiohttp") from None
            used = "httpx"
    transport: AsyncTransport = (
        AiohttpTransport(settings=settings)
        if used == "aiohttp"
        else AsyncHttpxTransport(settings=settings)
    )
    get_logger().info("transport.async_backend", backend=used, setting=backend)
    return transport
