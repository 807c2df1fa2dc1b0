"""The send protocol, written once and driven by every client (sans-IO).

A flow is a generator, as in httpx's ``Auth.auth_flow``: it yields the next thing to do
and is sent back what happened. It never touches a socket, a sleep or a lock itself, so
:class:`~gateway.client.Gateway` and :class:`~gateway.client.AsyncGateway` each drive it
with a loop of a few lines (``_run``), and tests step it by hand.

Actions, what the driver does, and what it sends back:

- an :class:`~gateway.http.HttpRequest`: send it on the transport → the ``HttpResponse``,
  or the ``ProviderError`` the transport raised (as a value, not thrown in).
- :class:`Sleep`: wait ``seconds`` with the retry policy's sleep → ``None``.
- :class:`FetchToken`: hold ``cache``'s lock (threading or asyncio) while driving the
  nested ``flow`` the same way → its result, ``str | ProviderError``.
- :class:`Acquire`: reserve a slot on ``rates`` with ``limiter.reserve`` (or ``areserve``)
  → the :class:`~gateway.limiter.Reservation`. The flow then yields the :class:`Sleep`
  the slot needs, or raises ``RateLimited`` when it is past ``max_wait``.
- :class:`Penalize`: ``limiter.penalize(key, seconds)`` (or ``apenalize``) → ``None``.

A flow ends by returning its result or raising the ProviderError it gave up on. It holds
no resource between yields (the driver owns the lock), so a flow abandoned mid-way, e.g.
by a cancelled task, needs no cleanup.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from tenacity import RetryCallState

from gateway import telemetry
from gateway.auth import TokenCache
from gateway.errors import ConfigError, GatewayError, ProviderError, RateLimited
from gateway.events import SendReceipt
from gateway.http import HttpRequest, HttpResponse
from gateway.limiter import Limiter, Rate, Reservation
from gateway.model import FlowMessage
from gateway.pacing import Pacer, number_of, past_max_wait, tier

if TYPE_CHECKING:
    from gateway.core import GatewayCore, Parse, Sender

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` before the next attempt; answer with None."""

    seconds: float


@dataclass(frozen=True, slots=True)
class FetchToken:
    """Drive ``flow`` while holding ``cache``'s lock, so that one token request serves
    every thread or task that needs one at the same time; answer with its result."""

    cache: TokenCache
    flow: Flow[str | ProviderError]


@dataclass(frozen=True, slots=True)
class Acquire:
    """Reserve a slot on every rate of ``rates`` at once, unless the slot is more than
    ``max_wait`` seconds away; answer with the :class:`~gateway.limiter.Reservation`."""

    limiter: Limiter
    rates: Sequence[Rate]
    max_wait: float | None


@dataclass(frozen=True, slots=True)
class Penalize:
    """Hold ``key`` for ``seconds`` (a provider said to back off); answer with None."""

    limiter: Limiter
    key: str
    seconds: float


# A request to send is yielded as itself: no wrapper to allocate on every send.
Action: TypeAlias = HttpRequest | Sleep | FetchToken | Acquire | Penalize
# What is sent back depends on the action yielded, which a type cannot say: each yield
# below annotates the outcome it receives.
Flow: TypeAlias = Generator[Action, Any, T]


def exchange(
    core: GatewayCore,
    sender: Sender,
    op: str,
    request: HttpRequest,
    parse: Parse[T],
    *,
    max_wait: float | None = None,
    to: str | None = None,
    pace_first: bool = True,
) -> Flow[T]:
    """Make ``request`` for ``sender`` and parse the answer, retrying as the policy says.

    A send (``to``: its recipient) on a core with a pacer takes a slot before every
    attempt, the first one too unless ``pace_first`` is False (the caller took it).
    Otherwise the first attempt goes straight out. A failure is retried while the policy
    allows (retryable, attempts left), after the policy's pause. Each attempt logs
    ``{op}.ok`` or ``{op}.failed``. ``max_wait`` bounds the seconds this exchange may
    spend waiting, for slots and pauses together (None: no bound).

    Raises:
        ProviderError: the last failure, its message scrubbed of secrets.
        RateLimited: a slot, a ``Retry-After`` (or rate-limit backoff) would take the
            waits past ``max_wait``; a slot too far away is not taken and nothing sent.
    """
    policy = core.retry
    pacer = core.pacer if to is not None else None
    retries: RetryCallState | None = None  # tenacity's state, made on the first failure
    paced = 0.0  # seconds waited for slots (tenacity counts the pauses: idle_for)
    cause: ProviderError | None = None
    attempt = 0
    while True:
        attempt += 1
        if pacer is not None and (pace_first or attempt > 1):
            assert to is not None
            idle = retries.idle_for if retries is not None else 0.0
            paced += yield from _take_slot(pacer, sender, to, _left(max_wait, paced + idle), cause)
        started = perf_counter()
        outcome: HttpResponse | ProviderError
        if sender.tokens is None:
            outcome = yield request
        else:
            outcome = yield from _authorized(core, sender, sender.tokens, request)
        try:
            if isinstance(outcome, ProviderError):
                raise outcome
            result = parse(outcome)
        except ProviderError as exc:
            status_code = outcome.status_code if isinstance(outcome, HttpResponse) else None
            if pacer is not None:
                assert to is not None
                hold = pacer.refused(sender, to, exc)
                if hold is not None:
                    yield Penalize(pacer.limiter, *hold)
            if retries is None:
                retries = policy.begin(max_wait)
            if paced:  # one budget: what the slots took is no longer the pauses' to take
                retries.kwargs["max_wait"] = _left(max_wait, paced)
            verdict = policy.after_failure(retries, exc)
            will_retry = verdict.pause is not None
            core.failed(sender, op, attempt, started, status_code, exc, will_retry=will_retry)
            if verdict.pause is None:
                if (
                    verdict.late
                    and exc.retry_after is not None
                    and not isinstance(exc, RateLimited)
                ):
                    raise _past_max_wait(exc, max_wait) from exc
                raise
            yield Sleep(verdict.pause)
            cause = exc
            continue
        if pacer is not None:
            assert to is not None
            pacer.accepted(sender, to)
        core.succeeded(sender, op, attempt, started, outcome.status_code, result)
        return result


