"""One callback URL per provider app (``POST /webhooks/{provider}``), on each store
engine: every part of a body reaches the sender its business id names; a Meta batch
naming several numbers is split; a number no sender owns is kept as unroutable, never
dropped; forged bodies store nothing; senders added to the store are routed to without
a restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import parse_config
from gateway.events import InboundEvent
from gateway.receiver import WebhookReceiver
from tests.conftest import CONTRACT, PROVIDERS, authentic, forged

pytestmark = pytest.mark.anyio

WABA_A, WABA_B = "102290129340398", "209876543210987"
META = {  # one app (one app secret), three numbers on two WABAs
    "shop_a1": {"phone_number_id": "1234567890", "waba_id": WABA_A},
    "shop_a2": {"phone_number_id": "1098765432", "waba_id": WABA_A},
    "shop_b": {"phone_number_id": "2233445566", "waba_id": WABA_B},
}
SINCH_APP_2 = "01HAPPID0000000000000000CD"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def config(tmp_path: Path, store_url: str, meta: dict[str, dict[str, str]] = META) -> Any:
    senders: dict[str, dict[str, Any]] = {
        name: {"provider": "meta_cloud", **PROVIDERS["meta_cloud"], **ids}
        for name, ids in meta.items()
    }
    senders["sinch_1"] = {"provider": "sinch", **PROVIDERS["sinch"]}
    senders["sinch_2"] = {"provider": "sinch", **PROVIDERS["sinch"], "app_id": SINCH_APP_2}
    senders["onprem"] = {"provider": "dialog360_onprem", **PROVIDERS["dialog360_onprem"]}
    return parse_config(
        {"gateway": {"store": store_url, "store_migrate": True}, "senders": senders}, env={}
    )


@pytest.fixture
async def receiver(tmp_path: Path, store_url: str) -> AsyncIterator[WebhookReceiver]:
    r = WebhookReceiver(config(tmp_path, store_url), autostart=False)
    yield r
    r.store.close()


async def post(r: WebhookReceiver, path: str, body: bytes, auth: Any = None) -> httpx.Response:
    headers, query = auth if auth is not None else authentic(path.rsplit("/", 1)[1], body)
    transport = httpx.ASGITransport(app=r.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        return await client.post(path, content=body, headers=headers, params=query)


def batch() -> bytes:
    case = json.loads((CONTRACT / "meta_cloud/routing_batch_three_numbers.json").read_text())
    return json.dumps(case["body"]).encode()


def collect(r: WebhookReceiver) -> list[InboundEvent]:
    seen: list[InboundEvent] = []
    r.on(name="collect")(seen.append)
    return seen


async def test_a_meta_batch_for_three_numbers_reaches_each_sender(
    receiver: WebhookReceiver,
) -> None:
    seen = collect(receiver)
    resp = await post(receiver, "/webhooks/meta_cloud", batch())
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"received": 6, "new": 6, "duplicates": 0}
    assert await receiver.run_due() == 6
    by_sender = sorted((e.sender or "", type(e).__name__) for e in seen)
    assert by_sender == [
        ("shop_a1", "MessageStatus"),
        ("shop_a1", "TemplateStatusChanged"),  # the WABA's first sender by name
        ("shop_a1", "UnhandledEvent"),
        ("shop_a2", "FlowCompleted"),
        ("shop_a2", "MessageStatus"),
        ("shop_b", "MessageStatus"),
    ]
    assert receiver.store.counts()["deliveries"] == 4  # one per part
    again = await post(receiver, "/webhooks/meta_cloud", batch())  # Meta's retry
    assert again.json() == {"received": 6, "new": 0, "duplicates": 6}


async def test_a_number_no_sender_owns_is_kept_as_unroutable(
    tmp_path: Path, store_url: str
) -> None:
    without_b = {k: v for k, v in META.items() if k != "shop_b"}
    r = WebhookReceiver(config(tmp_path, store_url, without_b), autostart=False)
    resp = await post(r, "/webhooks/meta_cloud", batch())
    assert resp.status_code == 200
    assert resp.json() == {"received": 5, "new": 5, "duplicates": 0, "unroutable": 1}
    [row] = r.store.unroutable()
    assert row.reason == "no meta_cloud sender has business id 2233445566"
    assert json.loads(row.body)["entry"][0]["id"] == WABA_B  # its part, kept whole
    r.store.close()


async def test_forged_bodies_are_refused_whole(receiver: WebhookReceiver) -> None:
    body = batch()
    for auth in forged("meta_cloud", body):
        assert (await post(receiver, "/webhooks/meta_cloud", body, auth)).status_code == 401
    assert receiver.store.counts()["deliveries"] == 0


async def test_sinch_apps_route_by_app_id_and_sender_urls_still_work(
    receiver: WebhookReceiver,
) -> None:
    seen = collect(receiver)
    case = json.loads((CONTRACT / "sinch/webhooks/status_delivered.json").read_text())

    def report(app_id: str, message_id: str) -> bytes:
        doc = json.loads(json.dumps(case["body"]))
        doc["app_id"] = app_id
        doc["message_delivery_report"]["message_id"] = message_id
        return json.dumps(doc).encode()

    for i, app_id in enumerate(("01HAPPID0000000000000000AB", SINCH_APP_2)):
        resp = await post(receiver, "/webhooks/sinch", report(app_id, f"m{i}"))
        assert resp.status_code == 200, resp.text
    body = report(SINCH_APP_2, "by-sender-url")
    resp = await post(receiver, "/webhooks/sinch_2", body, authentic("sinch", body))
    assert resp.status_code == 200
    await receiver.run_due()
    assert sorted(e.sender or "" for e in seen) == ["sinch_1", "sinch_2", "sinch_2"]


async def test_a_provider_with_one_sender_takes_bodies_naming_none(
    receiver: WebhookReceiver,
) -> None:
    seen = collect(receiver)
    [path] = sorted((CONTRACT / "dialog360_onprem/webhooks").glob("*.json"))[:1]
    body = json.dumps(json.loads(path.read_text())["body"]).encode()
    resp = await post(receiver, "/webhooks/dialog360_onprem", body)
    assert resp.status_code == 200, resp.text
    await receiver.run_due()
    assert {e.sender for e in seen} == {"onprem"}


async def test_a_sender_added_to_the_store_is_routed_to_without_a_restart(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from gateway.senders import SecretBox, SenderRegistry

    monkeypatch.setenv("FLOWGATEWAY_SECRET_KEY", SecretBox.generate_key())
    without_b = {k: v for k, v in META.items() if k != "shop_b"}
    cfg = config(tmp_path, store_url, without_b)
    cfg = cfg.model_copy(
        update={"gateway": cfg.gateway.model_copy(update={"senders_refresh": 0.05})}
    )
    r = WebhookReceiver(cfg)
    seen = collect(r)
    async with r.lifespan():
        # another process (the CLI, an admin API) adds the number
        admin = SenderRegistry(cfg, r.store)
        admin.add("shop_b", "meta_cloud", {**PROVIDERS["meta_cloud"], **META["shop_b"]})
        for _ in range(200):
            if "shop_b" in r.core.senders:
                break
            await asyncio.sleep(0.01)
        resp = await post(r, "/webhooks/meta_cloud", batch())
        assert resp.json() == {"received": 6, "new": 6, "duplicates": 0}
        for _ in range(200):
            if "shop_b" in {e.sender for e in seen}:
                break
            await asyncio.sleep(0.01)
    assert "shop_b" in {e.sender for e in seen}
