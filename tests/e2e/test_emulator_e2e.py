"""End to end: every provider, sync and async, over real HTTP to the emulator.

Uses the ``emulator`` fixture of our own pytest plugin (the one users get), serving one
sender per provider kit (tests/kits.py), named as its provider.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from gateway import (
    FlowCompleted,
    FlowMessage,
    Gateway,
    InvalidRequest,
    MessageStatus,
    OutcomeUnknown,
    RateLimited,
    RetryPolicy,
    RetrySettings,
    ServiceWindowClosed,
    TemplateRef,
)
from gateway.emulator import FAILURE_LOCATIONS
from gateway.events import InboundEvent
from gateway.http import HttpRequest, encode_json
from gateway.pytest_plugin import EmulatorFixture
from gateway.transport import HttpxTransport
from providers import adapter_class
from tests.kits import KITS, kit_config_toml

SENDERS = {name: name for name in KITS}  # sender name → provider
INTERACTIVE = FlowMessage(
    to="+16505551234", flow_id="1234567890", flow_cta="Book now", flow_token="tok-e2e",
    header="Booking", body="Pick a time", footer="Quick", screen="BOOKING", data={"shop": "north"},
)  # fmt: skip
TEMPLATE = FlowMessage(
    to="+5511987654321", flow_token="tok-tpl", data={"first_name": "Ana"},
    template=TemplateRef(name="signup_flow", language="pt_BR", body_parameters=("Ana",)),
)  # fmt: skip
ANSWERS = {"slot": "10:30", "party": 2}
FAST = RetryPolicy(RetrySettings(max_attempts=3, initial_backoff=0.01, retry_after_cap=0.01))


@pytest.fixture(scope="module")
def flowgateway_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin's config: one sender per kit (overrides the plugin's packaged default)."""
    path = tmp_path_factory.mktemp("e2e") / "gateway.toml"
    path.write_text(kit_config_toml(), encoding="utf-8")
    return path


def _completion(events: list[InboundEvent]) -> FlowCompleted:
    [done] = [e for e in events if isinstance(e, FlowCompleted)]
    return done


def _statuses(events: list[InboundEvent]) -> list[str]:
    return [e.status for e in events if isinstance(e, MessageStatus)]


@pytest.mark.parametrize("sender", sorted(SENDERS))
@pytest.mark.parametrize("msg", [INTERACTIVE, TEMPLATE], ids=["interactive", "template"])
def test_sync_round_trip(emulator: EmulatorFixture, sender: str, msg: FlowMessage) -> None:
    with emulator.gateway(retry=FAST) as gw:
        receipt = gw.send(msg.model_copy(update={"sender": sender}))
        assert receipt.message_id is not None
        [sent] = emulator.sent(SENDERS[sender])
        assert (sent.message_id, sent.flow_token, sent.kind) == (
            receipt.message_id, msg.flow_token, "template" if msg.template else "interactive",
        )  # fmt: skip
        events = emulator.feed(gw, sender, emulator.callbacks(receipt.message_id, ANSWERS))
    assert _statuses(events) == ["sent", "delivered", "read"]
    done = _completion(events)
    assert (done.flow_token, done.response, done.reply_to) == (
        msg.flow_token,
        ANSWERS,
        receipt.message_id,
    )
    assert done.provider == SENDERS[sender]


@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_async_round_trip(emulator: EmulatorFixture, sender: str) -> None:
    async def go() -> tuple[str, list[InboundEvent]]:
        async with emulator.async_gateway(retry=FAST) as gw:
            receipt = await gw.send(INTERACTIVE.model_copy(update={"sender": sender}))
            assert receipt.message_id is not None
            events: list[InboundEvent] = []
            for call in emulator.callbacks(receipt.message_id, ANSWERS):
                query = dict(parse_qsl(urlsplit(call.url).query))
                events += await gw.handle_webhook(sender, call.body, call.headers, query)
            return receipt.message_id, events

    message_id, events = asyncio.run(go())
    assert _statuses(events) == ["sent", "delivered", "read"]
    assert _completion(events).reply_to == message_id


