"""The transport: the only module that imports httpx.

A transport takes an :class:`HttpRequest` and returns an :class:`HttpResponse`. Network
failures become :class:`~gateway.errors.ProviderUnavailable` when the request certainly
did not reach the provider (safe to retry) and :class:`~gateway.errors.OutcomeUnknown`
when it may have (not retried by default). Any object with the same ``send`` / ``close``
methods can stand in, e.g. a faster async backend.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from gateway.errors import OutcomeUnknown, ProviderError, ProviderUnavailable
from gateway.http import HttpRequest, HttpResponse


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


DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)

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
    return httpx.Request(
        request.method,
        request.url,
        headers=request.headers,
        content=request.content,
        extensions={"timeout": client.timeout.as_dict()},
    )


def _convert(resp: httpx.Response, content: bytes) -> HttpResponse:
    return HttpResponse(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, content)


class HttpxTransport:
    """Sync transport on ``httpx.Client`` (inject one to use respx or ``MockTransport``)."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._owned = client is None
        self._client = client or httpx.Client(timeout=DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS)

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
    """Async transport on ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._owned = client is None
        self._client = client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS)

    async def send(self, request: HttpRequest) -> HttpResponse:
        try:
            resp = await self._client.send(_build(self._client, request))
            return _convert(resp, await resp.aread())
        except httpx.HTTPError as exc:
            raise _failure(exc, request) from None

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


def default_async_transport() -> AsyncTransport:
    """aiohttp when installed (extra ``fast``: the fastest measured), else httpx."""
    try:
        from gateway.transport_aiohttp import AiohttpTransport
    except ImportError:
        return AsyncHttpxTransport()
    return AiohttpTransport()
