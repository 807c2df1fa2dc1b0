"""The webhook receiver: one ASGI service for every sender's callbacks.

``POST {prefix}/{sender}``: verify the way the sender's provider authenticates, parse
into normalized events, store the raw body and the events in the inbox, *then* answer
200. Handlers run from the inbox, so a crash, a restart or a failing handler loses
nothing; a provider's redelivery of an event already stored is acknowledged and not
handled again. ``GET {prefix}/{sender}`` answers Meta's ``hub.challenge`` handshake.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar, get_args

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway.config import GatewayConfig, ReceiverSettings, load_config
from gateway.core import GatewayCore
from gateway.errors import GatewayError, SignatureError, UnsupportedFeature, WebhookPayloadError
from gateway.events import (
    FlowCompleted,
    InboundEvent,
    MessageStatus,
    UnhandledEvent,
    event_from_dict,
    event_to_dict,
)
from gateway.http import mask_headers
from gateway.log import get_logger
from gateway.receiver.store import Delivery, Inbox, Job, NewEvent, Recorded, SQLiteInbox

Handler = Callable[[Any], Awaitable[None] | None]
H = TypeVar("H", bound=Handler)


class _BodyTooLarge(Exception):
    pass


def dedup_key(provider: str, event: InboundEvent) -> str:
    """Provider + message id + status/kind: a redelivered event has the same key."""
    if isinstance(event, FlowCompleted):
        return f"{provider}:flow:{event.message_id}"
    if isinstance(event, MessageStatus):
        return f"{provider}:status:{event.message_id}:{event.status}"
    digest = hashlib.sha256(json.dumps(event.raw, sort_keys=True, default=str).encode())
    return f"{provider}:{event_kind(event)}:{digest.hexdigest()[:40]}"


def event_kind(event: InboundEvent) -> str:
    return event.kind if isinstance(event, UnhandledEvent) else type(event).__name__


class WebhookReceiver:
    """Receive, verify, store and dispatch every configured sender's callbacks."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        inbox: Inbox | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.settings: ReceiverSettings = config.receiver
        self.core = GatewayCore.from_config(config)
        self.inbox: Inbox = inbox or SQLiteInbox(self.settings.inbox)
        self.clock = clock
        self.log = get_logger(component="receiver")
        self._handlers: list[tuple[tuple[type, ...], str, Handler]] = []
        self._pending: list[tuple[Delivery, asyncio.Future[Recorded]]] = []
        self._flushing = False
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self.asgi = Starlette(
            routes=[
                Route(f"{self.settings.path_prefix}/{{sender}}", self._post, methods=["POST"]),
                Route(f"{self.settings.path_prefix}/{{sender}}", self._get, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )

    @classmethod
    def from_config(cls, path: str | Path, **kwargs: Any) -> WebhookReceiver:
        return cls(load_config(path), **kwargs)

    # -- handlers --------------------------------------------------------------------

    def on(self, *types: type, name: str | None = None) -> Callable[[H], H]:
        """Register a handler (sync or async) for events of ``types``.

        ``name`` identifies the handler in the inbox across restarts (default: its
        qualified name); each event is handled once per handler.
        """
        wanted = types or get_args(InboundEvent)

        def register(func: H) -> H:
            label = name or f"{func.__module__}.{func.__qualname__}"
            if any(label == known for _, known, _ in self._handlers):
                raise ValueError(f"a handler named {label!r} is already registered")
            self._handlers.append((wanted, label, func))
            return func

        return register

    def handler_names(self) -> list[str]:
        return [label for _, label, _ in self._handlers]

    def _handlers_for(self, event: InboundEvent) -> tuple[str, ...]:
        return tuple(label for types, label, _ in self._handlers if isinstance(event, types))

    # -- HTTP ------------------------------------------------------------------------

    async def _post(self, request: Request) -> Response:
        started = time.perf_counter()
        sender = request.path_params["sender"]
        log = self.log.bind(sender=sender)
        if sender not in self.core.senders:
            return JSONResponse({"error": f"unknown sender {sender!r}"}, status_code=404)
        provider = self.core.senders[sender].provider
        log = log.bind(provider=provider)
        try:
            body = await _read_limited(request, self.settings.max_body_bytes)
        except _BodyTooLarge:
            log.warning("receiver.too_large", limit=self.settings.max_body_bytes)
            return JSONResponse({"error": "body too large"}, status_code=413)
        headers, query = dict(request.headers), dict(request.query_params)
        try:
            events = self.core.handle_webhook(sender, body, headers, query, log=False)
        except SignatureError as exc:
            log.warning("receiver.rejected", verified=False, reason=str(exc))
            return JSONResponse({"error": "authentication failed"}, status_code=401)
        except (WebhookPayloadError, GatewayError) as exc:
            log.warning("receiver.invalid", verified=True, reason=str(exc), size=len(body))
            return JSONResponse({"error": str(exc)}, status_code=400)
        delivery = Delivery(
            sender=sender,
            provider=provider,
            received_at=self.clock(),
            headers=mask_headers(headers),
            body=body,
            events=tuple(
                NewEvent(
                    dedup_key(provider, e), event_kind(e), event_to_dict(e), self._handlers_for(e)
                )
                for e in events
            ),
        )
        try:
            recorded = await self._record(delivery)
        except Exception as exc:  # the store failed: make the provider retry later
            log.error("receiver.store_failed", error=type(exc).__name__, reason=str(exc))
            return JSONResponse({"error": "inbox unavailable"}, status_code=503)
        if recorded.new and self._wake is not None:
            self._wake.set()
        log.info(
            "receiver.ok",
            verified=True,
            events=len(events),
            new=recorded.new,
            duplicates=recorded.duplicates,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return JSONResponse(
            {"received": len(events), "new": recorded.new, "duplicates": recorded.duplicates}
        )

    async def _get(self, request: Request) -> Response:
        sender = request.path_params["sender"]
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

    # -- group commit: concurrent requests share one transaction ---------------------

    async def _record(self, delivery: Delivery) -> Recorded:
        future: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._pending.append((delivery, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await asyncio.to_thread(self.inbox.record, [d for d, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
        finally:
            self._flushing = False

    # -- the worker: handlers run from the inbox -------------------------------------

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> Any:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        """Recover jobs a crash left running and start the dispatch worker."""
        recovered = await asyncio.to_thread(self.inbox.recover, self.clock())
        if recovered:
            self.log.warning("receiver.recovered", jobs=recovered)
        self._wake = asyncio.Event()
        self._worker = asyncio.create_task(self._work())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        await asyncio.to_thread(self.inbox.close)

    async def _work(self) -> None:
        assert self._wake is not None
        limit = self.settings.handler_concurrency
        while True:
            self._wake.clear()
            jobs = await asyncio.to_thread(self.inbox.claim, self.clock(), limit)
            if jobs:
                await asyncio.gather(*(self._run(job) for job in jobs))
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval)

    async def run_due(self) -> int:
        """Run every job due now (for tests and one-shot tools); returns how many ran."""
        ran = 0
        while jobs := await asyncio.to_thread(
            self.inbox.claim, self.clock(), self.settings.handler_concurrency
        ):
            await asyncio.gather(*(self._run(job) for job in jobs))
            ran += len(jobs)
        return ran

    async def _run(self, job: Job) -> None:
        handler = next((h for _, label, h in self._handlers if label == job.handler), None)
        log = self.log.bind(
            job=job.id, handler=job.handler, sender=job.sender, attempt=job.attempts
        )
        try:
            if handler is None:
                raise LookupError(f"handler {job.handler!r} is not registered")
            event = event_from_dict(job.payload)
            if inspect.iscoroutinefunction(handler):
                await handler(event)
            else:
                result = await asyncio.to_thread(handler, event)
                if inspect.isawaitable(result):
                    await result
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            next_at = self._next_attempt(job.attempts)
            await asyncio.to_thread(self.inbox.retry_later, job.id, error, next_at, self.clock())
            log.warning("handler.failed", error=error, dead=next_at is None)
            return
        await asyncio.to_thread(self.inbox.finish, job.id, self.clock())
        log.debug("handler.ok")

    def _next_attempt(self, attempts: int) -> float | None:
        s = self.settings
        if attempts >= s.max_attempts:
            return None
        ceiling = min(s.retry_max, s.retry_initial * 2.0 ** (attempts - 1))
        # Half fixed, half jitter: spread retries without retrying immediately.
        jitter: float = random.uniform(0, ceiling / 2)  # noqa: S311 - not cryptographic
        return self.clock() + ceiling / 2 + jitter

    def run(self, host: str = "127.0.0.1", port: int = 8080, **uvicorn_options: Any) -> None:
        """Serve with uvicorn (blocking)."""
        import uvicorn

        uvicorn.run(self.asgi, host=host, port=port, log_level="warning", **uvicorn_options)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
