"""``Gateway`` and ``AsyncGateway`` (contract): thin IO shells around one shared core.

Everything that does not wait lives in :class:`~gateway.core.GatewayCore` and in the send
protocol (:mod:`gateway.protocol`: tokens, refresh, retries, pauses). Each shell only
drives that protocol: ``_run`` makes the requests, takes the pauses and holds the token
lock it asks for, the one way its twin cannot.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from gateway.config import GatewayConfig, load_config
from gateway.core import GatewayCore, T
from gateway.errors import ProviderError
from gateway.events import InboundEvent, SendReceipt, TemplateReceipt
from gateway.http import HttpRequest
from gateway.manage_api import AsyncFlows, AsyncTemplates, Flows, Templates
from gateway.model import FlowMessage, FlowTemplate
from gateway.protocol import Flow, Sleep, exchange
from gateway.retry import RetryPolicy
from gateway.senders import SenderRegistry
from gateway.transport import (
    AsyncTransport,
    HttpxTransport,
    Transport,
    default_async_transport,
)
from providers.base import Adapter

if TYPE_CHECKING:
    from gateway.store import Store

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
        self._config = core if isinstance(core, GatewayConfig) else None
        # [gateway] store set: the senders added at run time are read from it.
        self._store: Store | None = _open_store(self._config) if self._config else None
        try:
            self._core = _make_core(core, retry, self._store)
            self._transport: TransportT = (
                transport if transport is not None else self._default_transport()
            )
        except BaseException:
            self._close_store()
            raise

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
    def senders(self) -> SenderRegistry:
        """Every sender by name (a ``Mapping``); with ``[gateway] store`` set, also the
        way to add, update, rotate and remove the store's (:mod:`gateway.senders`)."""
        return self._core.senders

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core!r})"


class Gateway(_Base[Transport]):
    """Synchronous gateway: send Flows, create templates, take webhooks."""

    def _default_transport(self) -> Transport:
        return HttpxTransport()

    @cached_property
    def flows(self) -> Flows:
        """Flows management (create, update, publish, deploy…; ARCHITECTURE §10)."""
        return Flows(self._core, self._run)

    @cached_property
    def templates(self) -> Templates:
        """Template management (list, get, delete; ``create`` is :meth:`create_template`)."""
        return Templates(self._core, self._run)

    def send(self, msg: FlowMessage, *, max_wait: float | None = None) -> SendReceipt:
        """Send ``msg`` through its sender (explicit, routed, or the default).

        ``max_wait`` bounds the seconds spent waiting between attempts (None: the retry
        policy alone decides).

        Raises:
            ProviderError: the provider refused, or failed past the retry policy.
            RateLimited: a ``Retry-After`` would take the waits past ``max_wait``.
            ConfigError: no sender for ``msg``.
            UnsupportedFeature: the provider cannot express ``msg`` (nothing was sent).
        """
        sender, request = self._core.plan_send(msg)
        parse = self._core.send_parser(sender, msg)
        return self._run(exchange(self._core, sender, "send", request, parse, max_wait=max_wait))

    def create_template(self, tpl: FlowTemplate, sender: str | None = None) -> TemplateReceipt:
        """Submit a FLOW-button template for review."""
        return self.templates.create(tpl, sender=sender)

    def register_public_key(self, public_key_pem: str, sender: str | None = None) -> bool:
        """Register the Flow endpoint's business public key for ``sender``'s number."""
        s, request = self._core.plan_public_key(public_key_pem, sender)
        parse = s.adapter.parse_register_public_key_response
        return self._run(exchange(self._core, s, "register_public_key", request, parse))

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

    def _run(self, flow: Flow[T]) -> T:
        """Drive a protocol flow: its requests on the transport, its pauses, its token lock."""
        outcome: Any = None
        while True:
            try:
                action = flow.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            if isinstance(action, HttpRequest):
                try:
                    outcome = self._transport.send(action)
                except ProviderError as exc:
                    outcome = exc
            elif isinstance(action, Sleep):
                self._core.retry.sleep(action.seconds)
                outcome = None
            else:  # FetchToken: one token request, however many threads wait
                with action.cache.thread_lock:
                    outcome = self._run(action.flow)

    def close(self) -> None:
        try:
            self._transport.close()
        finally:
            self._close_store()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncGateway(_Base[AsyncTransport]):
    """Asynchronous twin of :class:`Gateway` with the same methods, awaitable."""

    def _default_transport(self) -> AsyncTransport:
        # [gateway] async_backend; a core or bare adapters carry no config: "auto".
        return default_async_transport(
            self._config.gateway.async_backend if self._config else "auto"
        )

    @cached_property
    def flows(self) -> AsyncFlows:
        """Flows management, awaited (as :attr:`Gateway.flows`)."""
        return AsyncFlows(self._core, self._run)

    @cached_property
    def templates(self) -> AsyncTemplates:
        """Template management, awaited (as :attr:`Gateway.templates`)."""
        return AsyncTemplates(self._core, self._run)

    async def send(self, msg: FlowMessage, *, max_wait: float | None = None) -> SendReceipt:
        """Send ``msg`` through its sender; as :meth:`Gateway.send` (same ``max_wait``,
        same errors)."""
        sender, request = self._core.plan_send(msg)
        parse = self._core.send_parser(sender, msg)
        flow = exchange(self._core, sender, "send", request, parse, max_wait=max_wait)
        return await self._run(flow)

    async def create_template(
        self, tpl: FlowTemplate, sender: str | None = None
    ) -> TemplateReceipt:
        """Submit a FLOW-button template for review."""
        return await self.templates.create(tpl, sender=sender)

    async def register_public_key(self, public_key_pem: str, sender: str | None = None) -> bool:
        """Register the Flow endpoint's business public key for ``sender``'s number."""
        s, request = self._core.plan_public_key(public_key_pem, sender)
        parse = s.adapter.parse_register_public_key_response
        return await self._run(exchange(self._core, s, "register_public_key", request, parse))

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

    async def _run(self, flow: Flow[T]) -> T:
        """Drive a protocol flow: its requests on the transport, its pauses, its token lock."""
        outcome: Any = None
        while True:
            try:
                action = flow.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
            if isinstance(action, HttpRequest):
                try:
                    outcome = await self._transport.send(action)
                except ProviderError as exc:
                    outcome = exc
            elif isinstance(action, Sleep):
                await self._core.retry.async_sleep(action.seconds)
                outcome = None
            else:  # FetchToken: one token request, however many tasks wait
                async with action.cache.async_lock:
                    outcome = await self._run(action.flow)

    async def close(self) -> None:
        try:
            await self._transport.aclose()
        finally:
            self._close_store()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _open_store(config: GatewayConfig) -> Store | None:
    if config.gateway.store is None:
        return None
    from gateway.store import open_store

    return open_store(config.store_url, migrate=config.gateway.store_migrate)


def _make_core(
    source: GatewayCore | GatewayConfig | Mapping[str, Adapter],
    retry: RetryPolicy | None,
    store: Store | None = None,
) -> GatewayCore:
    if isinstance(source, GatewayCore):
        return source
    if isinstance(source, GatewayConfig):
        return GatewayCore.from_config(source, retry, store)
    return GatewayCore(source, retry=retry)
