"""Issue 13 regressions: the receiver keeps acknowledging and handling whatever a store
lock, a slow or hung handler, a shutdown or an odd body does (ASGI app, lifespan on)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import parse_config
from gateway.events import InboundEvent, MessageStatus, UnhandledEvent
from gateway.receiver import SQLiteInbox, WebhookReceiver
from tests.conftest import CONTRACT, PROVIDERS, authentic
from tests.contract.dialog360_cloud.kit import D360_WEBHOOK_SECRET
from tests.e2e.test_receiver import make_config

pytestmark = pytest.mark.anyio

FAST = {"poll_interval": 0.05, "inbox_busy_timeout": 0.1}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def status_body(message_id: str, status: str = "read") -> bytes:
    case = json.loads((CONTRACT / "meta_cloud/webhooks/status_read.json").read_text())
    value = case["body"]["entry"][0]["changes"][0]["value"]
    value["statuses"][0].update(id=message_id, status=status)
    return json.dumps(case["body"]).encode()


@asynccontextmanager
async def serving(receiver: WebhookReceiver) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, as uvicorn runs it."""
    transport = httpx.ASGITransport(app=receiver.asgi)
    async with (
        receiver.asgi.router.lifespan_context(receiver.asgi),
        httpx.AsyncClient(transport=transport, base_url="http://r") as client,
    ):
        yield client


async def post_status(client: httpx.AsyncClient, message_id: str) -> httpx.Response:
    body = status_body(message_id)
    headers, _ = authentic("meta_cloud", body)
    return await asyncio.wait_for(
        client.post("/webhooks/meta_cloud", content=body, headers=headers), 5
    )


