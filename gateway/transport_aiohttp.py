"""An async transport on aiohttp (extra ``fast``): AsyncGateway's default when present.

Measured on these 2-core machines against the emulator over loopback (see
benchmarks/run.py): aiohttp sustains several times httpx's async pool at 64 concurrent
requests, so ``[gateway] async_backend = "auto"`` picks it when installed and falls back
to httpx otherwise. Failures map exactly as in :mod:`gateway.transport`: nothing sent →
ProviderUnavailable (retried), sent but unanswered → OutcomeUnknown (not retried by
default). Timeouts and limits come from the same :class:`~gateway.transport.HttpSettings`
as httpx's, mapped to mean the same.
"""

from __future__ import annotations

from gateway.extras import require

require("fast", "the aiohttp transport")

import aiohttp  # noqa: E402 - after the check, so that a missing extra says which

from gateway.errors import ProviderError  # noqa: E402
from gateway.http import HttpRequest, HttpResponse  # noqa: E402
from gateway.transport import DEFAULT_SETTINGS, HttpSettings, request_failed  # noqa: E402


class AiohttpTransport:
    """:class:`~gateway.transport.AsyncTransport` on one ``aiohttp.ClientSession``.

    ``settings`` apply to the session made here (an injected one keeps its own);
    ``timeout`` (read), ``connect_timeout`` and ``limit`` (max_connections) are
    shorthands that override single fields.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        settings: HttpSettings = DEFAULT_SETTINGS,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        limit: int | None = None,
    ) -> None:
        s = HttpSettings(
            connect=settings.connect if connect_timeout is None else connect_timeout,
            read=settings.read if timeout is None else timeout,
            pool=settings.pool,
            max_connections=settings.max_connections if limit is None else limit,
            keepalive_expiry=settings.keepalive_expiry,
        )
        self._session = session
        self._owned = session is None
        # aiohttp's ``connect`` covers waiting for a pool slot *and* connecting;
        # ``sock_connect`` the connecting alone, which is httpx's ``connect``.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=max(s.pool, s.connect), sock_connect=s.connect, sock_read=s.read
        )
        self.settings = s

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None:
            s = self.settings
            connector = aiohttp.TCPConnector(
                limit=s.max_connections,
                limit_per_host=0,  # none, as httpx: max_connections counts every host
                keepalive_timeout=s.keepalive_expiry,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=True
            )
        return self._session

    async def send(self, request: HttpRequest) -> HttpResponse:
        try:
            async with self._client().request(
                request.method,
                request.url,
                data=_form(request) if request.form else (request.content or None),
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


def _form(request: HttpRequest) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for p in request.form:
        form.add_field(p.name, p.value, filename=p.filename, content_type=p.content_type)
    return form


def _failure(exc: BaseException, request: HttpRequest) -> ProviderError:
    not_sent = isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return request_failed(request, exc, sent=not not_sent)
