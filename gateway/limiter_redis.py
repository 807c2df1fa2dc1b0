"""The limiter every process on every host shares: GCRA in a Lua script on Redis.

A reservation is one round trip: a Lua script reads each key's arrival time, runs the
arithmetic of :func:`gateway.limiter.gcra` and writes the new times, atomically, since
Redis runs one script at a time. The clock is the server's (``TIME``), never the
caller's, so hosts whose clocks disagree still pace as one.

Each key ``prefix + rate.key`` holds its arrival time as a float (seconds on the server's
clock) and expires a second after it: a key that has gone idle carries no information and
vanishes, so a campaign to a million recipients leaves nothing behind.

A reservation's keys must live on one server: Redis Cluster is not supported (the keys
of one reservation are in different hash slots). Replicas are fine: scripts replicate
by effect.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigError
from gateway.extras import require
from gateway.limiter import LimiterUnavailable, Rate, Reservation
from gateway.redact import MASK, redact, redact_url

require("redis", "the Redis limiter")

import redis  # noqa: E402
import redis.asyncio as aredis  # noqa: E402
from redis.commands.core import AsyncScript, Script  # noqa: E402
from redis.connection import parse_url  # noqa: E402

_parse_url: Callable[[str], dict[str, Any]] = parse_url  # redis-py leaves it untyped

# '%.17g' everywhere: Lua's own number-to-string keeps 14 digits, a tenth of a
# millisecond at today's epoch seconds, which would bias every interval it rounds.
_NOW = """
if redis.replicate_commands then redis.replicate_commands() end  -- Redis < 5: TIME, then writes
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function store(key, tat)
  if tat > now then  -- an arrival time already past means the same as none
    redis.call('SET', key, string.format('%.17g', tat),
               'PX', string.format('%d', math.ceil((tat - now) * 1000) + 1000))
  end
end
"""

RESERVE = (
    _NOW
    + """
-- KEYS: one per rate. ARGV[1]: max_wait ('' for none); then interval, burst of each key.
local max_wait = tonumber(ARGV[1])
local stored = redis.call('MGET', unpack(KEYS))
local tats, wait = {}, 0
for i = 1, #KEYS do
  local tat = tonumber(stored[i]) or 0
  local interval, burst = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  tats[i] = tat
  -- A slot is free once the key's arrival time is within its burst tolerance.
  local allowed_at = math.max(tat, now) - (burst - 1) * interval
  wait = math.max(wait, allowed_at - now)
end
if max_wait and wait > max_wait then
  return {0, string.format('%.17g', wait)}
end
local at = now + wait
for i = 1, #KEYS do
  store(KEYS[i], math.max(tats[i], at) + tonumber(ARGV[2 * i]))
end
return {1, string.format('%.17g', wait)}
"""
)
"""The reservation: :func:`gateway.limiter.gcra` on the server, all keys or none."""

PENALIZE = (
    _NOW
    + """
