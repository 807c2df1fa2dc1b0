"""The dispatcher: handlers run from the inbox, never in the way of acknowledgements.

One loop claims due jobs while handlers run (at most ``handler_concurrency`` at once),
each call bounded by ``handler_timeout``; results are stored in batches. Claims are
leases held by this process (its *owner* id) and renewed by a heartbeat, so any number
of processes share one store: a job is handled once, and again only if its process died
while running it (its lease expires, another process takes it over). A store error (a
lock held by another process, a full disk) is logged and retried with backoff: the loop
never dies of it, and :meth:`Dispatcher.problem` says what is wrong meanwhile. The same
loop prunes what is past ``retention_days``. Sync handlers run on their own daemon
threads, store IO on the store's executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import queue
import random
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

from structlog.stdlib import BoundLogger

from gateway import telemetry
from gateway.config import ReceiverSettings
from gateway.events import event_from_dict
from gateway.store import Job, Outcome, Store
from gateway.store.base import lease_owner

Handler = Callable[[Any], Awaitable[None] | None]
P = ParamSpec("P")
T = TypeVar("T")

_BACKOFF_MAX = 30.0  # seconds between attempts while the store keeps failing


class _HandlerTimeout(TimeoutError):
    """A handler call ran past ``handler_timeout``."""


class DaemonPool(Executor):
    """A bounded thread pool whose threads do not keep the process alive.

    A handler that never returns holds its thread forever; with the standard
    ``ThreadPoolExecutor`` it would also block interpreter exit after a graceful stop.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size, self._name = size, name
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name} pool is shut down")
            if len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._serve, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._queue.put((future, functools.partial(fn, *args, **kwargs)))
        return future

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:  # threads stuck in a handler are left behind: they are daemons
            for thread in threads:
                thread.join(timeout=0.1)


