"""A bounded loopback load run against ``flowgateway serve`` (used by a test and a benchmark).

The server runs in its own process (uvicorn, started as :mod:`tests.e2e.soak` starts
its processes); the client keeps ``concurrency`` HTTP/1.1 keep-alive connections on
127.0.0.1 and posts signed Meta status callbacks, some of them twice (a provider's
redelivery). Afterwards the inbox and the handler's log must show every event stored and
handled exactly once. The soak (several processes, every provider, kills) is
:mod:`tests.e2e.soak`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gateway.store import open_store
from tests.e2e.soak import Processes, serve_command

SECRET = "load-test-app-secret"


@dataclass
class LoadResult:
    requests: int
    events: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    handled: int
    handled_twice: int
    lost: int


def status_callback(i: int) -> bytes:
    status = {
        "id": f"wamid.LOAD{i:08d}",
        "status": "delivered",
        "timestamp": "1764583200",
        "recipient_id": "16505551234",
    }
    value = {"messaging_product": "whatsapp", "metadata": {}, "statuses": [status]}
    change = {"field": "messages", "value": value}
    doc = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    return json.dumps(doc).encode()


def _request(port: int, body: bytes) -> bytes:
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST /webhooks/meta HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nX-Hub-Signature-256: sha256={sig}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(port: int, queue: asyncio.Queue[bytes], out: list[tuple[int, float]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            try:
                raw = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            out.append((status, time.perf_counter() - started))
    finally:
        writer.close()


def _write_config(workdir: Path) -> Path:
    config = workdir / "load.toml"
    config.write_text(
        f'[senders.meta]\nprovider = "meta_cloud"\nphone_number_id = "1"\n'
        f'access_token = "unused-token"\napp_secret = "{SECRET}"\n'
        f'[receiver]\ninbox = "{workdir / "inbox.db"}"\npoll_interval = 0.2\n'
        f"handler_concurrency = 64\n"
    )
    return config


HOOK = "tests.e2e.loadgen:register"


def register(receiver: object) -> None:
    """``--handlers`` hook of the server process: log each handled event id to a file."""
    from gateway.events import MessageStatus
    from gateway.receiver import WebhookReceiver

    assert isinstance(receiver, WebhookReceiver)
    log = open(os.environ["LOAD_HANDLED_LOG"], "a", buffering=1)  # noqa: SIM115 - process-long

    @receiver.on(MessageStatus, name="load.count")
    async def count(event: MessageStatus) -> None:
        log.write(event.message_id + "\n")


def run_load(
    workdir: Path, events: int = 5000, duplicates: int = 500, concurrency: int = 50
) -> LoadResult:
    """Start the server, post ``events`` + ``duplicates`` callbacks, verify, stop."""
    env = {"LOAD_HANDLED_LOG": str(workdir / "handled.log")}
    server = Processes(workdir, serve_command(_write_config(workdir), HOOK), 1, env=env)
    [port] = server.ports
    try:
        server.start_all(timeout=20)
        bodies = [status_callback(i) for i in range(events)]
        bodies += [bodies[i * 7 % events] for i in range(duplicates)]
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(_request(port, body))
        results: list[tuple[int, float]] = []

        async def go() -> float:
            started = time.perf_counter()
            await asyncio.gather(*(_client(port, queue, results) for _ in range(concurrency)))
            return time.perf_counter() - started

        seconds = asyncio.run(go())
        inbox = open_store(f"sqlite:///{workdir / 'inbox.db'}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and inbox.counts().get("done", 0) < events:
            time.sleep(0.1)
        stored = inbox.counts()
        inbox.close()
    finally:
        server.stop_all()
    handled = Counter((workdir / "handled.log").read_text().split())
    latencies = sorted(t for _, t in results)
    return LoadResult(
        requests=len(results),
        events=stored["events"],
        seconds=seconds,
        rate=len(results) / seconds,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
        statuses=dict(Counter(s for s, _ in results)),
        handled=len(handled),
        handled_twice=sum(1 for n in handled.values() if n > 1),
        lost=events - len(handled),
    )
