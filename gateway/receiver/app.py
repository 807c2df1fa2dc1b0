"""The webhook receiver: one ASGI service for every sender's callbacks.

``POST {prefix}/{sender}``: verify the way the sender's provider authenticates, parse
into normalized events, store the raw body and the events in the store, *then* answer
200. ``POST {prefix}/{provider}`` (one URL per provider app) does the same for each part
of the body, routed to the sender whose business id it names (:mod:`gateway.receiver.routing`).
Handlers run from the store, so a crash, a restart or a failing handler loses nothing; a
provider's redelivery of an event already stored is acknowledged and not handled again.
``GET {prefix}/{sender}`` answers Meta's ``hub.challenge`` handshake; ``GET /healthz``
and ``GET /readyz`` report liveness and readiness; ``GET /metrics`` (extra ``otel``) the
Prometheus metrics (:mod:`gateway.telemetry`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
import traceback
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, get_args

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway import telemetry
from gateway.config import GatewayConfig, ReceiverSettings, load_config
from gateway.core import GatewayCore
from gateway.errors import GatewayError, SignatureError, UnsupportedFeature
from gateway.events import (
    FlowCompleted,
    FlowHealthAlert,
    FlowStatusChanged,
    InboundEvent,
    MessageStatus,
    TemplateStatusChanged,
    UnhandledEvent,
    event_to_dict,
)
from gateway.group_commit import GroupCommit
from gateway.http import encodable, mask_headers
from gateway.log import get_logger
from gateway.receiver.routing import Routed, Unroutable, route
from gateway.receiver.worker import Dispatcher, Handler
from gateway.store import Delivery, NewEvent, Recorded, Store, open_store
from gateway.store.base import status_key

H = TypeVar("H", bound=Handler)
P = ParamSpec("P")
T = TypeVar("T")

_READY_PROBE = 1.0  # seconds the readiness probe may wait for the inbox's write lock
_CLOSE = {"Connection": "close"}  # the body was not read to its end: no keep-alive


class _BodyTooLarge(Exception):
    pass


class _Seen:
    """What one callback was, for its span and metrics (the secrets-free part)."""

    __slots__ = ("duplicates", "kinds", "new", "provider")

    def __init__(self) -> None:
        self.provider: str | None = None
        self.kinds: list[str] = []
        self.new = 0
        self.duplicates = 0


def dedup_key(provider: str, event: InboundEvent) -> str:
    """Provider + message id + status/kind: a redelivered event has the same key."""
    if isinstance(event, FlowCompleted):
        return f"{provider}:flow:{event.message_id}"
    if isinstance(event, MessageStatus):
        return status_key(provider, event.message_id, event.status)
    digest = hashlib.sha256(json.dumps(event.raw, sort_keys=True, default=str).encode())
    if isinstance(event, FlowStatusChanged | FlowHealthAlert | TemplateStatusChanged):
        # Their value has no id: the same move made twice (published, edited, published
        # again) is the same value; the envelope's time tells a new one from a redelivery.
        when = int(event.timestamp.timestamp()) if event.timestamp else ""
        return (
            f"{provider}:{event_kind(event)}:{event.business_id}:{when}:{digest.hexdigest()[:40]}"
        )
    return f"{provider}:{event_kind(event)}:{digest.hexdigest()[:40]}"


def event_kind(event: InboundEvent) -> str:
    return event.kind if isinstance(event, UnhandledEvent) else type(event).__name__


class WebhookReceiver:
    """Receive, verify, store and dispatch every configured sender's callbacks."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        store: Store | None = None,
        inbox: Store | None = None,
        clock: Callable[[], float] = time.time,
        autostart: bool = True,
    ) -> None:
        """``store``: where callbacks and jobs go (default: the config's). ``autostart``:
        start the handlers at the first callback when no lifespan started them (a mount
        without ``lifespan=receiver.lifespan``); False leaves them to :meth:`start` or
        :meth:`run_due` (tools and tests that drive handlers themselves)."""
        self.config = config
        self.settings: ReceiverSettings = config.receiver
        self.store: Store = (
            store
            or inbox
            or open_store(
                config.store_url,
                migrate=config.gateway.store_migrate,
                busy_timeout=self.settings.inbox_busy_timeout,
                pool_size=self.settings.inbox_threads + 1,
            )
        )
        self.inbox = self.store  # the name it had before the store held more than the inbox
        # Lookups never query the store on the event loop: a task refreshes the senders
        # on a store thread every [gateway] senders_refresh seconds.
        self.core = GatewayCore.from_config(config, store=self.store, poll=False)
        self._refresher: asyncio.Task[None] | None = None
        self.clock = clock
        self.log = get_logger(component="receiver")
        self._handlers: list[tuple[tuple[type, ...], str, Handler]] = []
        self._group: GroupCommit[Delivery, Recorded] = GroupCommit(self._record_batch)
        self._io: ThreadPoolExecutor | None = None
        self._dispatcher: Dispatcher | None = None
        self._tools: Dispatcher | None = None
        self._stopping = False
        self._started = not autostart  # True: nothing to start on the first callback
        routes = [
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/readyz", self._readyz, methods=["GET"]),
            Route(f"{self.settings.path_prefix}/{{sender}}", self._post, methods=["POST"]),
            Route(f"{self.settings.path_prefix}/{{sender}}", self._get, methods=["GET"]),
        ]
        if telemetry.export_prometheus():  # without the extra: no route, a 404
            routes.insert(2, Route("/metrics", self._metrics, methods=["GET"]))
        self.asgi = Starlette(routes=routes, lifespan=self.lifespan)

    @classmethod
    def from_config(cls, path: str | Path, **kwargs: Any) -> WebhookReceiver:
        return cls(load_config(path), **kwargs)

    # -- handlers --------------------------------------------------------------------

    def on(self, *types: type, name: str | None = None) -> Callable[[H], H]:
        """Register a handler (sync or async) for events of ``types``.

        ``name`` identifies the handler in the inbox across restarts (default: its
        qualified name); each event is handled once per handler. Sync handlers run on
        their own threads; async ones on the event loop, so they must not block it.
        """
        wanted = types or get_args(InboundEvent)
        if name is not None:
            _check_name(name)

        def register(func: H) -> H:
            label = name or f"{func.__module__}.{func.__qualname__}"
            _check_name(label)
            if any(label == known for _, known, _ in self._handlers):
                raise ValueError(f"a handler named {label!r} is already registered")
            self._handlers.append((wanted, label, func))
            return func

        return register

    def handler_names(self) -> list[str]:
        return [label for _, label, _ in self._handlers]

    def _handlers_for(self, event: InboundEvent) -> tuple[str, ...]:
        return tuple(label for types, label, _ in self._handlers if isinstance(event, types))

    def _handler_named(self, label: str) -> Handler | None:
        return next((h for _, known, h in self._handlers if known == label), None)

    # -- HTTP ------------------------------------------------------------------------

    async def _post(self, request: Request) -> Response:
        started = time.perf_counter()
        if not telemetry.ENABLED:
            return await self._receive(request, started, None)
        seen = _Seen()
        response = await self._receive(request, started, seen)
        if seen.provider is not None:  # an unknown sender is no provider's callback
            status = response.status_code
            telemetry.webhook(
                seen.provider,
                started,
                seen.kinds,
                new=seen.new,
                duplicates=seen.duplicates,
                outcome="ok" if status == 200 else f"http_{status}",
            )
        return response

    async def _receive(self, request: Request, started: float, seen: _Seen | None) -> Response:
        name = request.path_params["sender"]
        log = self.log.bind(sender=name)
        senders, by_provider = self.core.senders, False
        if name in senders:
            provider = senders[name].provider
        elif senders.of_provider(name):
            provider, by_provider = name, True  # one URL per provider app: by business id
            log = self.log.bind(route="provider")
        else:
            return JSONResponse({"error": f"unknown sender {name!r}"}, status_code=404)
        log = log.bind(provider=provider)
        if seen is not None:
            seen.provider = provider
        if not self._started:
            await self._start_unmounted()
        s = self.settings
        try:
            body = await _read_body(request, s.max_body_bytes, s.body_timeout)
        except _BodyTooLarge:
            log.warning("receiver.too_large", limit=s.max_body_bytes)
            return JSONResponse({"error": "body too large"}, status_code=413, headers=_CLOSE)
        except TimeoutError:
            log.warning("receiver.body_timeout", timeout=s.body_timeout)
            error = f"body not received within {s.body_timeout:g}s"
            return JSONResponse({"error": error}, status_code=408, headers=_CLOSE)
        except ClientDisconnect:
            log.warning("receiver.disconnected")
            return JSONResponse({"error": "client disconnected"}, status_code=400)
        headers, query = dict(request.headers), dict(request.query_params)
        # Credentials masked by name and by value (a custom auth header too), once.
        masked = mask_headers(headers)
        try:
            if by_provider:
                deliveries = self._routed(provider, body, headers, masked, query, log)
            else:
                events = self.core.handle_webhook(name, body, headers, query, log=False)
                deliveries = [self._delivery(name, provider, masked, body, events)]
        except SignatureError as exc:
            log.warning("receiver.rejected", verified=False, reason=str(exc))
            return JSONResponse({"error": "authentication failed"}, status_code=401)
        except GatewayError as exc:
            log.warning("receiver.invalid", verified=True, reason=str(exc), size=len(body))
            return JSONResponse({"error": str(exc)}, status_code=400)
        except Exception as exc:  # a parser's bug (RecursionError, OverflowError…): 400
            where = traceback.extract_tb(exc.__traceback__)[-1]
            log.error(
                "receiver.unparseable",
                error=type(exc).__name__,
                at=f"{Path(where.filename).name}:{where.lineno}",
                size=len(body),
            )
            return JSONResponse({"error": "body could not be parsed"}, status_code=400)
        try:
            results = await asyncio.gather(*(self._record(d) for d in deliveries))
        except Exception as exc:  # the store failed: make the provider retry later
            log.error(
                "receiver.store_failed", scope="inbox", error=type(exc).__name__, reason=str(exc)
            )
            return JSONResponse({"error": "inbox unavailable"}, status_code=503)
        if failed := [r.error for r in results if r.error is not None]:
            # This callback alone could not be stored; the parts that were are
            # deduplicated when the provider retries.
            log.error("receiver.store_failed", scope="callback", reason=failed[0])
            error = "inbox could not store this callback"
            return JSONResponse({"error": error}, status_code=503)
        new = sum(r.new for r in results)
        duplicates = sum(r.duplicates for r in results)
        if new and self._dispatcher is not None:
            self._dispatcher.notify()
        received = sum(len(d.events) for d in deliveries)
        if seen is not None:
            seen.kinds = [e.type for d in deliveries for e in d.events]
            seen.new, seen.duplicates = new, duplicates
        log.info(
            "receiver.ok",
            verified=True,
            events=received,
            new=new,
            duplicates=duplicates,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        answer: dict[str, Any] = {"received": received, "new": new, "duplicates": duplicates}
        if unroutable := sum(d.unroutable is not None for d in deliveries):
            answer["unroutable"] = unroutable
        return JSONResponse(answer)

    async def _refresh_senders(self) -> None:
        """Pick up senders added, changed or removed in the store (by the CLI, another
        process) without a restart."""
        interval = max(self.config.gateway.senders_refresh, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._call(self.core.senders.refresh)
            except Exception as exc:  # the registry keeps its senders meanwhile
                self.log.warning("senders.refresh_failed", error=f"{type(exc).__name__}: {exc}")

    def _routed(
        self,
        provider: str,
        body: bytes,
        headers: dict[str, str],
        masked: dict[str, str],
        query: dict[str, str],
        log: Any,
    ) -> list[Delivery]:
        """One delivery per part of ``body``, for the sender its business id names; a
        part no sender owns is kept as unroutable (after the body proved authentic)."""
        deliveries = []
        for part in route(self.core, provider, body, headers, query):
            if isinstance(part, Unroutable):
                log.warning("receiver.unroutable", reason=part.reason)
                deliveries.append(
                    Delivery(
                        "",
                        provider,
                        self.clock(),
                        masked,
                        part.body,
                        (),
                        unroutable=part.reason,
                    )
                )
                continue
            assert isinstance(part, Routed)
            events = part.sender.adapter.parse_webhook(part.body, headers)
            deliveries.append(self._delivery(part.sender.name, provider, masked, part.body, events))
        return deliveries

    def _delivery(
        self,
        sender: str,
        provider: str,
        masked: dict[str, str],
        body: bytes,
        events: list[InboundEvent],
    ) -> Delivery:
        new = []
        for e in events:
            payload = event_to_dict(e)
            # Encoded here, where a failure is still this request's 400: ASCII JSON keeps
            # a lone surrogate as its escape.
            text = json.dumps(payload, ensure_ascii=True, default=str)
            key = dedup_key(provider, e)
            new.append(NewEvent(key, event_kind(e), payload, self._handlers_for(e), text))
        return Delivery(sender, provider, self.clock(), masked, body, tuple(new))

    async def _get(self, request: Request) -> Response:
        sender = request.path_params["sender"]
        if sender not in self.core.senders and (of := self.core.senders.of_provider(sender)):
            sender = of[0].name  # the app's verify token: every sender of one app shares it
        if sender not in self.core.senders:
            return JSONResponse({"error": f"unknown sender {sender!r}"}, status_code=404)
        try:
            challenge = self.core.verify_challenge(sender, dict(request.query_params))
        except UnsupportedFeature:
            return JSONResponse({"error": "no handshake for this provider"}, status_code=405)
        except SignatureError as exc:
            self.log.warning("receiver.challenge_rejected", sender=sender, reason=str(exc))
            return JSONResponse({"error": "verification failed"}, status_code=403)
        return PlainTextResponse(challenge)

    # -- health ----------------------------------------------------------------------

    async def _metrics(self, request: Request) -> Response:
        """Prometheus scrape: every metric of prometheus-client's default registry."""
        body, content_type = telemetry.prometheus_text()
        return Response(body, media_type=content_type)

    def _alive(self) -> str | None:
        if self._dispatcher is None:
            return "the handler worker is not running (ASGI lifespan not started)"
        return self._dispatcher.problem()

    async def _healthz(self, request: Request) -> Response:
        """Liveness: the handler worker runs and is not stuck (no IO)."""
        reason = self._alive()
        if reason is not None:
            return JSONResponse({"status": "failing", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        """Readiness: alive, not stopping, and the inbox can be written right now."""
        reason = "stopping" if self._stopping else self._alive()
        if reason is None and self._dispatcher is not None:
            reason = self._dispatcher.store_problem()
        if reason is None:
            try:
                async with asyncio.timeout(3 * _READY_PROBE):
                    await self._call(self.inbox.check, _READY_PROBE)
            except TimeoutError:
                reason = "the inbox did not answer in time"
            except Exception as exc:
                reason = f"the inbox cannot be written: {type(exc).__name__}: {exc}"
        if reason is not None:
            return JSONResponse({"status": "unready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    # -- group commit: concurrent requests share one transaction ---------------------

    def _io_pool(self) -> ThreadPoolExecutor:
        # Inbox IO has its own threads: a slow or stuck sync handler never delays a 200.
        if self._io is None:
            self._io = ThreadPoolExecutor(self.settings.inbox_threads, "inbox")
        return self._io

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io_pool(), functools.partial(fn, *args, **kwargs))

    async def _record(self, delivery: Delivery) -> Recorded:
        return await self._group.submit(delivery)

    async def _record_batch(self, deliveries: list[Delivery]) -> list[Recorded]:
        return await self._call(self.inbox.record, deliveries)

    # -- the worker: handlers run from the inbox -------------------------------------

    @asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """Run the handlers for the life of an app: ``FastAPI(lifespan=receiver.lifespan)``
        when the receiver is mounted in another app (whose lifespan Starlette would not
        run), or ``async with receiver.lifespan(): …`` inside your own."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def _start_unmounted(self) -> None:
        """A callback arrived before any lifespan started the handlers: the receiver is
        mounted without one. Start them now (a graceful stop needs the lifespan)."""
        if self._started:
            return
        self.log.warning(
            "receiver.started_without_lifespan",
            hint="pass lifespan=receiver.lifespan to the app that mounts the receiver",
        )
        await self.start()

    def _new_dispatcher(self) -> Dispatcher:
        return Dispatcher(
            self.inbox,
            self.settings,
            self._handler_named,
            io=self._io_pool(),
            clock=self.clock,
            log=self.log,
        )

    async def start(self) -> None:
        """Start the dispatch worker; it first recovers jobs a crash left running."""
        self._stopping = False
        self._started = True
        self._dispatcher = self._new_dispatcher()
        self._dispatcher.start()
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_senders(), name="senders")

    async def stop(self) -> None:
        """Graceful stop: drain running handlers for ``shutdown_grace`` seconds, put the
        rest back to pending, finish pending writes, close the inbox."""
        self._stopping = True
        if self._refresher is not None:
            self._refresher.cancel()
            with suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self._dispatcher is not None:
            await self._dispatcher.stop(self.settings.shutdown_grace)
        await self._group.drain()
        await self._call(self.inbox.close)
        if self._io is not None:
            self._io.shutdown(wait=False)
            self._io = None

    async def run_due(self) -> int:
        """Run every job due now (for tests and one-shot tools); returns how many ran."""
        if self._tools is None:
            self._tools = self._new_dispatcher()
        return await self._tools.run_due()

    def run(self, host: str = "127.0.0.1", port: int = 8080, **uvicorn_options: Any) -> None:
        """Serve with uvicorn (blocking), with the ``[receiver]`` connection limits."""
        from gateway.receiver.server import serve

        serve(self, host, port, **uvicorn_options)


def _check_name(label: str) -> None:
    """A handler name is stored with each job and looked up when it runs: it must
    survive every engine unchanged."""
    if not (label and label.isprintable() and encodable(label)):
        raise ValueError(f"handler name {label!r}: printable text only")


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    # One deadline for the whole body: a client dripping bytes cannot hold a request.
    async with asyncio.timeout(timeout):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
    return b"".join(chunks)
