"""The limiter: GCRA's arithmetic, the in-process engine on an injected clock, and its
pace in real time (sync and async).

The ``check_*`` functions and :class:`Twin` are the behaviour every engine must show;
tests/e2e/test_limiter_redis.py runs the same ones on Redis. They use intervals of 100 s,
so a real clock moving on by milliseconds between calls changes nothing they assert.
"""

from __future__ import annotations

import asyncio
import bisect
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.errors import ConfigError, GatewayError
from gateway.extras import MissingExtra
from gateway.limiter import (
    Limiter,
    LimiterUnavailable,
    MemoryLimiter,
    Rate,
    Reservation,
    gcra,
    open_limiter,
)

SLOW = 100.0  # seconds between slots in the behaviour checks
NEAR = 0.5  # how far a real clock may move during one check


# -- GCRA's arithmetic


def test_gcra_grants_a_burst_then_one_slot_per_interval() -> None:
    rate = Rate("k", 2.0, burst=3)
    tats, waits = [0.0], list[float]()
    for _ in range(6):
        wait, new = gcra(tats, [rate], 100.0, None)
        assert new is not None
        tats, waits = new, [*waits, wait]
    assert waits == [0.0, 0.0, 0.0, 2.0, 4.0, 6.0]
    assert tats == [112.0]  # the arrival time: one interval per slot taken


def test_gcra_an_arrival_time_in_the_past_is_the_same_as_none() -> None:
    rate = Rate("k", 2.0, burst=3)
    assert gcra([50.0], [rate], 100.0, None) == gcra([0.0], [rate], 100.0, None)
    assert gcra([0.0], [rate], 100.0, None) == (0.0, [102.0])


def test_gcra_over_several_keys_waits_for_the_last_and_moves_every_key() -> None:
    sender, pair = Rate("sender", 0.5, burst=1), Rate("pair", 6.0, burst=1)
    wait, new = gcra([100.0, 110.0], [sender, pair], 100.0, None)
    assert wait == 10.0  # the pair's slot comes last
    assert new == [110.5, 116.0]  # both keys take their slot at 110


def test_gcra_past_max_wait_takes_nothing() -> None:
    rate = Rate("k", 6.0, burst=1)
    assert gcra([112.0], [rate], 100.0, 11.9) == (12.0, None)
    assert gcra([112.0], [rate], 100.0, 12.0) == (12.0, [118.0])  # a wait of max_wait is fine
    assert gcra([100.0], [rate], 100.0, 0.0) == (0.0, [106.0])


# -- behaviour every engine shows (sync and async), also run on Redis


class Twin:
    """The sync (``reserve``) or async (``areserve``) side of a limiter behind one
    synchronous face; the async side runs on one loop for the whole test."""

    def __init__(self, limiter: Limiter, kind: str) -> None:
        self.limiter = limiter
        self.kind = kind
        self.loop = asyncio.new_event_loop() if kind == "async" else None

    def reserve(self, rates: list[Rate], max_wait: float | None = None) -> Reservation:
        if self.loop is None:
            return self.limiter.reserve(rates, max_wait)
        return self.loop.run_until_complete(self.limiter.areserve(rates, max_wait))

    def penalize(self, key: str, seconds: float) -> None:
        if self.loop is None:
            self.limiter.penalize(key, seconds)
        else:
            self.loop.run_until_complete(self.limiter.apenalize(key, seconds))

    def take_for(self, rate: Rate, seconds: float) -> Taken:
        """Take slots of ``rate`` one after another for ``seconds``, sleeping each wait."""
        if self.loop is None:
            return take_for(self.limiter, rate, seconds)
        return self.loop.run_until_complete(atake_for(self.limiter, rate, seconds))

    def close(self) -> None:
        if self.loop is not None:
            aclose = getattr(self.limiter, "aclose", None)
            if aclose is not None:
                self.loop.run_until_complete(aclose())
            self.loop.close()
        self.limiter.close()


@dataclass
class Taken:
    """When each slot was granted (the moment before asking, plus the wait: the limiter's
    own schedule), and when the taker woke to use it (the schedule plus the sleep's lag)."""

    granted: list[float] = field(default_factory=list)
    woke: list[float] = field(default_factory=list)


