"""``Gateway`` and ``AsyncGateway`` (contract): thin IO shells around one shared core.

Everything that does not wait on the network lives in :class:`~gateway.core.GatewayCore`.
The two shells only add the transport calls (the send inside tenacity's retry loop, and
the token request under a lock).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Generic, Self, TypeVar

from gateway.auth import TokenCache
from gateway.config import GatewayConfig, load_config
from gateway.core import GatewayCore, Parse, Sender, T
from gateway.errors import ProviderError
from gateway.events import InboundEvent, SendReceipt, TemplateReceipt
from gateway.http import HttpRequest, HttpResponse
from gateway.model import FlowMessage, FlowTemplate
from gateway.retry import RetryPolicy
from gateway.transport import (
    AsyncTransport,
    HttpxTransport,
    Transport,
    default_async_transport,
)
from providers.base import Adapter

TransportT = TypeVar("TransportT", Transport, AsyncTransport)


class _Base(Generic[TransportT]):
    """What the twins share: construction, config loading, the IO-free helpers."""

    def __init__(
        self,
        core: GatewayCore | GatewayConfig | Mapping[str, Adapter],
        *,
        transport: TransportT | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._core = _make_core(core, retry)
        self._transport: TransportT = (
            transport if transport is not None else self._default_transport()
        )

    def _default_transport(self) -> TransportT:
        raise NotImplementedError

    @classmethod
    def from_config(
        cls,
        path: str | Path,
        *,
        transport: TransportT | None = None,
        retry: RetryPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Self:
        """A gateway for the senders and routes of a TOML config file."""
        return cls(load_config(path, env), transport=transport, retry=retry)

    def build_send(self, msg: FlowMessage) -> HttpRequest:
        """The exact request ``send`` would make (for dry runs), without sending it."""
        return self._core.plan_send(msg)[1]

    @property
    def senders(self) -> Mapping[str, Sender]:
        return self._core.senders

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core!r})"


class Gateway(_Base[Transport]):
    """Synchronous gateway: send Flows, create templates, take webhooks."""

    def _default_transport(self) -> Transport:
        return HttpxTransport()

    def send(self, msg: FlowMessage) -> SendReceipt:
        """Send ``msg`` through its sender (explicit, routed, or the default)."""
        sender, request = self._core.plan_send(msg)
        return self._execute(sender, "send", request, self._core.send_parser(sender, msg))

    def create_template(self, tpl: FlowTemplate, sender: str | None = None) -> TemplateReceipt:
        """Submit a FLOW-button template for review."""
        s, request = self._core.plan_template(tpl, sender)
        return self._execute(
            s,
            "create_template",
            request,
            lambda r: s.adapter.parse_create_template_response(r, tpl),
        )

    def register_public_key(self, public_key_pem: str, sender: str | None = None) -> bool:
        """Register the Flow endpoint's business public key for ``sender``'s number."""
        s, request = self._core.plan_public_key(public_key_pem, sender)
        return self._execute(
            s, "register_public_key", request, s.adapter.parse_register_public_key_response
        )

    def handle_webhook(
        self,
        sender: str,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
    ) -> list[InboundEvent]:
        """Verify a callback the way the sender's provider signs it, then normalize it.

        ``query`` is the callback URL's query (for providers authenticated by URL token).
        """
        return self._core.handle_webhook(sender, body, headers, query)

    def verify_challenge(self, sender: str, params: Mapping[str, str]) -> str:
        """Answer a webhook subscription handshake (Meta's ``hub.challenge``)."""
        return self._core.verify_challenge(sender, params)

    def _execute(self, sender: Sender, op: str, request: HttpRequest, parse: Parse[T]) -> T:
        policy = self._core.retry
        try:
            return self._attempt(sender, op, request, parse, 1)
        except ProviderError as exc:
            if not policy.retries_after(exc):
                raise
            policy.pause(exc)
        for attempt in policy.retrying(after=1):
            with attempt:
                n = attempt.retry_state.attempt_number + 1
                return self._attempt(sender, op, request, parse, n)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _attempt(self, sender: Sender, op: str, request: HttpRequest, parse: Parse[T], n: int) -> T:
        started = time.perf_counter()
        outcome: HttpResponse | ProviderError
        try:
            outcome = self._send_once(sender, request)
        except ProviderError as exc:
            outcome = exc
        return self._core.conclude(sender, op, n, started, outcome, parse)

    def _send_once(self, sender: Sender, request: HttpRequest) -> HttpResponse:
        cache = sender.tokens
        if cache is None:
            return self._transport.send(request)
        token = self._token(sender, cache)
        resp = self._transport.send(sender.adapter.authorize(request, token))
        if resp.status_code == 401 and sender.adapter.token_expired(resp):
            cache.invalidate(token)  # revoked early: refresh once and resend
            token = self._token(sender, cache)
            resp = self._transport.send(sender.adapter.authorize(request, token))
        return resp

    def _token(self, sender: Sender, cache: TokenCache) -> str:
        token = cache.valid()
        if token is None:
            with cache.thread_lock:  # one token request, however many threads wait
                token = cache.valid()
                if token is None:
                    started = time.perf_counter()
                    resp = self._transport.send(self._core.token_request(sender))
                    token = self._core.take_token(sender, started, resp)
        return token

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncGateway(_Base[AsyncTransport]):
    """Asynchronous twin of :class:`Gateway` with the same methods, awaitable."""

    def _default_transport(self) -> AsyncTransport:
        return default_async_transport()

    async def send(self, msg: FlowMessage) -> SendReceipt:
        """Send ``msg`` through its sender (explicit, routed, or the default)."""
        sender, request = self._core.plan_send(msg)
        return await self._execute(sender, "send", request, self._core.send_parser(sender, msg))

    async def create_template(
        self, tpl: FlowTemplate, sender: str | None = None
    ) -> TemplateReceipt:
        """Submit a FLOW-button template for review."""
        s, request = self._core.plan_template(tpl, sender)
        return await self._execute(
            s,
            "create_template",
            request,
            lambda r: s.adapter.parse_create_template_response(r, tpl),
        )

    async def register_public_key(self, public_key_pem: str, sender: str | None = None) -> bool:
        """Register the Flow endpoint's business public key for ``sender``'s number."""
        s, request = self._core.plan_public_key(public_key_pem, sender)
        return await self._execute(
            s, "register_public_key", request, s.adapter.parse_register_public_key_response
        )

    async def handle_webhook(
        self,
        sender: str,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
    ) -> list[InboundEvent]:
        """Verify a callback the way the sender's provider signs it, then normalize it.

        Pure CPU work (no IO); async so that every AsyncGateway method is awaited alike.
        """
        return self._core.handle_webhook(sender, body, headers, query)

    async def verify_challenge(self, sender: str, params: Mapping[str, str]) -> str:
        """Answer a webhook subscription handshake (Meta's ``hub.challenge``)."""
        return self._core.verify_challenge(sender, params)

    async def _execute(self, sender: Sender, op: str, request: HttpRequest, parse: Parse[T]) -> T:
        policy = self._core.retry
        try:
            return await self._attempt(sender, op, request, parse, 1)
        except ProviderError as exc:
            if not policy.retries_after(exc):
                raise
            await policy.async_pause(exc)
        async for attempt in policy.async_retrying(after=1):
            with attempt:
                n = attempt.retry_state.attempt_number + 1
                return await self._attempt(sender, op, request, parse, n)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _attempt(
        self, sender: Sender, op: str, request: HttpRequest, parse: Parse[T], n: int
    ) -> T:
        started = time.perf_counter()
        outcome: HttpResponse | ProviderError
        try:
            outcome = await self._send_once(sender, request)
        except ProviderError as exc:
            outcome = exc
        return self._core.conclude(sender, op, n, started, outcome, parse)

    async def _send_once(self, sender: Sender, request: HttpRequest) -> HttpResponse:
        cache = sender.tokens
        if cache is None:
            return await self._transport.send(request)
        token = await self._token(sender, cache)
        resp = await self._transport.send(sender.adapter.authorize(request, token))
        if resp.status_code == 401 and sender.adapter.token_expired(resp):
            cache.invalidate(token)  # revoked early: refresh once and resend
            token = await self._token(sender, cache)
            resp = await self._transport.send(sender.adapter.authorize(request, token))
        return resp

    async def _token(self, sender: Sender, cache: TokenCache) -> str:
        token = cache.valid()
        if token is None:
            async with cache.async_lock:  # one token request, however many tasks wait
                token = cache.valid()
                if token is None:
                    started = time.perf_counter()
                    resp = await self._transport.send(self._core.token_request(sender))
                    token = self._core.take_token(sender, started, resp)
        return token

    async def close(self) -> None:
        await self._transport.aclose()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _make_core(
    source: GatewayCore | GatewayConfig | Mapping[str, Adapter], retry: RetryPolicy | None
) -> GatewayCore:
    if isinstance(source, GatewayCore):
        return source
    if isinstance(source, GatewayConfig):
        return GatewayCore.from_config(source, retry)
    return GatewayCore(source, retry=retry)