@pytest.mark.parametrize("sender", sorted(SENDERS))
@pytest.mark.parametrize("fault", ["rate_limit", "server_error"])
def test_transient_faults_are_retried(emulator: EmulatorFixture, sender: str, fault: str) -> None:
    emulator.inject(SENDERS[sender], fault, count=2)
    with emulator.gateway(retry=FAST) as gw:
        receipt = gw.send(INTERACTIVE.model_copy(update={"sender": sender}))
    assert receipt.message_id is not None
    assert len(emulator.sent(SENDERS[sender])) == 1


@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_transient_faults_exhaust_into_typed_errors(emulator: EmulatorFixture, sender: str) -> None:
    emulator.inject(SENDERS[sender], "rate_limit", count=3, retry_after=7)
    with emulator.gateway(retry=FAST) as gw, pytest.raises(RateLimited) as info:
        gw.send(INTERACTIVE.model_copy(update={"sender": sender}))
    assert info.value.retry_after == 7.0


@pytest.mark.parametrize("sender", sorted(SENDERS))
@pytest.mark.parametrize("fault", ["slow", "drop"])
def test_ambiguous_faults_are_reported_not_resent(
    emulator: EmulatorFixture, sender: str, fault: str
) -> None:
    emulator.inject(SENDERS[sender], fault, delay=0.6)
    transport = HttpxTransport(httpx.Client(timeout=httpx.Timeout(0.2, connect=2.0)))
    with emulator.gateway(retry=FAST, transport=transport) as gw, pytest.raises(OutcomeUnknown):
        gw.send(INTERACTIVE.model_copy(update={"sender": sender}))
    transport._client.close()


@pytest.mark.parametrize(
    ("sender", "where"),
    [
        (sender, where)
        for sender, provider in sorted(SENDERS.items())
        for where in FAILURE_LOCATIONS[provider]["window_closed"].settable
    ],
)
def test_a_closed_window_is_reported_where_the_provider_reports_it(
    emulator: EmulatorFixture, sender: str, where: str
) -> None:
    """The production path: Meta accepts the message and fails it by webhook later; a
    caller that only catches ServiceWindowClosed at send would miss it."""
    provider = SENDERS[sender]
    emulator.emulator.set_failure_location(provider, "window_closed", where)
    emulator.inject(provider, "window_closed")
    msg = INTERACTIVE.model_copy(update={"sender": sender})
    with emulator.gateway(retry=FAST) as gw:
        if where == "response":
            with pytest.raises(ServiceWindowClosed):
                gw.send(msg)
            assert emulator.sent(provider) == []
            return
        receipt = gw.send(msg)
        assert receipt.message_id is not None
        [status] = emulator.feed(gw, sender, emulator.callbacks(receipt.message_id, ANSWERS))
    assert isinstance(status, MessageStatus)
    assert (status.message_id, status.status, status.sender) == (
        receipt.message_id,
        "failed",
        sender,
    )
    [error] = status.errors
    assert error.error_class is ServiceWindowClosed


def test_sinch_expired_token_is_refreshed_once(emulator: EmulatorFixture) -> None:
    sim = emulator.emulator.sims["sinch"]
    with emulator.gateway(retry=FAST) as gw:
        gw.send(INTERACTIVE.model_copy(update={"sender": "sinch"}))
        emulator.inject("sinch", "expire_token")
        gw.send(INTERACTIVE.model_copy(update={"sender": "sinch"}))
    assert sim.token_requests == 2  # type: ignore[attr-defined]
    assert len(emulator.sent("sinch")) == 2