class Dispatcher:
    """Claims due jobs and runs their handlers; see the module docstring."""

    def __init__(
        self,
        inbox: Store,
        settings: ReceiverSettings,
        handler: Callable[[str], Handler | None],
        *,
        io: Executor,
        clock: Callable[[], float],
        log: BoundLogger,
    ) -> None:
        self.inbox, self.settings, self._handler = inbox, settings, handler
        self._io, self.clock, self.log = io, clock, log
        self._threads = DaemonPool(settings.handler_threads, "handler")
        self._running: dict[asyncio.Task[None], Job] = {}
        self._outcomes: list[Outcome] = []
        self._interrupted: list[int] = []
        self._wake = asyncio.Event()
        self._new_work = True
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._beat = time.monotonic()
        self._store_error: str | None = None
        self._stuck_threads = 0  # sync handler calls still running past their timeout
        self.owner = lease_owner()
        """Who holds this dispatcher's leases (host, pid, and a nonce per start)."""
        self._last_heartbeat = time.monotonic()
        self._last_maintenance = time.monotonic()
        self._last_prune = 0.0  # prune once soon after start, then every prune_interval

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="receiver-dispatcher")

    def notify(self) -> None:
        """New jobs were stored: claim now rather than at the next poll."""
        self._new_work = True
        self._wake.set()

    async def stop(self, grace: float) -> None:
        """Stop claiming, give running handlers ``grace`` seconds, release the rest."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except BaseException as exc:  # a dead loop must not stop the shutdown
                self.log.error("receiver.worker_died", error=repr(exc))
        running = list(self._running)
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        now = self.clock()
        try:
            if self._outcomes:
                await self._call(self.inbox.settle, self.owner, self._outcomes, now)
                self._outcomes = []
            if self._interrupted:
                await self._call(self.inbox.release, self.owner, self._interrupted, now)
                self.log.warning("receiver.released", jobs=len(self._interrupted))
                self._interrupted = []
        except Exception as exc:  # their leases expire; another process takes them over
            self.log.error("receiver.drain_failed", error=f"{type(exc).__name__}: {exc}")
        self._threads.shutdown(wait=False)

    def problem(self) -> str | None:
        """Why the worker is dead or stuck (None when it is alive)."""
        if self._task is None:
            return "the handler worker is not running (ASGI lifespan not started)"
        if self._task.done():
            if self._task.cancelled():
                return "the handler worker was cancelled"
            exc = self._task.exception()
            return f"the handler worker stopped: {exc!r}" if exc else "the handler worker stopped"
        s = self.settings
        stalled = time.monotonic() - self._beat
        if stalled > 30 + 2 * s.inbox_busy_timeout + s.poll_interval:
            return f"the handler worker has not progressed for {stalled:.0f}s"
        if self._stuck_threads >= s.handler_threads:
            return f"all {s.handler_threads} handler threads are held by timed-out handlers"
        return None

    def store_problem(self) -> str | None:
        """The inbox error the worker is backing off from, if any."""
        return None if self._store_error is None else f"the inbox is failing: {self._store_error}"

    # -- the loop --------------------------------------------------------------------

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, functools.partial(fn, *args, **kwargs))

    async def _loop(self) -> None:
        limit = self.settings.handler_concurrency
        failures = 0
        more_due = True
        while not self._stopping:
            self._beat = time.monotonic()
            self._wake.clear()
            try:
                await self._settle()
                await self._heartbeat()
                await self._maintain()
                free = limit - len(self._running)
                if free > 0 and (more_due or self._new_work):
                    self._new_work = False
                    jobs = await self._claim(free)
                    more_due = len(jobs) == free
                    for job in jobs:
                        self._spawn(job)
            except Exception as exc:
                failures = min(failures + 1, 32)  # 2.0 ** n overflows past ~1000
                self._store_error = f"{type(exc).__name__}: {exc}"
                delay = min(_BACKOFF_MAX, self.settings.poll_interval * 2.0 ** (failures - 1))
                self.log.error(
                    "receiver.worker_store_failed", error=self._store_error, retry_in=delay
                )
                more_due = True
                await self._sleep(delay)
                continue
            failures, self._store_error = 0, None
            if await self._sleep(self.settings.poll_interval):
                more_due = True  # retries fall due with time; the CLI replays jobs

    async def _sleep(self, seconds: float) -> bool:
        """Wait for a wake-up (new jobs, a handler done, stop); True if none came."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
        # arrives as the event is set, and the task would never end.
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            return True
        return False

    async def _settle(self) -> None:
        if not self._outcomes:
            return
        batch, self._outcomes = self._outcomes, []
        try:
            await self._call(self.inbox.settle, self.owner, batch, self.clock())
        except BaseException:
            self._outcomes = batch + self._outcomes  # kept for the next attempt
            raise

    async def _claim(self, limit: int) -> list[Job]:
        return await self._call(
            self.inbox.claim, self.owner, self.clock(), limit, self.settings.lease
        )

    async def _heartbeat(self) -> None:
        """Renew the leases of running jobs every third of a lease."""
        lease = self.settings.lease
        if not self._running or time.monotonic() - self._last_heartbeat < lease / 3:
            return
        self._last_heartbeat = time.monotonic()
        ids = [job.id for job in self._running.values()]
        held = await self._call(self.inbox.heartbeat, self.owner, ids, self.clock() + lease)
        if lost := sorted(set(ids) - held):
            # This process stalled past its lease and another took the jobs over: its
            # results for them will not be stored.
            self.log.warning("receiver.lease_lost", jobs=lost)

    async def _maintain(self) -> None:
        """Prune past ``retention_days`` every ``prune_interval``; checkpoint every
        ``maintenance_interval``."""
        s, now = self.settings, time.monotonic()
        if now - self._last_prune >= s.prune_interval and s.retention_days > 0:
            self._last_prune = self._last_maintenance = now
            pruned = await self._call(self.inbox.prune, self.clock() - s.retention_days * 86400)
            if pruned.jobs or pruned.events or pruned.deliveries:
                self.log.info(
                    "receiver.pruned",
                    jobs=pruned.jobs,
                    events=pruned.events,
                    deliveries=pruned.deliveries,
                )
            await self._call(self.inbox.maintain)
        elif now - self._last_maintenance >= s.maintenance_interval:
            self._last_maintenance = now
            await self._call(self.inbox.maintain)

    def _spawn(self, job: Job) -> None:
        task = asyncio.create_task(self._run_to_outcome(job))
        self._running[task] = job
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._wake.set()

    async def _run_to_outcome(self, job: Job) -> None:
        try:
            outcome = await self.run(job)
        except asyncio.CancelledError:
            self._interrupted.append(job.id)
            raise
        self._outcomes.append(outcome)  # after the await: _settle swaps the list

    async def run_due(self) -> int:
        """Run every job due now, batch by batch, without the loop (tests, tools)."""
        ran = 0
        limit = self.settings.handler_concurrency
        while jobs := await self._claim(limit):
            outcomes = await asyncio.gather(*(self.run(job) for job in jobs))
            await self._call(self.inbox.settle, self.owner, outcomes, self.clock())
            ran += len(jobs)
        return ran

    # -- one job ---------------------------------------------------------------------

    async def run(self, job: Job) -> Outcome:
        """Run ``job``'s handler (bounded by ``handler_timeout``) and say how it went;
        in a span of its own (:mod:`gateway.telemetry`), the parent of the handler's."""
        if not telemetry.ENABLED:
            return await self._run(job)
        with telemetry.handler_run(job.handler, job.type) as done:
            outcome = await self._run(job)
            error = None
            if outcome.error is not None:  # the class name only: a message may hold data
                error = outcome.error.partition(":")[0]
                error = "Abandoned" if " " in error else error
            done(error, outcome.error is not None and outcome.next_at is None)
        return outcome

    async def _run(self, job: Job) -> Outcome:
        log = self.log.bind(
            job=job.id, handler=job.handler, sender=job.sender, attempt=job.attempts
        )
        if job.attempts > self.settings.max_attempts:
            # Claimed again and again after expired leases: it kills its process.
            error = f"its process stopped while running it {job.attempts - 1} times"
            log.error("handler.abandoned", error=error)
            return Outcome(job.id, error, None)
        try:
            handler = self._handler(job.handler)
            if handler is None:
                raise LookupError(f"handler {job.handler!r} is not registered")
            event = event_from_dict(job.payload)
            await self._call_handler(handler, event)
        except Exception as exc:
            timed_out = isinstance(exc, _HandlerTimeout)
            error = f"{'TimeoutError' if timed_out else type(exc).__name__}: {exc}"
            next_at = self.next_attempt(job.attempts)
            log.warning("handler.failed", error=error, dead=next_at is None, exc_info=not timed_out)
            return Outcome(job.id, error, next_at)
        log.debug("handler.ok")
        return Outcome(job.id)

    async def _call_handler(self, handler: Handler, event: Any) -> None:
        limit = self.settings.handler_timeout
        try:
            async with asyncio.timeout(limit) as deadline:  # not wait_for: see _sleep
                await self._call_within(handler, event)
        except TimeoutError:
            if deadline.expired():  # ours, not one the handler raised
                raise _HandlerTimeout(f"handler took longer than {limit:g}s") from None
            raise

    async def _call_within(self, handler: Handler, event: Any) -> None:
        if inspect.iscoroutinefunction(handler):
            await handler(event)
            return
        call = functools.partial(contextvars.copy_context().run, handler, event)
        future = self._threads.submit(call)
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:  # the timeout, or a stop
            # A call still queued is cancelled with the wait; a running one keeps its
            # thread until it returns.
            if future.running():
                self._hold_thread(future)
            raise
        if inspect.isawaitable(result):
            await result

    def _hold_thread(self, future: Future[Any]) -> None:
        loop = asyncio.get_running_loop()
        self._stuck_threads += 1

        def returned(_: Future[Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                loop.call_soon_threadsafe(self._thread_back)

        future.add_done_callback(returned)

    def _thread_back(self) -> None:
        self._stuck_threads -= 1

    def next_attempt(self, attempts: int) -> float | None:
        """When to try again after ``attempts`` failures; None: dead-letter."""
        s = self.settings
        if attempts >= s.max_attempts:
            return None
        ceiling = min(s.retry_max, s.retry_initial * 2.0 ** min(attempts - 1, 64))
        # Half fixed, half jitter: spread retries without retrying immediately.
        jitter: float = random.uniform(0, ceiling / 2)  # noqa: S311 - not cryptographic
        return self.clock() + ceiling / 2 + jitter
