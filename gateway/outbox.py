"""The durable outbox: sends kept in the store, sent by worker processes.

``gw.enqueue(msg, key=…)`` routes the message, stores it and returns at once; a repeated
key adds nothing (idempotent). ``flowgateway worker`` processes — any number, on any
hosts sharing the store and the limiter — run :class:`OutboxWorker`: claim due sends
with a lease, take each one's pacing slot, mark it *sending* (committed), send it, and
record the receipt or the error. Never sent twice automatically: a send whose outcome is
unknown (a timeout after the request left, a worker killed mid-request) is marked
``unknown`` for a person or a rule to decide (``flowgateway outbox retry|cancel``).
Receipts link to later status webhooks by message id (``outbox show``: sent → delivered
→ read, or failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from gateway import telemetry
from gateway.errors import ConfigError, GatewayError, OutcomeUnknown, ProviderError
from gateway.group_commit import GroupCommit
from gateway.log import get_logger
from gateway.model import FlowMessage
from gateway.store import no_outbox_store
from gateway.store.base import Enqueued, NewSend, OutboxJob, SendOutcome, lease_owner
from providers import message_from_mapping, message_to_mapping

if TYPE_CHECKING:
    from gateway.config import GatewayConfig
    from gateway.core import GatewayCore
    from gateway.events import SendReceipt
    from gateway.store import Store

P = ParamSpec("P")
T = TypeVar("T")


def plan_enqueue(core: GatewayCore, msg: FlowMessage, key: str | None) -> NewSend:
    """The outbox row for ``msg``: routed now (the worker sends through this sender),
    checked by the adapter (a message it cannot express is refused here, not later)."""
    sender, _ = core.plan_send(msg)
    if key is not None and (not key or len(key) > 200 or not key.isprintable()):
        raise ConfigError("key", "must be 1–200 printable characters")
    routed = msg if msg.sender == sender.name else msg.model_copy(update={"sender": sender.name})
    return NewSend(
        key or f"auto:{uuid.uuid4()}",
        sender.name,
        sender.provider,
        msg.to,
        json.dumps(message_to_mapping(routed), ensure_ascii=False, separators=(",", ":")),
    )


def enqueue_many(
    store: Store,
    core: GatewayCore,
    messages: Sequence[FlowMessage],
    keys: Sequence[str] | None,
) -> list[Enqueued]:
    """Check every message (one that cannot be sent raises, nothing is stored), then
    store them in transactions of 1,000."""
    if keys is not None and len(keys) != len(messages):
        raise ConfigError("keys", f"{len(keys)} keys for {len(messages)} messages")
    planned = [
        plan_enqueue(core, msg, None if keys is None else keys[i]) for i, msg in enumerate(messages)
    ]
    out: list[Enqueued] = []
    for i in range(0, len(planned), 1000):
        out += store.enqueue(planned[i : i + 1000], time.time())
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """How a worker takes and paces sends (``flowgateway worker`` options)."""

    concurrency: int = 64
    """Sends in flight at once (pacing waits included): enough to reach the senders'
    total tier at the providers' latency (80 msg/s × 0.3 s ≈ 24 per sender)."""
    lease: float = 30.0
    """Seconds a claimed send stays this worker's; renewed every third."""
    poll_interval: float = 0.5
    max_attempts: int = 5
    """Attempts at a retryable failure (5xx, 429) before the send is failed."""
    retry_initial: float = 2.0
    retry_max: float = 300.0