def _misspell(obj: Any) -> Any:
    """Rename every key that names the CTA: what an adapter bug would send."""
    if isinstance(obj, dict):
        return {(k + "_text" if "cta" in k.lower() else k): _misspell(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_misspell(v) for v in obj]
    return obj


@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_emulator_rejects_a_misspelled_field(
    emulator: EmulatorFixture, sender: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with emulator.gateway(retry=FAST) as gw:
        adapter = gw.senders[sender].adapter
        original = adapter.build_send

        def buggy(msg: FlowMessage) -> HttpRequest:
            req = original(msg)
            body = _misspell(req.json)
            return HttpRequest(req.method, req.url, req.headers, body, encode_json(body))

        monkeypatch.setattr(adapter, "build_send", buggy)
        with pytest.raises(InvalidRequest) as info:
            gw.send(INTERACTIVE.model_copy(update={"sender": sender}))
    assert "cta_text" in str(info.value).lower()
    assert emulator.sent(SENDERS[sender]) == []


def test_control_api_over_http(emulator: EmulatorFixture) -> None:
    # a provider that refuses a send outside the window in its answer (1msg, today)
    refuses = next(p for p in SENDERS if FAILURE_LOCATIONS[p]["window_closed"].where == "response")
    other = next(p for p in SENDERS if p != refuses)
    with httpx.Client(base_url=emulator.url) as client:
        resp = client.post("/_emulator/faults", json={"provider": refuses, "kind": "window_closed"})
        assert resp.json() == {"ok": True}
        assert (
            client.post("/_emulator/faults", json={"provider": "x", "kind": "drop"}).status_code
            == 400
        )
        assert (
            client.post("/_emulator/faults", json={"provider": refuses, "kind": "x"}).status_code
            == 400
        )
        with Gateway(emulator.config, retry=FAST) as gw, pytest.raises(ServiceWindowClosed):
            gw.send(INTERACTIVE.model_copy(update={"sender": refuses}))
        with Gateway(emulator.config, retry=FAST) as gw:
            receipt = gw.send(INTERACTIVE.model_copy(update={"sender": other}))
        [listed] = client.get("/_emulator/messages", params={"provider": other}).json()
        assert listed["message_id"] == receipt.message_id
        resp = client.post("/_emulator/complete", json={"message_id": receipt.message_id})
        assert resp.status_code == 409  # no webhook URL configured yet
        assert client.post("/_emulator/complete", json={"message_id": "nope"}).status_code == 404
        assert client.get("/nowhere/x").status_code == 404


PUBLIC_PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n"


KEYS = {n: "public_key" in adapter_class(n).capabilities for n in SENDERS}


@pytest.mark.parametrize("sender", [n for n, can in KEYS.items() if can])
def test_register_public_key(emulator: EmulatorFixture, sender: str) -> None:
    with emulator.gateway(retry=FAST) as gw:
        assert gw.register_public_key(PUBLIC_PEM, sender=sender) is True
        with pytest.raises(InvalidRequest):
            gw.register_public_key("not a key", sender=sender)
    assert emulator.emulator.sims[SENDERS[sender]].public_key == PUBLIC_PEM


@pytest.mark.parametrize("sender", [n for n, can in KEYS.items() if not can])
def test_register_public_key_unsupported(emulator: EmulatorFixture, sender: str) -> None:
    from gateway import UnsupportedFeature

    with emulator.gateway(retry=FAST) as gw, pytest.raises(UnsupportedFeature, match="public_key"):
        gw.register_public_key(PUBLIC_PEM, sender=sender)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [("slow", OutcomeUnknown), ("drop", OutcomeUnknown), ("rate_limit", None), (None, None)],
)
def test_aiohttp_transport_maps_failures_like_httpx(
    emulator: EmulatorFixture, fault: str | None, expected: type | None
) -> None:
    from gateway.transport_aiohttp import AiohttpTransport

    if fault:
        emulator.inject("meta_cloud", fault, delay=0.6)

    async def go() -> str | None:
        transport = AiohttpTransport(timeout=0.2)
        async with emulator.async_gateway(retry=FAST, transport=transport) as gw:
            msg = INTERACTIVE.model_copy(update={"sender": "meta_cloud"})
            return (await gw.send(msg)).message_id

    if expected is None:
        assert asyncio.run(go()) is not None
    else:
        with pytest.raises(expected):
            asyncio.run(go())


def test_aiohttp_transport_refused_connection_is_retryable() -> None:
    from gateway import ProviderUnavailable
    from gateway.transport_aiohttp import AiohttpTransport

    async def go() -> None:
        transport = AiohttpTransport(connect_timeout=1)
        try:
            await transport.send(HttpRequest("POST", "http://127.0.0.1:9/x?token=s3cret"))
        finally:
            await transport.aclose()

    with pytest.raises(ProviderUnavailable) as info:
        asyncio.run(go())
    assert info.value.retryable
    assert "s3cret" not in str(info.value)


def test_async_gateway_prefers_aiohttp_when_installed() -> None:
    from gateway.transport import default_async_transport
    from gateway.transport_aiohttp import AiohttpTransport

    assert isinstance(default_async_transport(), AiohttpTransport)
