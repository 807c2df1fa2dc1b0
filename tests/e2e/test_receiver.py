"""The webhook receiver, through its real ASGI app (httpx ASGITransport), on each store
engine (``store_url``: SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import parse_config
from gateway.events import FlowCompleted, InboundEvent, MessageStatus
from gateway.receiver import WebhookReceiver
from gateway.store import open_store
from tests.conftest import CONTRACT, PROVIDERS, authentic, forged
from tests.contract.meta_cloud.kit import META_VERIFY_TOKEN
from tests.kits import KITS, load_fixture_files

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_config(tmp_path: Path, store: str | None = None, **receiver: Any) -> Any:
    """One sender per provider, named after it; the store ``store`` names, else a SQLite
    inbox file in ``tmp_path``."""
    senders = {p: {"provider": p, **s} for p, s in PROVIDERS.items()}
    gateway = {"store": store, "store_migrate": True} if store else {}
    return parse_config(
        {
            "gateway": gateway,
            "senders": senders,
            "receiver": {"inbox": str(tmp_path / "inbox.db"), **receiver},
        },
        env={},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(
    tmp_path: Path, clock: Clock, store_url: str
) -> AsyncIterator[tuple[WebhookReceiver, httpx.AsyncClient]]:
    config = make_config(tmp_path, store_url, max_body_bytes=64 * 1024)
    receiver = WebhookReceiver(config, clock=clock, autostart=False)  # handlers: run_due
    transport = httpx.ASGITransport(app=receiver.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
        yield receiver, client
    receiver.inbox.close()


def fixtures() -> list[Any]:
    out = []
    for provider in sorted(PROVIDERS):
        for f in load_fixture_files(KITS[provider], "webhooks"):
            case = json.loads(f.read_text())
            out.append(pytest.param(provider, case, id=f"{provider}-{f.stem}"))
    return out


async def post(
    client: httpx.AsyncClient,
    provider: str,
    body: bytes,
    auth: tuple[dict[str, str], dict[str, str]],
) -> httpx.Response:
    headers, query = auth
    return await client.post(f"/webhooks/{provider}", content=body, headers=headers, params=query)


@pytest.mark.parametrize(("provider", "case"), fixtures())
async def test_documented_callbacks_stored_once(
    app: Any, provider: str, case: dict[str, Any]
) -> None:
    receiver, client = app
    seen: list[InboundEvent] = []
    receiver.on(name="collect")(seen.append)
    body = json.dumps(case["body"]).encode()
    first = await post(client, provider, body, authentic(provider, body))
    assert first.status_code == 200
    n = len(case["expected"])
    assert first.json() == {"received": n, "new": n, "duplicates": 0}
    again = await post(client, provider, body, authentic(provider, body))  # provider retry
    assert again.json() == {"received": n, "new": 0, "duplicates": n}
    assert await receiver.run_due() == n
    assert await receiver.run_due() == 0
    assert len(seen) == n
    counts = receiver.inbox.counts()  # type: ignore[attr-defined]
    assert (counts["deliveries"], counts["events"], counts.get("done", 0)) == (2, n, n)


@pytest.mark.parametrize(("provider", "case"), fixtures())
async def test_forged_callbacks_are_401_and_store_nothing(
    app: Any, provider: str, case: dict[str, Any]
) -> None:
    receiver, client = app
    body = json.dumps(case["body"]).encode()
    for auth in forged(provider, body):
        resp = await post(client, provider, body, auth)
        assert resp.status_code == 401
        assert resp.json() == {"error": "authentication failed"}
    if KITS[provider].signs_body:  # tampered after signing
        headers, query = authentic(provider, body)
        resp = await post(client, provider, body.replace(b"{", b"{ ", 1), (headers, query))
        assert resp.status_code == 401
    assert receiver.inbox.counts()["deliveries"] == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"entry": 5}', b"\xff\xfe"])
async def test_malformed_bodies_are_400_never_500(app: Any, provider: str, body: bytes) -> None:
    receiver, client = app
    resp = await post(client, provider, body, authentic(provider, body))
    if KITS[provider].passes_unknown_objects and body == b'{"entry": 5}':
        # Valid JSON objects of an unknown shape are passed on as UnhandledEvent by these.
        assert resp.status_code in (200, 400)
    else:
        assert resp.status_code == 400
        assert resp.json()["error"]
    assert receiver.inbox.counts()["events"] == 0 or resp.status_code == 200  # type: ignore[attr-defined]


async def test_oversized_unknown_and_wrong_method(app: Any) -> None:
    receiver, client = app
    big = b"{" + b" " * (64 * 1024) + b"}"
    resp = await post(client, "meta_cloud", big, authentic("meta_cloud", big))
    assert resp.status_code == 413
    resp = await client.post("/webhooks/nobody", content=b"{}")
    assert resp.status_code == 404
    assert (await client.put("/webhooks/meta_cloud", content=b"{}")).status_code == 405

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(100):
            yield b" " * 1024

    resp = await client.post("/webhooks/meta_cloud", content=chunks())
    assert resp.status_code == 413
    assert receiver.inbox.counts()["deliveries"] == 0  # type: ignore[attr-defined]


async def test_meta_handshake(app: Any) -> None:
    _, client = app
    params = {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY_TOKEN, "hub.challenge": "42"}
    resp = await client.get("/webhooks/meta_cloud", params=params)
    assert (resp.status_code, resp.text) == (200, "42")
    resp = await client.get("/webhooks/meta_cloud", params={**params, "hub.verify_token": "x"})
    assert resp.status_code == 403
    assert (await client.get("/webhooks/dialog360_cloud", params=params)).status_code == 405


def _flow_callback(message_id: str = "wamid.IN1") -> bytes:
    case = json.loads((CONTRACT / "meta_cloud/webhooks/flow_completion.json").read_text())
    case["body"]["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = message_id
    return json.dumps(case["body"]).encode()


async def test_failing_handler_is_retried_then_handled_once(app: Any, clock: Clock) -> None:
    receiver, client = app
    calls: Counter[str] = Counter()

    @receiver.on(FlowCompleted)
    async def flaky(event: FlowCompleted) -> None:
        calls[event.message_id] += 1
        if calls[event.message_id] < 3:
            raise RuntimeError("database is down")

    body = _flow_callback()
    assert (
        await post(client, "meta_cloud", body, authentic("meta_cloud", body))
    ).status_code == 200
    assert await receiver.run_due() == 1  # fails: retry scheduled later
    assert await receiver.run_due() == 0  # not due yet
    [job] = receiver.inbox.jobs()
    assert (job.status, job.attempts, job.last_error) == (
        "pending",
        1,
        "RuntimeError: database is down",
    )
    clock.now += 1.0  # first retry after 0.5-1 s
    assert await receiver.run_due() == 1
    clock.now += 2.0
    assert await receiver.run_due() == 1
    clock.now += 3600
    assert await receiver.run_due() == 0
    assert calls == {"wamid.IN1": 3}
    [job] = receiver.inbox.jobs()
    assert (job.status, job.attempts, job.last_error) == ("done", 3, None)


async def test_dead_letter_and_replay(tmp_path: Path, clock: Clock, store_url: str) -> None:
    config = make_config(tmp_path, store_url, max_attempts=2, retry_initial=1)
    receiver = WebhookReceiver(config, clock=clock, autostart=False)
    broken = True
    handled: list[str] = []

    @receiver.on(MessageStatus)
    def record(event: MessageStatus) -> None:  # a sync handler runs in a thread
        if broken:
            raise ValueError("bad")
        handled.append(event.status)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver.asgi), base_url="http://r"
    ) as c:
        body = (CONTRACT / "meta_cloud/webhooks/status_read.json").read_text()
        raw = json.dumps(json.loads(body)["body"]).encode()
        await post(c, "meta_cloud", raw, authentic("meta_cloud", raw))
    for _ in range(3):
        await receiver.run_due()
        clock.now += 60
    [job] = receiver.inbox.jobs()
    assert (job.status, job.attempts) == ("dead", 2)
    broken = False
    assert receiver.inbox.replay(status="dead") == 1
    assert await receiver.run_due() == 1
    assert handled == ["read"]
    receiver.inbox.close()


async def test_a_restart_takes_over_only_what_a_dead_process_held(
    tmp_path: Path, clock: Clock, store_url: str
) -> None:
    config = make_config(tmp_path, store_url, lease=30.0)
    first = WebhookReceiver(config, clock=clock, autostart=False)
    first.on(FlowCompleted, name="orders")(lambda e: None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=first.asgi), base_url="http://r"
    ) as c:
        for i in range(3):
            body = _flow_callback(f"wamid.R{i}")
            assert (
                await post(c, "meta_cloud", body, authentic("meta_cloud", body))
            ).status_code == 200
    # A crash mid-handler: one job was claimed (running) when the process died.
    [held] = first.inbox.claim("dead-process", clock(), 1, 30.0)
    first.inbox.close()

    second = WebhookReceiver(config, clock=clock)
    got: list[str] = []
    second.on(FlowCompleted, name="orders")(lambda e: got.append(e.message_id))
    await second.start()  # does not touch the running job: its lease is live
    await until(lambda: len(got) == 2)
    await asyncio.sleep(0.1)
    assert len(got) == 2
    clock.now += 31  # the dead process's lease expires: taken over
    second._dispatcher.notify()  # type: ignore[union-attr]
    await until(lambda: len(got) == 3)
    await second.stop()
    assert sorted(got) == ["wamid.R0", "wamid.R1", "wamid.R2"]
    reopened = open_store(store_url)
    assert {(r.id, r.attempts) for r in reopened.jobs() if r.id == held.id} == {(held.id, 2)}
    assert {r.status for r in reopened.jobs()} == {"done"}
    reopened.close()


async def until(check: Any, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_events_without_handlers_are_stored_but_not_queued(app: Any) -> None:
    receiver, client = app
    body = _flow_callback()
    assert (
        await post(client, "meta_cloud", body, authentic("meta_cloud", body))
    ).status_code == 200
    assert receiver.inbox.counts()["events"] == 1  # type: ignore[attr-defined]
    assert receiver.inbox.jobs() == []


def test_handler_names_are_unique(tmp_path: Path) -> None:  # no store involved
    receiver = WebhookReceiver(make_config(tmp_path))
    receiver.on(name="x")(print)
    with pytest.raises(ValueError, match="already registered"):
        receiver.on(name="x")(print)
    receiver.inbox.close()


async def test_worker_runs_by_itself_through_lifespan(tmp_path: Path, store_url: str) -> None:
    receiver = WebhookReceiver(make_config(tmp_path, store_url, poll_interval=0.05))
    done: list[str] = []
    receiver.on(FlowCompleted)(lambda e: done.append(e.message_id))
    body = _flow_callback()
    transport = httpx.ASGITransport(app=receiver.asgi)
    async with (
        receiver.asgi.router.lifespan_context(receiver.asgi),  # what uvicorn runs
        httpx.AsyncClient(transport=transport, base_url="http://r") as client,
    ):
        assert (
            await post(client, "meta_cloud", body, authentic("meta_cloud", body))
        ).status_code == 200
        for _ in range(200):
            if done:
                break
            await asyncio.sleep(0.01)
    assert done == ["wamid.IN1"]


async def test_one_structured_log_line_per_request_without_bodies_or_secrets(app: Any) -> None:
    import io
    import logging

    from gateway.log import configure_logging
    from tests.contract.dialog360_cloud.kit import D360_WEBHOOK_SECRET

    stream = io.StringIO()
    handler = configure_logging("INFO", "json", stream)
    try:
        _, client = app
        body = _flow_callback("wamid.SECRETBODYMARKER")
        await post(client, "meta_cloud", body, authentic("meta_cloud", body))
        await client.post(
            "/webhooks/dialog360_cloud", content=b"{}", headers={"Authorization": "x"}
        )
        await post(client, "dialog360_cloud", b"{}", authentic("dialog360_cloud", b"{}"))
    finally:
        logging.getLogger("flowgateway").removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ok = [r for r in lines if r["event"] == "receiver.ok"]
    assert len(ok) == 1
    [invalid] = [r for r in lines if r["event"] == "receiver.invalid"]
    assert "entry" in invalid["reason"]
    assert {k: ok[0][k] for k in ("sender", "provider", "events", "verified")} == {
        "sender": "meta_cloud", "provider": "meta_cloud", "events": 1, "verified": True,
    }  # fmt: skip
    assert ok[0]["latency_ms"] >= 0
    [rejected] = [r for r in lines if r["event"] == "receiver.rejected"]
    assert (rejected["sender"], rejected["verified"]) == ("dialog360_cloud", False)
    text = stream.getvalue()
    assert "SECRETBODYMARKER" not in text
    assert D360_WEBHOOK_SECRET not in text


async def test_the_worker_prunes_what_is_past_retention(
    tmp_path: Path, clock: Clock, store_url: str
) -> None:
    config = make_config(
        tmp_path, store_url, poll_interval=0.02, retention_days=1, prune_interval=0.05
    )
    receiver = WebhookReceiver(config, clock=clock)
    done: list[str] = []
    receiver.on(FlowCompleted)(lambda e: done.append(e.message_id))
    transport = httpx.ASGITransport(app=receiver.asgi)
    async with (
        receiver.asgi.router.lifespan_context(receiver.asgi),
        httpx.AsyncClient(transport=transport, base_url="http://r") as client,
    ):
        body = _flow_callback()
        assert (await post(client, "meta_cloud", body, authentic("meta_cloud", body))).is_success
        await until(lambda: done == ["wamid.IN1"])
        await asyncio.sleep(0.1)
        assert receiver.store.counts()["done"] == 1  # younger than a day: kept
        clock.now += 2 * 86400
        await until(lambda: receiver.store.counts()["deliveries"] == 0)
        assert receiver.store.counts() == {"events": 0, "deliveries": 0, "unroutable": 0}
