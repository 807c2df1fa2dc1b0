"""Rate limits shared by every send: a slot per message, at the pace a key allows.

Each key (a sender's number, a number → user pair) is paced by GCRA, the generic cell
rate algorithm: one *theoretical arrival time* per key, moved forward by ``interval`` for
each slot taken, with ``burst`` slots allowed at once. Unlike a window counter it never
lets twice the rate through at a window's edge, and unlike a token bucket it keeps one
number per key. A reservation covers several keys at once, atomically: it is granted at
the first moment every key has a slot, or not at all.

``memory://`` (:class:`MemoryLimiter`) paces one process; ``redis://…``
(:class:`gateway.limiter_redis.RedisLimiter`, extra ``redis``) paces every process on
every host that shares the Redis server, with the same arithmetic in a Lua script.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from gateway.errors import ConfigError, GatewayError


@dataclass(frozen=True, slots=True)
class Rate:
    """One key's pace: a slot every ``interval`` seconds on average, ``burst`` at once."""

    key: str
    interval: float
    burst: int = 1


@dataclass(frozen=True, slots=True)
class Reservation:
    """``granted``: slots were taken on every key, usable after ``wait`` seconds. Not
    granted: nothing was taken; the first slot would come after ``wait`` seconds."""

    granted: bool
    wait: float


class LimiterUnavailable(GatewayError):
    """The shared limiter's server could not be asked (down, unreachable, refused): no
    slot was taken and nothing was sent. ``url`` is the limiter's URL without its password;
    ``reason`` what failed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"the limiter at {url} is unavailable: {reason}")


class Limiter(Protocol):
    """Reserves slots; thread-safe. ``areserve`` is the same for the event loop."""

    url: str

    def reserve(self, rates: Sequence[Rate], max_wait: float | None = None) -> Reservation: ...
    async def areserve(
        self, rates: Sequence[Rate], max_wait: float | None = None
    ) -> Reservation: ...
    def penalize(self, key: str, seconds: float) -> None: ...
    async def apenalize(self, key: str, seconds: float) -> None: ...
    def close(self) -> None: ...
    async def aclose(self) -> None: ...


_K = TypeVar("_K")


def slot_wait(tat: float, now: float, tolerance: float) -> float:
    """Seconds from ``now`` until a key whose arrival time is ``tat`` has a slot, a send
    being allowed up to ``tolerance`` s (``(burst - 1) × interval``) ahead of it; 0 or
    less: a slot is free now."""
    return max(tat, now) - tolerance - now


def next_tat(tat: float, at: float, interval: float) -> float:
    """A key's arrival time once it takes a slot at ``at``."""
    return max(tat, at) + interval


def drop_expired(tats: Mapping[_K, float], now: float) -> dict[_K, float]:
    """The arrival times still ahead of ``now``: a key past its own has its whole burst
    again, as if never seen, and need not be kept."""
    return {key: tat for key, tat in tats.items() if tat > now}


def gcra(
    tats: Sequence[float], rates: Sequence[Rate], now: float, max_wait: float | None
) -> tuple[float, list[float] | None]:
    """The arithmetic both engines run: given each key's stored arrival time (0: none),
    the wait before every key has a slot, and the new arrival times (None: the wait is
    past ``max_wait``, nothing changes)."""
    wait = 0.0
    for tat, rate in zip(tats, rates, strict=True):
        wait = max(wait, slot_wait(tat, now, (rate.burst - 1) * rate.interval))
    if max_wait is not None and wait > max_wait:
        return wait, None
    at = now + wait
    return wait, [next_tat(tat, at, rate.interval) for tat, rate in zip(tats, rates, strict=True)]


class MemoryLimiter:
    """The in-process :class:`Limiter` (``memory://``): a dict of arrival times.

    Keys that have been idle past their burst are dropped now and then, so the dict stays
    the size of the keys in use (one per recipient of a campaign, otherwise).
    """

    url = "memory://"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def reserve(self, rates: Sequence[Rate], max_wait: float | None = None) -> Reservation:
        with self._lock:
            now = self._clock()
            tats = [self._tats.get(r.key, 0.0) for r in rates]
            wait, new = gcra(tats, rates, now, max_wait)
            if new is None:
                return Reservation(False, wait)
            for rate, tat in zip(rates, new, strict=True):
                self._tats[rate.key] = tat
            if now >= self._next_sweep:
                self._sweep(now)
            return Reservation(True, wait)

    async def areserve(self, rates: Sequence[Rate], max_wait: float | None = None) -> Reservation:
        return self.reserve(rates, max_wait)  # no IO: never blocks the loop for long

    def penalize(self, key: str, seconds: float) -> None:
        """Set ``key``'s arrival time ``seconds`` from now (a provider said to back off).
        A key with a burst still lets its burst through once that time is within
        ``(burst - 1) × interval``: to hold it ``h`` s, pass ``h + (burst - 1) × interval``."""
        with self._lock:
            now = self._clock()
            self._tats[key] = max(self._tats.get(key, 0.0), now + seconds)

    async def apenalize(self, key: str, seconds: float) -> None:
        self.penalize(key, seconds)

    def _sweep(self, now: float) -> None:
        self._tats = drop_expired(self._tats, now)
        self._next_sweep = now + 60.0

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def limiter_kind(url: str) -> Literal["memory", "redis"] | None:
    """The limiter ``url`` names: ``memory://``, a Redis URL (``redis://``, ``rediss://``,
    ``unix://``), or None for neither."""
    if url == "memory://":
        return "memory"
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "redis"
    return None


def open_limiter(url: str) -> Limiter:
    """The limiter ``url`` names: ``memory://`` or ``redis://host:port/db``."""
    kind = limiter_kind(url)
    if kind == "memory":
        return MemoryLimiter()
    if kind == "redis":
        from gateway.limiter_redis import RedisLimiter

        return RedisLimiter(url)
    raise ConfigError("gateway.limiter", f"unknown limiter {url!r}: use memory:// or redis://")