-- KEYS[1]; ARGV[1]: seconds. The key's arrival time becomes at least now + seconds.
store(KEYS[1], math.max(tonumber(redis.call('GET', KEYS[1])) or 0, now + tonumber(ARGV[1])))
return 1
"""
)
"""``penalize``: what :meth:`gateway.limiter.MemoryLimiter.penalize` does, on the server."""


MAX_CONNECTIONS = 32
"""Connections per process (and per event loop) to the Redis server."""


@dataclass(frozen=True, slots=True)
class _Sync:
    client: redis.Redis
    reserve: Script
    penalize: Script


@dataclass(frozen=True, slots=True)
class _Async:
    client: aredis.Redis
    reserve: AsyncScript
    penalize: AsyncScript


class RedisLimiter:
    """A :class:`~gateway.limiter.Limiter` on Redis (``redis://``, ``rediss://`` or
    ``unix://`` URL): one pace per key across every process that shares the server.

    Connections are made on first use: a synchronous pool for :meth:`reserve`, and one
    asyncio client per event loop for :meth:`areserve` (an asyncio connection belongs to
    the loop that opened it). ``timeout`` bounds connecting and each round trip unless
    the URL sets ``socket_timeout`` / ``socket_connect_timeout``. A server that cannot be
    reached, or refuses, raises :class:`~gateway.limiter.LimiterUnavailable`; no slot is
    taken then.

    Call :meth:`aclose` from the loop that used :meth:`areserve` before the loop ends;
    :meth:`close` closes the rest.
    """

    def __init__(
        self, url: str, *, prefix: str = "flowgateway:rate:", timeout: float = 5.0
    ) -> None:
        self.url = redact_url(url)
        try:
            self._password: str | None = _parse_url(url).get("password")
        except ValueError as exc:
            raise ConfigError("gateway.limiter", f"{self.url}: {redact(str(exc))}") from None
        self.prefix = prefix
        self._dsn = url
        # A bounded pool that waits for a free connection: hundreds of sends in flight
        # share a few connections (each reservation is one short round trip).
        self._options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "max_connections": MAX_CONNECTIONS,
            "timeout": timeout,
        }
        self._lock = threading.Lock()
        self._sync: _Sync | None = None
        self._async: dict[asyncio.AbstractEventLoop, _Async] = {}
        self._closing: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        return f"RedisLimiter({self.url!r}, prefix={self.prefix!r})"

    # -- sync

    def reserve(self, rates: Sequence[Rate], max_wait: float | None = None) -> Reservation:
        if not rates:
            return Reservation(True, 0.0)
        keys, args = self._reserve_args(rates, max_wait)
        try:
            reply = self._sync_client().reserve(keys=keys, args=args)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        return _reservation(reply)

    def penalize(self, key: str, seconds: float) -> None:
        """Hold ``key`` for ``seconds`` from now (a provider said to back off)."""
        try:
            self._sync_client().penalize(keys=[self.prefix + key], args=[repr(float(seconds))])
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None

    # -- async

    async def areserve(self, rates: Sequence[Rate], max_wait: float | None = None) -> Reservation:
        if not rates:
            return Reservation(True, 0.0)
        keys, args = self._reserve_args(rates, max_wait)
        try:
            reply = await self._async_client().reserve(keys=keys, args=args)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        return _reservation(reply)

    async def apenalize(self, key: str, seconds: float) -> None:
        try:
            await self._async_client().penalize(
                keys=[self.prefix + key], args=[repr(float(seconds))]
            )
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None

    # -- lifecycle

    async def aclose(self) -> None:
        """Close the running loop's connections."""
        with self._lock:
            client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.client.aclose()

    def close(self) -> None:
        """Close every connection: the sync pool, and each loop's asyncio client on its
        own loop where that loop can still run anything."""
        with self._lock:
            sync, self._sync = self._sync, None
            clients, self._async = self._async, {}
        if sync is not None:
            sync.client.close()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, client in clients.items():
            if loop.is_closed():
                continue  # nothing can run there any more: aclose was the time
            if loop is running:
                task = loop.create_task(client.client.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(client.client.aclose(), loop)
            else:
                loop.run_until_complete(client.client.aclose())

    # -- shared

    def _reserve_args(
        self, rates: Sequence[Rate], max_wait: float | None
    ) -> tuple[list[str], list[str]]:
        args = ["" if max_wait is None else repr(float(max_wait))]
        for rate in rates:
            args += (repr(float(rate.interval)), str(int(rate.burst)))
        return [self.prefix + rate.key for rate in rates], args

    def _sync_client(self) -> _Sync:
        sync = self._sync
        if sync is None:
            with self._lock:
                if self._sync is None:
                    pool = redis.BlockingConnectionPool.from_url(self._dsn, **self._options)
                    client = redis.Redis.from_pool(pool)  # owns it: close() closes it
                    self._sync = _Sync(
                        client, client.register_script(RESERVE), client.register_script(PENALIZE)
                    )
                sync = self._sync
        return sync

    def _async_client(self) -> _Async:
        loop = asyncio.get_running_loop()
        found = self._async.get(loop)  # the hot path: no lock once this loop has its client
        if found is None:
            with self._lock:
                found = self._async.get(loop)
                if found is None:
                    # Loops that ended without aclose: their clients can only be dropped.
                    for ended in [other for other in self._async if other.is_closed()]:
                        del self._async[ended]
                    pool = aredis.BlockingConnectionPool.from_url(self._dsn, **self._options)
                    client = aredis.Redis.from_pool(pool)  # owns it: aclose() closes it
                    found = _Async(
                        client, client.register_script(RESERVE), client.register_script(PENALIZE)
                    )
                    self._async[loop] = found
        return found

    def _unavailable(self, exc: redis.RedisError) -> LimiterUnavailable:
        reason = str(exc).strip() or type(exc).__name__
        if self._password:
            reason = reason.replace(self._password, MASK)
        return LimiterUnavailable(self.url, redact(reason))


def _reservation(reply: Any) -> Reservation:
    granted, wait = reply
    return Reservation(bool(granted), float(wait))