def _left(max_wait: float | None, spent: float) -> float | None:
    return None if max_wait is None else max(0.0, max_wait - spent)


def _take_slot(
    pacer: Pacer, sender: Sender, to: str, max_wait: float | None, cause: BaseException | None
) -> Flow[float]:
    """Reserve the send's slot and wait for it; the seconds waited. A slot past
    ``max_wait`` is not taken: ``RateLimited`` (from ``cause``, the failure a retry was
    for), and nothing is sent."""
    reservation: Reservation = yield Acquire(pacer.limiter, pacer.rates(sender, to), max_wait)
    if not reservation.granted:
        raise past_max_wait(sender, reservation.wait, max_wait) from cause
    if telemetry.ENABLED:
        telemetry.limiter_waited(sender.name, sender.provider, reservation.wait)
    if reservation.wait > 0:
        yield Sleep(reservation.wait)
    return reservation.wait


def send_flow(
    core: GatewayCore, msg: FlowMessage, *, max_wait: float | None, pace_first: bool = True
) -> Flow[SendReceipt]:
    """The flow of ``gw.send(msg)``: routed, built, paced, sent, retried, parsed.
    ``max_wait`` None: the core's default (``[gateway] max_wait``); ``math.inf``: none.

    Raises (at once, nothing sent): ConfigError (no sender for ``msg``),
    UnsupportedFeature (its provider cannot express it)."""
    sender, request = core.plan_send(msg)
    parse = core.send_parser(sender, msg)
    bound = _bound(core, max_wait)
    return exchange(
        core, sender, "send", request, parse, max_wait=bound, to=msg.to, pace_first=pace_first
    )


def take_slot(core: GatewayCore, msg: FlowMessage, *, max_wait: float | None) -> Flow[float]:
    """Take ``msg``'s slot now, for a caller that sends it later without pacing its first
    attempt (``send(..., pace_first=False)``: the outbox worker, which records the job as
    being sent in between); the seconds waited (0 without a pacer)."""
    if core.pacer is None:
        return 0.0
    sender = core.sender(core.router.sender_for(msg))
    return (yield from _take_slot(core.pacer, sender, msg.to, _bound(core, max_wait), None))


def _bound(core: GatewayCore, max_wait: float | None) -> float | None:
    """A call's ``max_wait`` as the protocol takes it: None → the core's default,
    ``math.inf`` → None (no bound, which every limiter reads alike)."""
    if max_wait is None:
        max_wait = core.max_wait
    return None if max_wait == math.inf else max_wait


def _past_max_wait(exc: ProviderError, max_wait: float | None) -> RateLimited:
    """A Retry-After longer than the caller will wait reads as the rate limit it is."""
    return RateLimited(
        f"{exc.message} (Retry-After {exc.retry_after:g} s, past max_wait {max_wait:g} s)",
        provider=exc.provider,
        status_code=exc.status_code,
        code=exc.code,
        retry_after=exc.retry_after,
        raw=exc.raw,
    )