def take_for(
    limiter: Limiter, rate: Rate, seconds: float, clock: Callable[[], float] = time.monotonic
) -> Taken:
    taken = Taken()
    end = clock() + seconds
    while True:
        asked = clock()
        reservation = limiter.reserve([rate])
        assert reservation.granted
        time.sleep(reservation.wait)
        woke = clock()
        if woke >= end:
            return taken
        taken.granted.append(asked + reservation.wait)
        taken.woke.append(woke)


async def atake_for(limiter: Limiter, rate: Rate, seconds: float) -> Taken:
    taken = Taken()
    end = time.monotonic() + seconds
    while True:
        asked = time.monotonic()
        reservation = await limiter.areserve([rate])
        assert reservation.granted
        await asyncio.sleep(reservation.wait)
        woke = time.monotonic()
        if woke >= end:
            return taken
        taken.granted.append(asked + reservation.wait)
        taken.woke.append(woke)


def steady_rate(stamps: list[float], burst: int) -> float:
    """Slots per second after the first ``burst`` (which come at once)."""
    stamps = sorted(stamps)
    return (len(stamps) - burst) / (stamps[-1] - stamps[0])


def busiest(stamps: list[float], width: float) -> int:
    """The most slots in any window ``[t, t + width)``."""
    stamps = sorted(stamps)
    return max(bisect.bisect_left(stamps, t + width) - i for i, t in enumerate(stamps))


def waits(twin: Twin, rates: list[Rate], times: int) -> list[float]:
    out = []
    for _ in range(times):
        reservation = twin.reserve(rates)
        assert reservation.granted
        out.append(reservation.wait)
    return out


def check_burst_then_interval(twin: Twin) -> None:
    assert waits(twin, [Rate("k", SLOW, burst=3)], 5) == pytest.approx(
        [0, 0, 0, SLOW, 2 * SLOW], abs=NEAR
    )
    assert waits(twin, [Rate("other", SLOW, burst=1)], 1) == [0.0]  # keys are apart


def check_refused_takes_nothing(twin: Twin) -> None:
    rate = Rate("k", SLOW, burst=1)
    assert twin.reserve([rate]) == Reservation(True, 0.0)
    refused = twin.reserve([rate], max_wait=SLOW / 2)
    assert not refused.granted
    assert refused.wait == pytest.approx(SLOW, abs=NEAR)
    assert not twin.reserve([rate], max_wait=0.0).granted
    again = twin.reserve([rate])  # the refusals took no slot: still the second one
    assert again.granted
    assert again.wait == pytest.approx(SLOW, abs=NEAR)


def check_several_keys_are_atomic(twin: Twin) -> None:
    sender, pair = Rate("sender", SLOW, burst=1), Rate("pair", SLOW, burst=1)
    twin.reserve([pair])  # the pair is busy for SLOW, the sender free
    refused = twin.reserve([sender, pair], max_wait=1.0)
    assert not refused.granted
    assert refused.wait == pytest.approx(SLOW, abs=NEAR)
    assert twin.reserve([sender]) == Reservation(True, 0.0)  # untouched by the refusal
    both = twin.reserve([sender, pair])  # both free again at +SLOW: one slot each then
    assert both.wait == pytest.approx(SLOW, abs=NEAR)
    assert waits(twin, [sender], 1) == pytest.approx([2 * SLOW], abs=NEAR)
    assert waits(twin, [pair], 1) == pytest.approx([2 * SLOW], abs=NEAR)
    assert twin.reserve([]) == Reservation(True, 0.0)


def check_penalize_holds_a_key(twin: Twin) -> None:
    rate = Rate("k", 1.0, burst=1)
    twin.penalize("k", SLOW)
    assert waits(twin, [rate], 1) == pytest.approx([SLOW], abs=NEAR)
    twin.penalize("k", 10.0)  # a shorter hold never shortens a longer one
    assert waits(twin, [rate], 1) == pytest.approx([SLOW + 1.0], abs=NEAR)
    assert waits(twin, [Rate("other", 1.0)], 1) == [0.0]


