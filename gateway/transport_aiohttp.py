"""An async transport on aiohttp (extra ``fast``): the default for AsyncGateway when present.

Measured on these 2-core machines against the emulator over loopback (see
benchmarks/run.py): aiohttp sustains several times httpx's async pool at 64 concurrent
requests, so AsyncGateway picks it when installed and falls back to httpx otherwise.
Failures map exactly as in :mod:`gateway.transport`: nothing sent → ProviderUnavailable
(retried), sent but unanswered → OutcomeUnknown (not retried by default).
"""

from __future__ import annotations

import aiohttp

from gateway.errors import ProviderError
from gateway.http import HttpRequest, HttpResponse
from gateway.transport import request_failed


class AiohttpTransport:
    """:class:`~gateway.transport.AsyncTransport` on one ``aiohttp.ClientSession``."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        limit: int = 100,
    ) -> None:
        self._session = session
        self._owned = session is None
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=timeout
        )
        self._limit = limit

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=True
            )
        return self._session

    async def send(self, request: HttpRequest) -> HttpResponse:
        try:
            async with self._client().request(
                request.method,
                request.url,
                data=request.content or None,
                headers=request.headers,
                allow_redirects=False,
            ) as resp:
                content = await resp.read()
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return HttpResponse(resp.status, headers, content)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _failure(exc, request) from None

    async def aclose(self) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
            self._session = None


def _failure(exc: BaseException, request: HttpRequest) -> ProviderError:
    not_sent = isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return request_failed(request, exc, sent=not not_sent)