def _authorized(
    core: GatewayCore, sender: Sender, cache: TokenCache, request: HttpRequest
) -> Flow[HttpResponse | ProviderError]:
    """One attempt with a bearer token; a token the provider says expired early is
    refreshed once and the request resent."""
    token = yield from _token(core, sender, cache)
    if isinstance(token, ProviderError):
        return token
    outcome: HttpResponse | ProviderError = yield sender.adapter.authorize(request, token)
    if (
        isinstance(outcome, HttpResponse)
        and outcome.status_code == 401
        and sender.adapter.token_expired(outcome)
    ):
        cache.invalidate(token)
        token = yield from _token(core, sender, cache)
        if isinstance(token, ProviderError):
            return token
        outcome = yield sender.adapter.authorize(request, token)
    return outcome


def _token(core: GatewayCore, sender: Sender, cache: TokenCache) -> Flow[str | ProviderError]:
    token = cache.valid()
    if token is not None:  # the common case: no lock taken
        return token
    fetched: str | ProviderError = yield FetchToken(cache, _fetch(core, sender, cache))
    return fetched


def _fetch(core: GatewayCore, sender: Sender, cache: TokenCache) -> Flow[str | ProviderError]:
    """Runs under the cache's lock: whoever waited for it finds the token already there."""
    token = cache.valid()
    if token is not None:
        return token
    started = perf_counter()
    outcome: HttpResponse | ProviderError = yield core.token_request(sender)
    if isinstance(outcome, ProviderError):
        return outcome
    try:
        return core.take_token(sender, started, outcome)
    except ProviderError as exc:
        return exc


# -- send_many: the plan both gateways run -------------------------------------------------

LATENCY = 0.1
"""Seconds per request that ``send_many``'s default concurrency is sized for."""
MIN_CONCURRENCY = 4
MAX_CONCURRENCY = 256
"""Bounds of the default concurrency (threads for :class:`~gateway.client.Gateway`)."""

Result: TypeAlias = SendReceipt | GatewayError
OnResult: TypeAlias = Callable[[int, Result], None]


def default_concurrency(core: GatewayCore, messages: Sequence[FlowMessage]) -> int:
    """Sends in flight enough to reach the total tier of the numbers ``messages`` go
    through at :data:`LATENCY` s per request (Little's law: in flight = rate × latency),
    within [:data:`MIN_CONCURRENCY`, :data:`MAX_CONCURRENCY`]; e.g. 20 numbers at 80/s →
    160. Messages without a sender count for nothing (they fail without a request)."""
    tiers: dict[str, float] = {}
    names: set[str] = set()
    for msg in messages:
        try:
            name = core.router.sender_for(msg)
            if name in names:
                continue
            names.add(name)
            sender = core.sender(name)
        except ConfigError:
            continue
        tiers[number_of(sender)] = tier(sender)
    wanted = math.ceil(sum(tiers.values()) * LATENCY)
    return max(MIN_CONCURRENCY, min(MAX_CONCURRENCY, wanted))


class Batch:
    """``send_many``'s plan, shared by both gateways: which message goes next and where
    its result goes. A shell runs :attr:`workers` loops of :meth:`take`, drive the flow,
    :meth:`done` (a ``GatewayError`` is a result, in its place); on anything else it calls
    :meth:`stop`, so that the other loops end after their current send, and re-raises."""

    def __init__(
        self,
        core: GatewayCore,
        messages: Iterable[FlowMessage],
        *,
        concurrency: int | None,
        max_wait: float | None,
        on_result: OnResult | None,
    ) -> None:
        self._core = core
        self._messages = list(messages)
        self._results: list[Result | None] = [None] * len(self._messages)
        if concurrency is None:
            concurrency = default_concurrency(core, self._messages)
        elif concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (got {concurrency})")
        self.workers = min(concurrency, len(self._messages))
        """Loops to run: the concurrency, or fewer when there are fewer messages."""
        self._max_wait = max_wait
        self._on_result = on_result
        self._next = 0
        self._stopped = False
        self._lock = threading.Lock()

    def take(self) -> tuple[int, Flow[SendReceipt]] | None:
        """The next message's index and send flow; None when none is left (or stopped).
        A message that cannot be sent at all (no sender, unsupported) gets its error as
        its result here, and the next one is taken."""
        while True:
            with self._lock:
                if self._stopped or self._next >= len(self._messages):
                    return None
                index = self._next
                self._next += 1
            try:
                return index, send_flow(self._core, self._messages[index], max_wait=self._max_wait)
            except GatewayError as exc:
                self.done(index, exc)

    def done(self, index: int, result: Result) -> None:
        self._results[index] = result
        if self._on_result is not None:
            self._on_result(index, result)

    def stop(self) -> None:
        self._stopped = True

    def results(self) -> list[Result]:
        """Every message's receipt or error, in the order given."""
        missing = [i for i, r in enumerate(self._results) if r is None]
        assert not missing, f"no result for messages {missing[:5]}"
        return self._results  # type: ignore[return-value]  # no None left