class OutboxWorker:
    """Claims and sends the outbox's due sends until :meth:`stop` (see the module).

    ``pace(msg)`` waits for the message's pacing slot (the shared limiter); ``send(msg)``
    makes the request without pacing its first attempt again (the gateway's retries of
    an unambiguous failure are paced and safe).
    """

    def __init__(
        self,
        store: Store,
        pace: Callable[[FlowMessage], Awaitable[None]],
        send: Callable[[FlowMessage], Awaitable[SendReceipt]],
        settings: WorkerSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self._pace, self._send = store, pace, send
        self.settings = settings or WorkerSettings()
        self.clock = clock
        self.owner = lease_owner()
        self.log = get_logger(component="worker", owner=self.owner)
        self._io = ThreadPoolExecutor(4, "outbox")
        self._held: set[int] = set()
        self._stopping = asyncio.Event()
        self.counts: dict[str, int] = {}
        # Group commit: the marks and results of every send in flight share transactions.
        self._marks: GroupCommit[int, bool] = GroupCommit(self._mark)
        self._settles: GroupCommit[SendOutcome, None] = GroupCommit(self._settle)

    async def _mark(self, ids: list[int]) -> list[bool]:
        held = await self._call(self.store.mark_sending, self.owner, ids, self.clock())
        return [i in held for i in ids]

    async def _settle(self, outcomes: list[SendOutcome]) -> list[None]:
        await self._call(self.store.settle_outbox, self.owner, outcomes, self.clock())
        return [None] * len(outcomes)

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, functools.partial(fn, *args, **kwargs))

    def stop(self) -> None:
        """Stop claiming; sends in flight finish, claimed ones go back at lease expiry."""
        self._stopping.set()

    async def run(self) -> None:
        """The loop: claim while there is room, beat the leases, until stopped."""
        s = self.settings
        running: set[asyncio.Task[None]] = set()
        beat = asyncio.create_task(self._heartbeats())
        try:
            # Claim in batches (a quarter of the room at least): one claim per finished
            # send would cost a transaction per message.
            batch = max(1, s.concurrency // 4)
            while not self._stopping.is_set():
                free = s.concurrency - len(running)
                jobs: list[OutboxJob] = []
                if free >= batch or not running:
                    try:
                        jobs = await self._call(
                            self.store.claim_outbox, self.owner, self.clock(), free, s.lease
                        )
                    except Exception as exc:  # the store is down: keep trying
                        self.log.error("worker.store_failed", error=f"{type(exc).__name__}: {exc}")
                for job in jobs:
                    self._held.add(job.id)
                    task = asyncio.create_task(self._one(job))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if not jobs or s.concurrency - len(running) < batch:
                    await self._wait(running, s.poll_interval)
            if running:
                await asyncio.wait(running)
        finally:
            beat.cancel()
            self._io.shutdown(wait=False)

    async def _wait(self, running: set[asyncio.Task[None]], seconds: float) -> None:
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._stopping.wait())}
        waiters |= running
        _, pending = await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
        for w in pending - running:
            w.cancel()

    async def _heartbeats(self) -> None:
        lease = self.settings.lease
        while True:
            await asyncio.sleep(lease / 3)
            if not self._held:
                continue
            ids = sorted(self._held)
            try:
                held = await self._call(
                    self.store.heartbeat_outbox, self.owner, ids, self.clock() + lease
                )
            except Exception as exc:
                self.log.error("worker.heartbeat_failed", error=f"{type(exc).__name__}: {exc}")
                continue
            if lost := set(ids) - held:
                self.log.warning("worker.lease_lost", sends=sorted(lost))

    async def _one(self, job: OutboxJob) -> None:
        started = time.perf_counter()
        try:
            outcome = await self._attempt(job)
            if outcome is not None and telemetry.ENABLED:
                telemetry.outbox_sent(job.sender, started, outcome.status, outcome.error_class)
            if outcome is not None:
                await self._settles.submit(outcome)
                self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        except Exception as exc:  # a store failure: the lease expires, as after a crash
            self.log.error(
                "worker.settle_failed", send=job.id, error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            self._held.discard(job.id)

    async def _attempt(self, job: OutboxJob) -> SendOutcome | None:
        log = self.log.bind(send=job.id, key=job.key, sender=job.sender)
        try:
            msg = message_from_mapping(json.loads(job.message))
        except (ValueError, ConfigError) as exc:  # not JSON, not a message, unknown options
            return SendOutcome(job.id, "failed", error_class="InvalidMessage", error=str(exc))
        try:
            await self._pace(msg)
        except GatewayError as exc:  # the limiter is down, or past its wait: not sent
            log.warning("worker.not_paced", error=f"{type(exc).__name__}: {exc}")
            later = self.clock() + self._backoff(1, getattr(exc, "retry_after", None))
            return SendOutcome(job.id, "queued", error_class=type(exc).__name__, next_at=later)
        if not await self._marks.submit(job.id):  # its lease went to another worker meanwhile
            log.warning("worker.lease_lost", sends=[job.id])
            return None
        try:
            receipt = await self._send(msg)
        except OutcomeUnknown as exc:
            log.error("worker.outcome_unknown", error=str(exc))
            return SendOutcome(job.id, "unknown", error_class=type(exc).__name__, error=str(exc))
        except ProviderError as exc:
            attempt = job.attempts + 1
            if exc.retryable and attempt < self.settings.max_attempts:
                next_at = self.clock() + self._backoff(attempt, exc.retry_after)
                log.warning("worker.retry", error=exc.category, attempt=attempt)
                return SendOutcome(
                    job.id, "queued", error_class=exc.category, error=str(exc), next_at=next_at
                )
            log.warning("worker.failed", error=exc.category, attempt=attempt)
            return SendOutcome(job.id, "failed", error_class=exc.category, error=str(exc))
        except GatewayError as exc:  # not sendable through this sender (config, feature)
            return SendOutcome(job.id, "failed", error_class=type(exc).__name__, error=str(exc))
        return SendOutcome(job.id, "sent", message_id=receipt.message_id)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        s = self.settings
        ceiling = min(s.retry_max, s.retry_initial * 2.0 ** min(attempt - 1, 32))
        wait = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - not cryptographic
        return max(wait, retry_after or 0.0)


async def serve_outbox(
    config: GatewayConfig,
    settings: WorkerSettings,
    stop: asyncio.Event,
    *,
    until_empty: bool = False,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> dict[str, int]:
    """Run one worker on ``config``'s store and limiter until ``stop`` is set (or, with
    ``until_empty``, until nothing is due); returns its counts per outcome.
    ``metrics_port``: serve Prometheus's ``/metrics`` there (extra ``otel``)."""
    from gateway.client import AsyncGateway

    if config.gateway.store is None:
        raise no_outbox_store()
    if metrics_port is not None:
        telemetry.serve_metrics(metrics_host, metrics_port)
    async with AsyncGateway(config) as gw:
        assert gw._store is not None

        async def pace(msg: FlowMessage) -> None:
            await gw._take_slot(msg)

        async def send(msg: FlowMessage) -> SendReceipt:
            return await gw._send(msg, pace_first=False)

        worker = OutboxWorker(gw._store, pace, send, settings)
        if telemetry.ENABLED:
            telemetry.observe_outbox(gw._store.outbox_counts)
        worker.log.info("worker.started", concurrency=settings.concurrency)
        run = asyncio.create_task(worker.run())
        watch = asyncio.create_task(_until(stop, gw._store, until_empty))
        await asyncio.wait({run, watch}, return_when="FIRST_COMPLETED")
        worker.stop()
        watch.cancel()
        await run
        worker.log.info("worker.stopped", **worker.counts)
        return dict(worker.counts)


async def _until(stop: asyncio.Event, store: Store, until_empty: bool) -> None:
    while not stop.is_set():
        if until_empty:
            counts = await asyncio.to_thread(store.outbox_counts)
            if not any(counts.get(s) for s in ("queued", "claimed", "sending")):
                return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await stop.wait()
