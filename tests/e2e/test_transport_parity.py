"""The same HttpSettings mean the same on both AsyncGateway backends (httpx, aiohttp).

Each case runs against a deliberately slow HTTP/1.1 server on 127.0.0.1 (written here on
raw asyncio streams, so that neither client's server-side cousin is involved) and checks
what a caller sees: the error class (nothing sent → ProviderUnavailable, sent →
OutcomeUnknown), when it comes, and what the server saw. Timeouts are tenths of seconds
and every case is bounded by ``CASE_LIMIT``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from gateway.errors import OutcomeUnknown, ProviderError, ProviderUnavailable
from gateway.http import HttpRequest
from gateway.transport import AsyncHttpxTransport, AsyncTransport, HttpSettings

pytest.importorskip("aiohttp")
from gateway.transport_aiohttp import AiohttpTransport

BACKENDS: dict[str, Callable[[HttpSettings], AsyncTransport]] = {
    "httpx": lambda s: AsyncHttpxTransport(settings=s),
    "aiohttp": lambda s: AiohttpTransport(settings=s),
}
CASE_LIMIT = 10.0
SLACK = 0.6  # scheduling on a busy 2-core machine; lower bounds are strict


class SlowServer:
    """HTTP/1.1 with keep-alive; the path says how to misbehave:

    ``/delay/S`` answers after S seconds of silence; ``/trickle/N/G`` sends the headers at
    once, then N body bytes one every G seconds; anything else answers at once.
    """

    def __init__(self) -> None:
        self.connections = 0  # open now
        self.peak_connections = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests: list[str] = []
        self.accepted = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        self.connections += 1
        self.peak_connections = max(self.peak_connections, self.connections)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = next(
                    (
                        int(v)
                        for k, _, v in (x.partition(":") for x in lines[1:])
                        if k.lower() == "content-length"
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests.append(path)
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    await self._answer(path, writer)
                finally:
                    self.in_flight -= 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed or gave up
        finally:
            self.connections -= 1
            writer.close()
            self._tasks.discard(task)

    async def _answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        parts = path.strip("/").split("/")
        if parts[0] == "delay":
            await asyncio.sleep(float(parts[1]))
        body = b"x" * int(parts[1]) if parts[0] == "trickle" else b"ok"
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
        await writer.drain()
        if parts[0] != "trickle":
            writer.write(body)
            return
        for _ in body:
            await asyncio.sleep(float(parts[2]))
            writer.write(b"x")
            await writer.drain()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.close()
            for task in list(self._tasks):  # handlers still sleeping on a slow answer
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()


def _get(url: str) -> HttpRequest:
    return HttpRequest("GET", url, {}, None, b"")


async def _timed(call: Awaitable[object]) -> tuple[object, float]:
    """(the result, or the ProviderError raised; seconds taken)."""
    started = time.monotonic()
    try:
        result: object = await call
    except ProviderError as exc:
        result = exc
    return result, time.monotonic() - started


def _run(backend: str, settings: HttpSettings, case: Callable[..., Awaitable[None]]) -> None:
    async def main() -> None:
        server = SlowServer()
        transport = BACKENDS[backend](settings)
        try:
            async with server.running() as url:
                await case(transport, server, url)
        finally:
            await transport.aclose()

    asyncio.run(asyncio.wait_for(main(), CASE_LIMIT))


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_read_is_the_longest_silence_waiting_for_the_answer(backend: str) -> None:
    async def case(t: AsyncTransport, server: SlowServer, url: str) -> None:
        resp, _ = await _timed(t.send(_get(f"{url}/delay/0.1")))
        assert getattr(resp, "status_code", resp) == 200  # slower than nothing, within read
        late, took = await _timed(t.send(_get(f"{url}/delay/3")))
        assert type(late) is OutcomeUnknown  # it was sent: not retried by default
        assert 0.4 <= took < 0.4 + SLACK

    _run(backend, HttpSettings(read=0.4), case)


def test_read_bounds_each_gap_not_the_whole_answer(backend: str) -> None:
    async def case(t: AsyncTransport, server: SlowServer, url: str) -> None:
        # 6 bytes, one every 0.15 s: 0.9 s in all, more than read, never silent for read.
        resp, took = await _timed(t.send(_get(f"{url}/trickle/6/0.15")))
        assert getattr(resp, "content", resp) == b"xxxxxx"
        assert took >= 0.9
        # A gap longer than read in mid-body: cut, as sent-but-unanswered.
        cut, took = await _timed(t.send(_get(f"{url}/trickle/3/1.0")))
        assert type(cut) is OutcomeUnknown
        assert 0.4 <= took < 0.4 + SLACK

    _run(backend, HttpSettings(read=0.4), case)


def test_connect_bounds_opening_a_connection(backend: str) -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    # hangs (on loopback, no other host involved) until our timeout.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)

    async def case(t: AsyncTransport, server: SlowServer, url: str) -> None:
        failed, took = await _timed(t.send(_get(f"http://127.0.0.1:{port}/")))
        assert type(failed) is ProviderUnavailable  # nothing was sent: retryable
        assert 0.3 <= took < 0.3 + SLACK

    try:
        _run(backend, HttpSettings(connect=0.3), case)
    finally:
        for s in (*fillers, listener):
            s.close()


def test_max_connections_bounds_connections_and_requests_in_flight(backend: str) -> None:
    async def case(t: AsyncTransport, server: SlowServer, url: str) -> None:
        sends = [t.send(_get(f"{url}/delay/0.3")) for _ in range(6)]
        answers, took = await _timed(asyncio.gather(*sends))
        assert [r.status_code for r in answers] == [200] * 6  # type: ignore[attr-defined]
        assert server.peak_in_flight == 2
        assert server.peak_connections == 2
        assert took >= 0.9  # three rounds of two

    _run(backend, HttpSettings(max_connections=2), case)


def test_pool_bounds_the_wait_for_a_free_connection(backend: str) -> None:
    async def case(t: AsyncTransport, server: SlowServer, url: str) -> None:
        busy = asyncio.ensure_future(t.send(_get(f"{url}/delay/1.5")))
        while not server.requests:  # the only connection is taken
            await asyncio.sleep(0.01)
        failed, took = await _timed(t.send(_get(f"{url}/fast")))
        assert type(failed) is ProviderUnavailable  # never sent: safe to retry
        assert 0.3 <= took < 0.3 + SLACK
        assert server.requests == ["/delay/1.5"]
        assert (await busy).status_code == 200

    _run(backend, HttpSettings(max_connections=1, pool=0.3, connect=0.2), case)


def test_keepalive_expiry_closes_idle_connections(backend: str) -> None:
    async def case(t: AsyncTransport, server: SlowServer, url: str) -> None:
        for _ in range(2):
            await t.send(_get(f"{url}/fast"))
        assert server.accepted == 1  # reused while fresh
        await asyncio.sleep(0.8)
        await t.send(_get(f"{url}/fast"))
        assert server.accepted == 2  # idle past keepalive_expiry: a new connection

    _run(backend, HttpSettings(keepalive_expiry=0.4), case)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="read"):
        HttpSettings(read=0)
    with pytest.raises(ValueError, match="max_connections"):
        HttpSettings(max_connections=0)
    aio = AiohttpTransport(settings=HttpSettings(read=7), timeout=2, limit=3)
    assert (aio.settings.read, aio.settings.max_connections) == (2, 3)  # shorthands win


@pytest.mark.filterwarnings("ignore:Sending a large body directly")  # aiohttp, about 16 MB
def test_a_stalled_upload_is_bounded_by_read_on_httpx_only(backend: str) -> None:
    """The difference that stays (aiohttp has no write timeout), pinned so that the docs
    are told when it goes: a peer that never reads a body larger than the buffers."""

    async def case(t: AsyncTransport, server: SlowServer, url: str) -> None:
        held: list[tuple[asyncio.Task[None], asyncio.StreamWriter]] = []

        async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            held.append((task, writer))
            await asyncio.sleep(CASE_LIMIT)

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited
        listener.bind(("127.0.0.1", 0))
        deaf = await asyncio.start_server(never_read, sock=listener)
        port = listener.getsockname()[1]
        body = b"x" * (16 << 20)  # far past both sides' socket buffers
        upload = HttpRequest("POST", f"http://127.0.0.1:{port}/upload", {}, None, body)
        sending = asyncio.ensure_future(_timed(t.send(upload)))
        try:
            done, _ = await asyncio.wait({sending}, timeout=0.4 + SLACK)
            if backend == "httpx":
                failed, took = sending.result()
                assert type(failed) is OutcomeUnknown  # part of it went out
                assert 0.4 <= took < 0.4 + SLACK
            else:
                assert not done, "aiohttp bounds writes now: update HttpSettings.read's docs"
        finally:
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
            deaf.close()
            for task, writer in held:
                task.cancel()
                writer.close()
            await asyncio.gather(*(task for task, _ in held), return_exceptions=True)

    _run(backend, HttpSettings(read=0.4), case)
