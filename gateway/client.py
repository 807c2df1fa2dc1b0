"""``Gateway`` and ``AsyncGateway`` (contract): thin IO shells around one shared core.

Everything that does not wait lives in :class:`~gateway.core.GatewayCore` and in the send
protocol (:mod:`gateway.protocol`: tokens, refresh, pacing, retries, pauses, the plan of
``send_many``). Each shell only drives that protocol: ``_run`` makes the requests, takes
the limiter's slots and the pauses, and holds the token lock it asks for, the one way its
twin cannot; ``send_many`` runs the plan's loops on threads or on tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from gateway.config import GatewayConfig, load_config
from gateway.core import GatewayCore, T
from gateway.errors import GatewayError, ProviderError
from gateway.events import InboundEvent, SendReceipt, TemplateReceipt
from gateway.http import HttpRequest
from gateway.limiter import Limiter, open_limiter
from gateway.manage_api import AsyncFlows, AsyncTemplates, Flows, Templates
from gateway.model import FlowMessage, FlowTemplate
from gateway.outbox import enqueue_many, plan_enqueue
from gateway.pacing import Pacer
from gateway.protocol import (
    Acquire,
    Batch,
    Flow,
    OnResult,
    Penalize,
    Result,
    Sleep,
    exchange,
    send_flow,
    take_slot,
)
from gateway.retry import RetryPolicy
from gateway.senders import SenderRegistry
from gateway.store import no_outbox_store, open_configured_store
from gateway.transport import (
    AsyncTransport,
    HttpxTransport,
    Transport,
    default_async_transport,
)
from providers.base import Adapter

if TYPE_CHECKING:
    from gateway.store import Store
    from gateway.store.base import Enqueued

TransportT = TypeVar("TransportT", Transport, AsyncTransport)


class _Base(Generic[TransportT]):
    """What the twins share: construction, config loading, the IO-free helpers."""

    def __init__(
        self,
        core: GatewayCore | GatewayConfig | Mapping[str, Adapter],
        *,
        transport: TransportT | None = None,
        retry: RetryPolicy | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        """``limiter`` paces sends (:mod:`gateway.pacing`): for a config, in place of its
        ``[gateway] limiter`` (which the gateway opens, and closes with itself); for bare
        adapters, sends are paced only when one is given. A core comes with its own."""
        if isinstance(core, GatewayCore) and limiter is not None:
            raise TypeError("a GatewayCore brings its own pacer: give the limiter to it")
        self._config = core if isinstance(core, GatewayConfig) else None
        # [gateway] store set: the senders added at run time are read from it.
        self._store = open_configured_store(self._config) if self._config else None
        self._limiter: Limiter | None = None  # the one this gateway opened and closes
        try:
            if self._config is not None and limiter is None:
                limiter = self._limiter = open_limiter(self._config.gateway.limiter)
            self._core = _make_core(core, retry, self._store, limiter)
            self._transport: TransportT = (
                transport if transport is not None else self._default_transport()
            )
        except BaseException:
            self._close_owned()
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
        limiter: Limiter | None = None,
    ) -> Self:
        """A gateway for the senders and routes of a TOML config file."""
        return cls(load_config(path, env), transport=transport, retry=retry, limiter=limiter)

    def build_send(self, msg: FlowMessage) -> HttpRequest:
        """The exact request ``send`` would make (for dry runs), without sending it."""
        return self._core.plan_send(msg)[1]

    @property
    def senders(self) -> SenderRegistry:
        """Every sender by name (a ``Mapping``); with ``[gateway] store`` set, also the
        way to add, update, rotate and remove the store's (:mod:`gateway.senders`)."""
        return self._core.senders

    def _close_owned(self) -> None:
        """Close what this gateway opened: the store, the limiter."""
        try:
            if self._store is not None:
                self._store.close()
                self._store = None
        finally:
            if self._limiter is not None:
                self._limiter.close()
                self._limiter = None

    def _outbox(self) -> Store:
        if self._store is None:
            raise no_outbox_store()
        return self._store

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

        Each attempt waits first for its slot on the sender's number and on the
        number → user pair, when sends are paced (:mod:`gateway.pacing`). ``max_wait``
        bounds the seconds this call may wait, for slots and ``Retry-After`` pauses
        together; None: ``[gateway] max_wait`` (30 s by default), ``math.inf``: no bound.

        Raises:
            ProviderError: the provider refused, or failed past the retry policy.
            RateLimited: a slot or a ``Retry-After`` is further away than ``max_wait``
                allows (``retry_after`` says how far); a slot too far is not taken and
                nothing is sent.
            ConfigError: no sender for ``msg``.
            UnsupportedFeature: the provider cannot express ``msg`` (nothing was sent).
        """
        return self._run(send_flow(self._core, msg, max_wait=max_wait))

    def send_many(
        self,
        messages: Iterable[FlowMessage],
        *,
        concurrency: int | None = None,
        max_wait: float | None = None,
        on_result: OnResult | None = None,
    ) -> list[Result]:
        """Send every message; each one's :class:`SendReceipt` or :class:`GatewayError`,
        in the order given. One failure never stops the rest: a refusal, a message with
        no sender or one its provider cannot express is its result, not raised.

        Sends go out paced per number and per user, as :meth:`send` (``max_wait`` is
        per message), on ``concurrency`` threads; None: enough to reach the total tier of
        the numbers used at 100 ms per request (tier × 0.1 s, e.g. 8 for one number at
        80/s, 160 for 20), from 4 to 256 (above the transport's ``max_connections``,
        requests wait for a connection). ``on_result(index, result)`` is called as each
        finishes, on the thread that sent it.

        Raises: only what is no send's failure (e.g. the limiter's server is down), after
        the sends under way end; no further one is started.
        """
        batch = Batch(
            self._core, messages, concurrency=concurrency, max_wait=max_wait, on_result=on_result
        )

        def work() -> None:
            try:
                while (job := batch.take()) is not None:
                    index, flow = job
                    try:
                        result: Result = self._run(flow)
                    except GatewayError as exc:
                        result = exc
                    batch.done(index, result)
            except BaseException:
                batch.stop()
                raise

        if batch.workers:
            with ThreadPoolExecutor(batch.workers, thread_name_prefix="flowgateway-send") as pool:
                # Each thread runs in a copy of the caller's context: its current span
                # (OpenTelemetry) is the parent of the sends' spans, as on tasks.
                running = [
                    pool.submit(contextvars.copy_context().run, work) for _ in range(batch.workers)
                ]
                try:
                    for future in running:
                        future.result()
                except BaseException:  # Ctrl-C included: start nothing more
                    batch.stop()
                    raise
        return batch.results()

    def _send(
        self, msg: FlowMessage, *, max_wait: float | None = None, pace_first: bool = True
    ) -> SendReceipt:
        """:meth:`send`; ``pace_first=False``: the first attempt takes no slot, the caller
        took it with :meth:`_take_slot` (the outbox worker, which marks the job as being
        sent in between). Retries are paced all the same."""
        return self._run(send_flow(self._core, msg, max_wait=max_wait, pace_first=pace_first))

    def _take_slot(self, msg: FlowMessage, *, max_wait: float | None = None) -> float:
        """Take ``msg``'s slot and wait for it (the seconds waited; 0 when unpaced).

        Raises:
            RateLimited: the slot is further away than ``max_wait`` (not taken).
            ConfigError: no sender for ``msg``.
        """
        return self._run(take_slot(self._core, msg, max_wait=max_wait))

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
            elif isinstance(action, Acquire):
                outcome = action.limiter.reserve(action.rates, action.max_wait)
            elif isinstance(action, Sleep):
                self._core.retry.sleep(action.seconds)
                outcome = None
            elif isinstance(action, Penalize):
                action.limiter.penalize(action.key, action.seconds)
                outcome = None
            else:  # FetchToken: one token request, however many threads wait
                with action.cache.thread_lock:
                    outcome = self._run(action.flow)

    def enqueue(self, msg: FlowMessage, *, key: str | None = None) -> Enqueued:
        """Keep ``msg`` in the durable outbox and return at once; ``flowgateway worker``
        processes send it, paced (ARCHITECTURE §11). A ``key`` already enqueued adds
        nothing (``Enqueued.new`` False): make it your own id for the send.

        Raises:
            ConfigError: no ``[gateway] store``, no sender for ``msg``, a bad key.
            UnsupportedFeature: the sender's provider cannot express ``msg``.
        """
        store = self._outbox()
        [entry] = store.enqueue([plan_enqueue(self._core, msg, key)], time.time())
        return entry

    def enqueue_many(
        self, messages: Sequence[FlowMessage], *, keys: Sequence[str] | None = None
    ) -> list[Enqueued]:
        """:meth:`enqueue` for a campaign: every message checked first (one that cannot
        be sent raises, nothing is stored), then stored in transactions of 1,000."""
        return enqueue_many(self._outbox(), self._core, messages, keys)

    def close(self) -> None:
        try:
            self._transport.close()
        finally:
            self._close_owned()

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
        """Send ``msg`` through its sender; as :meth:`Gateway.send` (same pacing, same
        ``max_wait``, same errors)."""
        return await self._run(send_flow(self._core, msg, max_wait=max_wait))

    async def send_many(
        self,
        messages: Iterable[FlowMessage],
        *,
        concurrency: int | None = None,
        max_wait: float | None = None,
        on_result: OnResult | None = None,
    ) -> list[Result]:
        """As :meth:`Gateway.send_many`, on ``concurrency`` tasks (same default: the
        numbers' total tier × 0.1 s, from 4 to 256); ``on_result`` is called on the event
        loop. Cancelling it cancels the sends under way."""
        batch = Batch(
            self._core, messages, concurrency=concurrency, max_wait=max_wait, on_result=on_result
        )

        async def work() -> None:
            try:
                while (job := batch.take()) is not None:
                    index, flow = job
                    try:
                        result: Result = await self._run(flow)
                    except GatewayError as exc:
                        result = exc
                    batch.done(index, result)
            except BaseException:
                batch.stop()
                raise

        # A few loops pulling from the plan, not a task per message behind a semaphore:
        # the same bound, without 20,000 tasks for a 20,000-message campaign.
        loops = [asyncio.create_task(work()) for _ in range(batch.workers)]
        try:
            await asyncio.gather(*loops)  # the first failure that is no send's, as itself
        finally:
            # After such a failure the other loops end after their current send, as on
            # threads; cancelled, gather has cancelled them: wait until they are done.
            batch.stop()
            await asyncio.gather(*loops, return_exceptions=True)
        return batch.results()

    async def _send(
        self, msg: FlowMessage, *, max_wait: float | None = None, pace_first: bool = True
    ) -> SendReceipt:
        """As :meth:`Gateway._send`."""
        return await self._run(send_flow(self._core, msg, max_wait=max_wait, pace_first=pace_first))

    async def _take_slot(self, msg: FlowMessage, *, max_wait: float | None = None) -> float:
        """As :meth:`Gateway._take_slot`."""
        return await self._run(take_slot(self._core, msg, max_wait=max_wait))

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
            elif isinstance(action, Acquire):
                outcome = await action.limiter.areserve(action.rates, action.max_wait)
            elif isinstance(action, Sleep):
                await self._core.retry.async_sleep(action.seconds)
                outcome = None
            elif isinstance(action, Penalize):
                await action.limiter.apenalize(action.key, action.seconds)
                outcome = None
            else:  # FetchToken: one token request, however many tasks wait
                async with action.cache.async_lock:
                    outcome = await self._run(action.flow)

    async def enqueue(self, msg: FlowMessage, *, key: str | None = None) -> Enqueued:
        """As :meth:`Gateway.enqueue`; the store is written on a thread."""
        store = self._outbox()
        new = plan_enqueue(self._core, msg, key)
        [entry] = await asyncio.to_thread(store.enqueue, [new], time.time())
        return entry

    async def enqueue_many(
        self, messages: Sequence[FlowMessage], *, keys: Sequence[str] | None = None
    ) -> list[Enqueued]:
        """As :meth:`Gateway.enqueue_many`; the store is written on a thread."""
        store = self._outbox()
        return await asyncio.to_thread(enqueue_many, store, self._core, messages, keys)

    async def close(self) -> None:
        try:
            await self._transport.aclose()
            if self._limiter is not None:  # its connections belong to this event loop
                await self._limiter.aclose()
        finally:
            self._close_owned()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _make_core(
    source: GatewayCore | GatewayConfig | Mapping[str, Adapter],
    retry: RetryPolicy | None,
    store: Store | None,
    limiter: Limiter | None,
) -> GatewayCore:
    if isinstance(source, GatewayCore):
        return source
    if isinstance(source, GatewayConfig):
        return GatewayCore.from_config(source, retry, store, limiter=limiter)
    return GatewayCore(source, retry=retry, pacer=Pacer(limiter) if limiter is not None else None)
