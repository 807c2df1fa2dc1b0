"""The soak's client: keep-alive connections spread over the receivers' ports, a failed
request posted again to another process, and the killer (see :mod:`tests.e2e.soak`)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.e2e.soak_traffic import Callback, request_bytes

if TYPE_CHECKING:
    from tests.e2e.soak import Processes


# -- the client ---------------------------------------------------------------------------------


@dataclass
class ClientStats:
    """What the providers saw: every answer's status, failures, and the time to answer all."""

    answered: list[bool]
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    timeouts: int = 0
    attempts: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(self.answered)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        self.writer.close()


async def _exchange(conn: _Conn, raw: bytes) -> tuple[int, bool]:
    """Send one request, read its answer; (status, whether the connection stays open)."""
    conn.writer.write(raw)
    await conn.writer.drain()
    head = await conn.reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length, keep = 0, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    await conn.reader.readexactly(length)
    return status, keep


_DROPPED = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


async def _attempt(
    conns: dict[int, _Conn],
    port: int,
    callback: Callback,
    timeout: float,
    stats: ClientStats,
    down: dict[int, float],
) -> int:
    """Post ``callback`` to ``port`` on the kept connection (opened if need be); its
    answer's status, 0 when none came. A port that refuses connections is marked
    ``down`` for a moment, as a load balancer's health check would."""
    status, keep = 0, False
    try:
        async with asyncio.timeout(timeout):
            conn = conns.get(port)
            if conn is None:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except ConnectionRefusedError:
                    down[port] = time.monotonic() + 0.25
                    raise
                conn = conns[port] = _Conn(reader, writer)
            status, keep = await _exchange(conn, request_bytes(callback, port))
    except _DROPPED:
        stats.connection_errors += 1
    except TimeoutError:
        stats.timeouts += 1
    if status:
        stats.statuses[status] += 1
    if not keep and port in conns:
        conns.pop(port).close()
    return status


async def post_all(
    ports: Sequence[int],
    callbacks: Sequence[Callback],
    *,
    concurrency: int = 50,
    max_attempts: int = 30,
    timeout: float = 30.0,
    deadline: float | None = None,
    stats: ClientStats | None = None,
) -> ClientStats:
    """Post every callback from ``concurrency`` workers, each keeping one keep-alive
    connection per port. Worker *w* posts to the ports in turn; a failure (connection
    error, timeout, non-200) moves the callback to the next port after a short backoff,
    at most ``max_attempts`` times and never past ``deadline`` (``time.monotonic()``).
    ``stats``: where to count, for a caller that watches the progress."""
    stats = stats or ClientStats(answered=[False] * len(callbacks))
    queue = iter(range(len(callbacks)))  # shared: each worker takes the next callback
    down: dict[int, float] = {}  # port → until when it is skipped

    def pick(turn: int) -> int:
        now = time.monotonic()
        for k in range(len(ports)):
            port = ports[(turn + k) % len(ports)]
            if down.get(port, 0.0) <= now:
                return port
        return ports[turn % len(ports)]  # all down: try anyway

    async def worker(w: int) -> None:
        conns: dict[int, _Conn] = {}
        turn = w
        try:
            for index in queue:
                for attempt in range(max_attempts):
                    if deadline is not None and time.monotonic() > deadline:
                        return
                    port = pick(turn)
                    turn += 1
                    stats.attempts += 1
                    started = time.perf_counter()
                    callback = callbacks[index]
                    if await _attempt(conns, port, callback, timeout, stats, down) == 200:
                        stats.answered[index] = True
                        stats.latencies.append(time.perf_counter() - started)
                        break
                    # every port may be down for a moment: back off a little, more each time
                    await asyncio.sleep(min(0.5, 0.01 * 2 ** min(attempt, 6)))
        finally:
            for conn in conns.values():
                conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    stats.seconds = time.perf_counter() - started
    return stats


async def kill_at_random(
    procs: Processes,
    every: tuple[float, float],
    rng: random.Random,
    progress: Callable[[], float],
    done: asyncio.Event,
) -> None:
    """SIGKILL a process at random moments and restart it on its port.

    The least killed goes first, and a kill comes early when the run is ahead of the
    kills (``progress()``, from 0 to 1, past ``k / (processes + 1)`` with fewer than ``k``
    kills), so every process is killed at least once however fast the callbacks go. At
    most half of the processes (at least one) are down at once: the next kill waits for
    a restart.
    """
    n = len(procs.ports)
    most_down = max(1, n // 2)
    restarting: set[int] = set()

    def behind() -> bool:
        kills = len(procs.killed)
        return kills < n and progress() >= (kills + 1) / (n + 1)

    while not done.is_set():
        due = time.monotonic() + rng.uniform(*every)
        while not done.is_set() and time.monotonic() < due and not behind():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await done.wait()
        while not done.is_set():
            back = [i for i in restarting if await asyncio.to_thread(procs.ready, i)]
            restarting.difference_update(back)
            if len(restarting) < most_down:
                break
            await asyncio.sleep(0.1)
        if done.is_set():
            return
        kills = Counter(i for _, i, _ in procs.killed)
        up = [i for i in range(n) if i not in restarting]
        fewest = min(kills[i] for i in up)
        i = rng.choice([i for i in up if kills[i] == fewest])
        await asyncio.to_thread(procs.kill, i)
        procs.start(i)
        restarting.add(i)