CHECKS = [
    check_burst_then_interval,
    check_refused_takes_nothing,
    check_several_keys_are_atomic,
    check_penalize_holds_a_key,
]


def check_paces_in_real_time(twin: Twin, per_second: float = 200.0, burst: int = 5) -> float:
    """~3 s of slots taken back to back: within ±5% of the rate, and smooth: never more
    than ``burst + 1`` granted in any one interval (a window counter would let a whole
    second's worth through at each window's edge). Returns the achieved rate."""
    interval = 1.0 / per_second
    taken = twin.take_for(Rate("live", interval, burst), 3.0)
    achieved = steady_rate(taken.woke, burst)
    assert achieved == pytest.approx(per_second, rel=0.05)
    # The schedule, not the wake-ups: a sleep that overran by a whole interval would
    # bunch two slots together that the limiter had spaced.
    assert busiest(taken.granted, interval) <= burst + 1
    assert busiest(taken.granted, 1.0) <= per_second + burst
    return achieved


# -- the in-process engine


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Iterator[Twin]:
    t = Twin(MemoryLimiter(clock=Clock()), request.param)
    yield t
    t.close()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_memory_limiter(twin: Twin, check: Any) -> None:
    check(twin)


def test_memory_limiter_on_the_clock() -> None:
    clock = Clock()
    limiter = MemoryLimiter(clock=clock)
    rate = Rate("k", 2.0, burst=3)
    assert [limiter.reserve([rate]).wait for _ in range(4)] == [0.0, 0.0, 0.0, 2.0]
    clock.now += 1.0
    assert limiter.reserve([rate]).wait == 3.0  # the wait counts from now
    clock.now += 100.0
    assert [limiter.reserve([rate]).wait for _ in range(4)] == [0.0, 0.0, 0.0, 2.0]


def test_memory_limiter_gives_each_slot_once_across_threads() -> None:
    limiter = MemoryLimiter(clock=Clock())  # the clock stands still: every slot is queued
    rate, got, lock = Rate("k", 1.0), [], threading.Lock()

    def take() -> None:
        for _ in range(50):
            wait = limiter.reserve([rate]).wait
            with lock:
                got.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [float(i) for i in range(400)]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_memory_limiter_paces_in_real_time(kind: str) -> None:
    t = Twin(MemoryLimiter(), kind)
    try:
        check_paces_in_real_time(t)
    finally:
        t.close()


# -- opening one by URL


def test_open_limiter_by_url() -> None:
    assert isinstance(open_limiter("memory://"), MemoryLimiter)
    with pytest.raises(ConfigError, match=r"gateway\.limiter: unknown limiter"):
        open_limiter("memcached://h")


def test_a_redis_limiter_opens_without_connecting_and_masks_its_password() -> None:
    limiter = open_limiter("redis://app:s3cret-pw@127.0.0.1:1/0?password=s3cret-pw")
    try:
        assert "s3cret" not in repr(limiter)
        assert limiter.url == "redis://app:***@127.0.0.1:1/0?password=***"
    finally:
        limiter.close()


def test_an_unreachable_redis_is_a_typed_error_naming_the_host_not_the_password() -> None:
    from gateway.limiter_redis import RedisLimiter

    limiter = RedisLimiter("redis://:s3cret-pw@127.0.0.1:1/0", timeout=1.0)  # port 1: refused
    try:
        with pytest.raises(LimiterUnavailable) as info:
            limiter.reserve([Rate("k", 1.0)])
        assert isinstance(info.value, GatewayError)
        assert "127.0.0.1:1" in str(info.value)
        assert "s3cret" not in str(info.value)
        assert "s3cret" not in repr(info.value)
        with pytest.raises(LimiterUnavailable):
            asyncio.run(limiter.areserve([Rate("k", 1.0)]))
    finally:
        limiter.close()


def test_a_redis_limiter_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "gateway.limiter_redis", raising=False)
    for name in [n for n in sys.modules if n == "redis" or n.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingExtra, match=r"the Redis limiter needs the 'redis' extra"):
        open_limiter("redis://127.0.0.1:6379/0")
