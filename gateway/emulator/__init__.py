"""Local stand-ins for the providers, for the demo and for tests (no network)."""

from __future__ import annotations

from collections.abc import Callable

from gateway.emulator.meta import GraphFault, MetaEmulator, SentMessage
from gateway.http import HttpRequest, HttpResponse

Handler = Callable[[HttpRequest], HttpResponse]


class InProcessTransport:
    """A sync transport that hands each request to an emulator in the same process."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    def send(self, request: HttpRequest) -> HttpResponse:
        return self._handler(request)

    def close(self) -> None:
        return None


class AsyncInProcessTransport:
    """The async twin of :class:`InProcessTransport`."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def send(self, request: HttpRequest) -> HttpResponse:
        return self._handler(request)

    async def aclose(self) -> None:
        return None


__all__ = [
    "AsyncInProcessTransport",
    "GraphFault",
    "InProcessTransport",
    "MetaEmulator",
    "SentMessage",
]
