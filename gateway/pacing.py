"""Pacing: the limiter slots a send takes, at what pace, and how refusals change that pace.

A send by sender S to user U takes one slot on each of two keys of the limiter
(:mod:`gateway.limiter`), atomically:

- ``tp:{provider}:{number}``, S's number at its tier (setting ``throughput``, messages/s,
  else :attr:`~providers.base.Adapter.default_throughput`; Meta: 80, 1,000 once
  upgraded, 20 for coexistence numbers, over it → 130429): one slot every
  ``1 / (throughput × (1 - MARGIN))`` s and no burst. Slots alone would hold any 1 s
  window to the tier (a burst of ``b`` lets ``tier + b - 1`` through after a pause), but
  sends leave a few milliseconds off their slots (thread wake-ups, the event loop): at
  the full tier, 201 of them were measured in some 1 s at 200/s; at 98 %, 197 — and 0.98
  of the tier reached (``benchmarks``, docs/scale.md).
- ``pair:{provider}:{number}:{user}``, Meta's pair rate (``pair_interval``, default 6 s;
  ``pair_burst`` at once; over it → 131056). ``pair_interval = 0``: not paced.

``number`` is the sender's business id (Meta's phone number id, Sinch's app id…), else
its name: two senders on one number share its pace. Facts: Meta "Throughput" and
"Pair rate limits" (https://developers.facebook.com/docs/whatsapp/throughput/,
reference/management.md §7.1, §7.2); Sinch's app queue (providers.md §4.4).

Refusals adapt the pace, per process (each process learns from its own refusals; the
limiter shares the slots, not this state):

- a rate-limit refusal of S (130429, Graph 4/80007, HTTP 429) halves S's pace, down to
  :data:`FLOOR` of its tier; refusals within :data:`SLOW_HOLD` s of a slow-down are of
  sends already under way and do not halve it again. Every :data:`RECOVER_EVERY` s
  without a refusal gives back :data:`RECOVER_STEP` of the tier.
- a pair refusal (131056) holds the pair's key ``4**(n-1)`` s (1, 4, 16, 64, 256 at most)
  where ``n`` counts the pair's refusals since its last accepted send, as Meta advises
  (an unpaced pair, ``pair_interval = 0``, is not held either).

Everything here is arithmetic and in-process state; the waits and the shared keys are
the limiter's, reached by the send protocol's ``Acquire`` and ``Penalize`` actions.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.errors import ProviderError, RateLimited
from gateway.limiter import Limiter, Rate
from gateway.log import get_logger

if TYPE_CHECKING:
    from gateway.senders import Sender

TP_BURST = 1
"""Slots a number may take at once: 1, so that the tier holds in every 1 s window."""
MARGIN = 0.02
"""Share of the tier left unused, for the jitter of real sends around their slots."""
SLOW_FACTOR = 0.5
"""A rate-limit refusal multiplies the sender's pace by this."""
FLOOR = 0.1
"""…down to this share of its tier, never below."""
SLOW_HOLD = 1.0
"""Seconds after a slow-down during which further refusals do not slow down again."""
RECOVER_STEP = 0.1
"""Share of the tier given back…"""
RECOVER_EVERY = 3.0
"""…every this many seconds without a refusal."""
PAIR_BACKOFF_BASE = 4.0
PAIR_BACKOFF_MAX = 256.0
"""The longest hold of a pair key (4**4 s)."""
PAIR_PAIRS_MAX = 100_000
"""Pairs whose refusals are counted at once (oldest forgotten first)."""
PAIR_CODE = "131056"


def tier(sender: Sender) -> float:
    """Messages/s ``sender``'s number may send: its ``throughput`` setting, else the
    provider's documented default."""
    adapter = sender.adapter
    return adapter.settings.throughput or adapter.default_throughput


def number_of(sender: Sender) -> str:
    """``provider:number``: what the provider counts a sender's sends by."""
    return f"{sender.provider}:{sender.adapter.business_id or sender.name}"


def user_of(to: str) -> str:
    """The pair key's user: the recipient as addressed, without a leading ``+``."""
    return to.lstrip("+")


def pair_rate(sender: Sender, to: str) -> Rate | None:
    """The number → user pair's rate; None when ``pair_interval`` is 0 (not paced)."""
    settings = sender.adapter.settings
    interval = settings.pair_interval
    if interval is None:
        interval = sender.adapter.default_pair_interval
    if interval <= 0:
        return None
    return Rate(f"pair:{number_of(sender)}:{user_of(to)}", interval, settings.pair_burst)


def slowed(factor: float) -> float:
    """The share of the tier after a rate-limit refusal."""
    return max(FLOOR, factor * SLOW_FACTOR)


def recovered(factor: float, since: float, now: float) -> tuple[float, float]:
    """``(factor, since)`` after ``now - since`` seconds without a refusal: one
    :data:`RECOVER_STEP` per whole :data:`RECOVER_EVERY`, up to the full tier (1.0)."""
    steps = math.floor((now - since) / RECOVER_EVERY)
    if steps <= 0:
        return factor, since
    return min(1.0, factor + steps * RECOVER_STEP), since + steps * RECOVER_EVERY


def pair_backoff(refusals: int) -> float:
    """Seconds to hold a pair after its ``refusals``-th refusal in a row: 1, 4, 16…"""
    return min(PAIR_BACKOFF_MAX, PAIR_BACKOFF_BASE ** (refusals - 1))


def is_pair_refusal(exc: ProviderError) -> bool:
    return isinstance(exc, RateLimited) and str(exc.code) == PAIR_CODE


