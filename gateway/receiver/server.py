"""Serving the receiver with uvicorn, plus the connection limits uvicorn lacks.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and h11 caps the
size of a request head, but nothing bounds the time a client takes to *send* its
headers: a slowloris client holds its connection forever. ``limit_concurrency`` does
not help there, since it answers 503 only once a request's headers have arrived. The
protocol made by :func:`guarded_protocol` adds a header deadline (408, then close), a
header size cap for httptools (431) and a cap on open connections (closed on accept).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.config import ReceiverSettings
from gateway.log import install_log_redaction

if TYPE_CHECKING:
    import uvicorn

    from gateway.receiver.app import WebhookReceiver


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Per-connection limits applied before the ASGI app sees a request."""

    header_timeout: float
    max_header_bytes: int
    max_connections: int

    @classmethod
    def of(cls, settings: ReceiverSettings) -> Limits:
        return cls(
            header_timeout=settings.header_timeout,
            max_header_bytes=settings.max_header_bytes,
            max_connections=settings.max_connections,
        )


class _Guard(asyncio.Protocol):
    """Mixed in before one of uvicorn's HTTP/1.1 protocols (httptools or h11); reads
    the state both keep: ``cycle`` is replaced when a request's headers are complete."""

    limits: ClassVar[Limits]
    cycle: Any
    connections: set[Any]
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        waiting = cycle is None or cycle.response_complete
        if waiting and self._header_timer is None:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.cycle is not cycle:  # a request's headers are complete
            self._disarm()
        elif waiting:
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._reject(b"431 Request Header Fields Too Large")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout, self._reject, b"408 Request Timeout"
        )

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._header_bytes = 0

    def _reject(self, status: bytes) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(
                b"HTTP/1.1 " + status + b"\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
            )
            self.transport.close()


def guarded_protocol(limits: Limits, http: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol ``http`` (``auto``, ``h11`` or ``httptools``) with
    :class:`Limits` enforced; pass it as ``uvicorn.Config(http=...)``."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    if http not in ("auto", "h11", "httptools"):
        raise ValueError(f"cannot guard uvicorn's {http!r} protocol: use auto, h11 or httptools")
    base: type[asyncio.Protocol] = import_from_string(HTTP_PROTOCOLS[http])
    return type(f"Guarded{base.__name__}", (_Guard, base), {"limits": limits})


def server_config(
    receiver: WebhookReceiver, host: str = "127.0.0.1", port: int = 8080, **options: Any
) -> uvicorn.Config:
    """A uvicorn config for ``receiver`` with its ``[receiver]`` limits; ``options`` are
    passed to ``uvicorn.Config`` and win (``http="h11"`` is guarded too)."""
    import uvicorn

    s = receiver.settings
    http = options.pop("http", "auto")
    defaults: dict[str, Any] = {
        "host": host,
        "port": port,
        "lifespan": "on",
        "log_level": "warning",
        "http": guarded_protocol(Limits.of(s), http) if isinstance(http, str) else http,
        "timeout_keep_alive": s.keep_alive_timeout,
        "h11_max_incomplete_event_size": s.max_header_bytes,
    }
    config = uvicorn.Config(receiver.asgi, **{**defaults, **options})
    install_log_redaction()  # after uvicorn configured its loggers
    return config


def serve(receiver: WebhookReceiver, host: str, port: int, **options: Any) -> None:
    """Run ``receiver`` under uvicorn until SIGINT/SIGTERM (then a graceful stop)."""
    import uvicorn

    uvicorn.Server(server_config(receiver, host, port, **options)).run()