async def until(check: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def rows(path: Path, query: str) -> list[Any]:
    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


# -- 1: the worker survives store errors; /healthz and /readyz -------------------------


async def test_worker_survives_a_locked_inbox_and_readiness_says_so(tmp_path: Path) -> None:
    receiver = WebhookReceiver(make_config(tmp_path, **FAST))
    handled: list[str] = []
    receiver.on(MessageStatus)(lambda e: handled.append(e.message_id))
    async with serving(receiver) as client:
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        other = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            await asyncio.sleep(0.4)  # several claims fail with "database is locked"
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert "locked" in ready.json()["reason"]
            assert (await post_status(client, "wamid.L1")).status_code == 503
            assert (await client.get("/healthz")).status_code == 200  # alive, backing off
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert (await post_status(client, "wamid.L2")).status_code == 200
        await until(lambda: handled == ["wamid.L2"])
        await until(
            lambda: receiver._dispatcher is not None and not receiver._dispatcher.store_problem()
        )
        assert (await client.get("/readyz")).status_code == 200


async def test_a_dead_worker_fails_liveness_and_readiness(tmp_path: Path) -> None:
    receiver = WebhookReceiver(make_config(tmp_path, **FAST))
    async with serving(receiver) as client:
        assert receiver._dispatcher is not None
        assert receiver._dispatcher._task is not None
        receiver._dispatcher._task.cancel()
        await asyncio.sleep(0.01)
        for path in ("/healthz", "/readyz"):
            resp = await client.get(path)
            assert resp.status_code == 503
            assert "worker" in resp.json()["reason"]
    (tmp_path / "b").mkdir()
    unstarted = WebhookReceiver(make_config(tmp_path / "b"))
    transport = httpx.ASGITransport(app=unstarted.asgi)  # no lifespan: nothing is handled
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        assert (await client.get("/readyz")).status_code == 503
    unstarted.inbox.close()


# -- 2: acknowledging never waits on a sync handler ------------------------------------


async def test_blocked_sync_handlers_do_not_delay_acknowledgements(tmp_path: Path) -> None:
    config = make_config(tmp_path, handler_threads=2, handler_concurrency=16, **FAST)
    receiver = WebhookReceiver(config)
    release = threading.Event()
    started: list[str] = []

    @receiver.on(MessageStatus)
    def slow(event: MessageStatus) -> None:
        started.append(event.message_id)
        release.wait(10)

    try:
        async with serving(receiver) as client:
            for i in range(12):  # more blocked handlers than asyncio's default pool has threads
                assert (await post_status(client, f"wamid.B{i}")).status_code == 200
            await until(lambda: len(started) == 2)
            began = time.perf_counter()
            assert (await post_status(client, "wamid.B-next")).status_code == 200
            assert time.perf_counter() - began < 1.0
            release.set()
            await until(lambda: len(started) == 13)
    finally:
        release.set()


# -- 3: a hung handler times out and does not stall the others -------------------------


async def test_hung_handler_times_out_while_others_keep_running(tmp_path: Path) -> None:
    config = make_config(tmp_path, handler_timeout=0.5, max_attempts=1, **FAST)
    receiver = WebhookReceiver(config)
    handled: list[str] = []
    never = asyncio.Event()

    @receiver.on(MessageStatus)
    async def handle(event: MessageStatus) -> None:
        if event.message_id == "wamid.HANG":
            await never.wait()
        handled.append(event.message_id)

    async with serving(receiver) as client:
        await post_status(client, "wamid.HANG")
        await asyncio.sleep(0.1)  # the hung job is running
        began = time.perf_counter()
        await post_status(client, "wamid.AFTER")
        await until(lambda: handled == ["wamid.AFTER"], 0.4)  # before the timeout fires
        assert time.perf_counter() - began < 0.4
        await until(lambda: {j.status for j in receiver.inbox.jobs()} == {"done", "dead"})
    [dead] = [j for j in SQLiteInbox(tmp_path / "inbox.db").jobs() if j.status == "dead"]
    assert dead.last_error == "TimeoutError: handler took longer than 0.5s"


async def test_stuck_sync_handler_threads_are_reported(tmp_path: Path) -> None:
    config = make_config(tmp_path, handler_timeout=0.2, handler_threads=1, **FAST)
    receiver = WebhookReceiver(config)
    release = threading.Event()
    receiver.on(MessageStatus)(lambda e: release.wait(10))
    try:
        async with serving(receiver) as client:
            await post_status(client, "wamid.S1")
            await until(lambda: bool(receiver.inbox.jobs()[0].last_error))
            resp = await client.get("/healthz")
            assert resp.status_code == 503
            assert "handler threads" in resp.json()["reason"]
            release.set()
            await until(
                lambda: receiver._dispatcher is not None and not receiver._dispatcher.problem()
            )
    finally:
        release.set()


# -- 4: a graceful stop drains, then releases ------------------------------------------


async def test_graceful_stop_drains_running_jobs_and_releases_the_rest(tmp_path: Path) -> None:
    config = make_config(tmp_path, shutdown_grace=0.3, **FAST)
    receiver = WebhookReceiver(config)
    started: list[str] = []

    @receiver.on(MessageStatus)
    async def handle(event: MessageStatus) -> None:
        started.append(event.message_id)
        await asyncio.sleep(0.1 if event.message_id == "wamid.QUICK" else 60)

    async with serving(receiver) as client:
        await post_status(client, "wamid.QUICK")
        await post_status(client, "wamid.SLOW")
        await until(lambda: len(started) == 2)
    # Exiting the lifespan is what SIGINT/SIGTERM does under uvicorn.
    by_id = dict(
        rows(
            tmp_path / "inbox.db",
            "SELECT json_extract(e.payload, '$.message_id'), j.status || '/' || j.attempts"
            " FROM jobs j JOIN events e ON e.id = j.event_id",
        )
    )
    assert by_id == {"wamid.QUICK": "done/1", "wamid.SLOW": "pending/0"}


# -- 5: bodies that cannot be encoded, and one bad callback in a commit group ----------


async def test_lone_surrogate_status_is_stored_handled_and_deduplicated(tmp_path: Path) -> None:
    receiver = WebhookReceiver(make_config(tmp_path, **FAST))
    handled: list[str] = []
    receiver.on(MessageStatus)(lambda e: handled.append(e.message_id))
    body = status_body("wamid.\udc00")  # ASCII JSON: the escape, as a provider sends it
    assert b'"wamid.\\udc00"' in body
    headers, _ = authentic("meta_cloud", body)
    async with serving(receiver) as client:
        first = await client.post("/webhooks/meta_cloud", content=body, headers=headers)
        assert (first.status_code, first.json()["new"]) == (200, 1)
        again = await client.post("/webhooks/meta_cloud", content=body, headers=headers)
        assert (again.status_code, again.json()["duplicates"]) == (200, 1)
        await until(lambda: handled == ["wamid.\udc00"])
    [(stored,)] = rows(tmp_path / "inbox.db", "SELECT body FROM deliveries LIMIT 1")
    assert stored == body  # the raw bytes, as received


async def test_one_unstorable_callback_does_not_fail_its_commit_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = WebhookReceiver(make_config(tmp_path, **FAST))
    receiver.on(MessageStatus, name="statuses")(lambda e: None)
    receiver.on(UnhandledEvent, name="odd")(lambda e: None)
    bind = receiver.store.bind_key  # type: ignore[attr-defined]

    def refuse_unhandled(key: str) -> object:  # a row the engine refuses, for one callback
        if key.startswith("sinch:"):
            raise ValueError("refused by the engine")
        return bind(key)

    monkeypatch.setattr(receiver.store, "bind_key", refuse_unhandled)
    with pytest.raises(ValueError, match="printable text only"):
        receiver.on(UnhandledEvent, name="broken-\udc00")  # never stored, never found
    odd = b'{"app_id": "01HAPPID0000000000000000AB", "something_new": {}}'
    async with serving(receiver) as client:
        sinch = client.post("/webhooks/sinch", content=odd, headers=authentic("sinch", odd)[0])
        results = await asyncio.gather(
            *(post_status(client, f"wamid.G{i}") for i in range(5)), sinch
        )
    assert [r.status_code for r in results] == [200] * 5 + [503]
    assert rows(tmp_path / "inbox.db", "SELECT COUNT(*) FROM deliveries") == [(5,)]


# -- the receiver's own defence: a parser crash is this request's 400 ------------------


@pytest.mark.parametrize("error", [RecursionError, OverflowError, KeyError, MemoryError])
async def test_any_parser_exception_is_a_400(
    tmp_path: Path, error: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = WebhookReceiver(make_config(tmp_path, **FAST))
    adapter = receiver.core.senders["meta_cloud"].adapter

    def explode(body: bytes, headers: Any) -> list[InboundEvent]:
        raise error("from a parser")

    monkeypatch.setattr(adapter, "parse_webhook", explode)
    async with serving(receiver) as client:
        resp = await post_status(client, "wamid.P1")
    assert resp.status_code == 400
    assert resp.json() == {"error": "body could not be parsed"}


# -- 11: credentials masked by value in stored headers --------------------------------


async def test_custom_auth_header_is_masked_in_the_inbox(tmp_path: Path) -> None:
    senders = {
        "d360": {
            "provider": "dialog360_cloud",
            **PROVIDERS["dialog360_cloud"],
            "webhook_auth_header": "X-D360-Hook-Auth",
        }
    }
    config = parse_config(
        {"senders": senders, "receiver": {"inbox": str(tmp_path / "inbox.db"), **FAST}}, env={}
    )
    receiver = WebhookReceiver(config)
    case = json.loads((CONTRACT / "dialog360_cloud/webhooks/status_read.json").read_text())
    body = json.dumps(case["body"]).encode()
    async with serving(receiver) as client:
        resp = await client.post(
            "/webhooks/d360", content=body, headers={"X-D360-Hook-Auth": D360_WEBHOOK_SECRET}
        )
        assert resp.status_code == 200
    [(headers,)] = rows(tmp_path / "inbox.db", "SELECT headers FROM deliveries")
    assert D360_WEBHOOK_SECRET not in headers
    assert json.loads(headers)["x-d360-hook-auth"] == "***"