def past_max_wait(sender: Sender, wait: float, max_wait: float | None) -> RateLimited:
    """The error of a send whose slot is further away than the caller will wait; nothing
    was sent and no slot taken (``status_code`` None: no provider answered)."""
    return RateLimited(
        f"sender {sender.name!r} is paced: its next slot is {wait:.3g} s away, past "
        f"max_wait {max_wait or 0:g} s (nothing was sent)",
        provider=sender.provider,
        retry_after=wait,
    )


@dataclass(slots=True)
class _Throttle:
    """A sender slowed down: the share of its tier in use, and since when."""

    factor: float
    since: float  # last slow-down or recovery step
    slowed_at: float  # last slow-down


class Pacer:
    """Which slots a send takes (:meth:`rates`), and what a refusal changes
    (:meth:`refused`, :meth:`accepted`); ``limiter`` holds the slots. Thread-safe."""

    def __init__(self, limiter: Limiter, clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = limiter
        self._clock = clock
        self._throttles: dict[str, _Throttle] = {}  # tp key → slowed state; absent: full
        self._pair_refusals: dict[str, int] = {}  # pair key → refusals in a row
        self._lock = threading.Lock()
        self._log = get_logger(component="pacing")

    def rates(self, sender: Sender, to: str) -> tuple[Rate, ...]:
        """The rates a send by ``sender`` to ``to`` takes a slot on, in key order."""
        key = "tp:" + number_of(sender)
        pace = tier(sender) * (1.0 - MARGIN)
        if self._throttles:  # only while some sender is slowed down
            pace *= self._factor(key, sender)
        tp = Rate(key, 1.0 / pace, TP_BURST)
        pair = pair_rate(sender, to)
        return (tp,) if pair is None else (tp, pair)

    def pace(self, sender: Sender) -> float:
        """Messages/s ``sender`` is paced at now: its tier less the margin, or less
        after refusals."""
        key = "tp:" + number_of(sender)
        factor = self._factor(key, sender) if self._throttles else 1.0
        return tier(sender) * (1.0 - MARGIN) * factor

    def refused(self, sender: Sender, to: str, exc: ProviderError) -> tuple[str, float] | None:
        """Learn from a failed attempt; returns the key to hold and the seconds to give
        :meth:`Limiter.penalize <gateway.limiter.Limiter.penalize>` (a pair refusal of a
        paced pair), or None."""
        if not isinstance(exc, RateLimited):
            return None
        if is_pair_refusal(exc):
            return self._pair_refused(sender, to)
        self._slow_down(sender, exc)
        return None

    def accepted(self, sender: Sender, to: str) -> None:
        """A send went through: its pair's refusals start again from zero."""
        if self._pair_refusals:  # only while some pair was refused
            rate = pair_rate(sender, to)
            if rate is not None:
                with self._lock:
                    self._pair_refusals.pop(rate.key, None)

    # -- the slow paths ---------------------------------------------------------------

    def _factor(self, key: str, sender: Sender) -> float:
        with self._lock:
            state = self._throttles.get(key)
            if state is None:
                return 1.0
            before = state.factor
            state.factor, state.since = recovered(state.factor, state.since, self._clock())
            if state.factor == before:
                return before
            if state.factor >= 1.0:
                del self._throttles[key]
        full = tier(sender)
        self._log.info(
            "pacing.recovered" if state.factor >= 1.0 else "pacing.recovering",
            sender=sender.name,
            provider=sender.provider,
            rate=round(full * min(state.factor, 1.0), 2),
            tier=full,
        )
        return min(state.factor, 1.0)

    def _slow_down(self, sender: Sender, exc: ProviderError) -> None:
        key = "tp:" + number_of(sender)
        with self._lock:
            now = self._clock()
            state = self._throttles.get(key)
            if state is None:
                state = self._throttles[key] = _Throttle(1.0, now, -math.inf)
            else:  # what it has recovered so far counts before halving
                state.factor, state.since = recovered(state.factor, state.since, now)
            if now - state.slowed_at < SLOW_HOLD:
                return  # a send paced before the last slow-down: same episode
            before, state.factor = state.factor, slowed(state.factor)
            state.since = state.slowed_at = now
            factor = state.factor
        if factor == before:  # at the floor already
            return
        full = tier(sender)
        self._log.warning(
            "pacing.slowed",
            sender=sender.name,
            provider=sender.provider,
            rate=round(full * factor, 2),
            tier=full,
            code=exc.code,
            status_code=exc.status_code,
        )

    def _pair_refused(self, sender: Sender, to: str) -> tuple[str, float] | None:
        rate = pair_rate(sender, to)
        if rate is None:
            return None
        with self._lock:
            refusals = self._pair_refusals.pop(rate.key, 0) + 1
            if len(self._pair_refusals) >= PAIR_PAIRS_MAX:
                del self._pair_refusals[next(iter(self._pair_refusals))]
            self._pair_refusals[rate.key] = refusals
        seconds = pair_backoff(refusals)
        self._log.warning(
            "pacing.pair_held",
            sender=sender.name,
            provider=sender.provider,
            refusals=refusals,
            seconds=seconds,
        )
        # penalize() sets the key's arrival time; GCRA lets a slot through up to the
        # burst's tolerance before it, so the hold adds that tolerance: the next slot is
        # ``seconds`` away, and the pair does not burst again until it has drained.
        return rate.key, seconds + (rate.burst - 1) * rate.interval

    def __repr__(self) -> str:
        return f"Pacer({self.limiter.url})"
