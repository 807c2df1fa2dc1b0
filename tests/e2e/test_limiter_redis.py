"""The Redis limiter on the real server: the behaviour every engine shows
(tests/unit/test_limiter.py, sync and async), its pace in real time, and the issue's
acceptance: three processes sharing one key at 100/s keep to 100/s together.

No clock is passed anywhere: the server's TIME is the only one. Each test has a key
prefix of its own, deleted afterwards.
"""

from __future__ import annotations

import multiprocessing
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.limiter import Rate
from tests.services import REDIS_URL, need
from tests.unit.test_limiter import (
    CHECKS,
    Twin,
    busiest,
    check_paces_in_real_time,
    steady_rate,
    take_for,
)


@pytest.fixture
def prefix() -> Iterator[str]:
    need("Redis", REDIS_URL)
    import redis

    name = f"flowgateway-test:{secrets.token_hex(6)}:"
    yield name
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(f"{name}*"))
        if keys:
            client.delete(*keys)


def make(prefix: str) -> Any:
    from gateway.limiter_redis import RedisLimiter

    return RedisLimiter(REDIS_URL, prefix=prefix)


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest, prefix: str) -> Iterator[Twin]:
    t = Twin(make(prefix), request.param)
    yield t
    t.close()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_redis_limiter(twin: Twin, check: Any) -> None:
    check(twin)


def test_redis_limiter_paces_in_real_time(twin: Twin) -> None:
    check_paces_in_real_time(twin)


def test_the_servers_clock_is_the_clock_and_idle_keys_expire(twin: Twin, prefix: str) -> None:
    import redis

    twin.reserve([Rate("k", 100.0, burst=3)])
    with redis.Redis.from_url(REDIS_URL) as client:
        seconds, micros = client.time()
        tat = float(client.get(f"{prefix}k") or 0)
        ttl = client.pttl(f"{prefix}k")
    # One slot of three taken: the arrival time is one interval past the server's now.
    assert tat - (seconds + micros / 1e6) == pytest.approx(100.0, abs=0.5)
    assert ttl == pytest.approx(101_000, abs=500)  # it vanishes a second after
    twin.reserve([Rate("unpaced", 0.0)])  # nothing to remember: nothing stored
    with redis.Redis.from_url(REDIS_URL) as client:
        assert client.exists(f"{prefix}unpaced") == 0


def test_keys_are_under_the_prefix_only(prefix: str) -> None:
    import redis

    limiter = make(prefix)
    try:
        limiter.reserve([Rate("a", 10.0), Rate("b", 10.0)])
        limiter.penalize("c", 10.0)
    finally:
        limiter.close()
    with redis.Redis.from_url(REDIS_URL) as client:
        assert sorted(client.scan_iter(f"{prefix}*")) == [f"{prefix}{k}".encode() for k in "abc"]


# -- the acceptance: three processes, one key

PROCESSES, PER_SECOND, BURST, SECONDS = 3, 100.0, 5, 3.0


def _take_in_process(prefix: str, start: Any, results: Any, index: int) -> None:
    """One process: wait for the others, take slots of the shared key for SECONDS, and
    report when each came (``time.time``: one clock for every process on this host)."""
    limiter = make(prefix)
    try:
        limiter.reserve([Rate("warm-up", 0.0)])  # connect now, not in the measured time
        start.wait()
        taken = take_for(limiter, Rate("sender", 1 / PER_SECOND, BURST), SECONDS, time.time)
        results.put((index, taken.woke))
    finally:
        limiter.close()


def test_three_processes_share_one_pace(prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_take_in_process, args=(prefix, start, results, i))
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        per_process = dict(results.get(timeout=60) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    stamps = sorted(t for woke in per_process.values() for t in woke)
    fair = PER_SECOND * SECONDS / PROCESSES
    assert all(len(woke) > fair / 2 for woke in per_process.values())  # each took a share
    assert steady_rate(stamps, BURST) == pytest.approx(PER_SECOND, rel=0.05)
    assert busiest(stamps, 1.0) <= PER_SECOND + BURST
