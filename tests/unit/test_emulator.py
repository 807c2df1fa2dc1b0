"""The emulator's own checks, in process: it refuses what each provider would refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway import AuthenticationError, FlowMessage, Gateway, InvalidRequest, OutcomeUnknown
from gateway.config import load_config
from gateway.emulator import SIMULATORS, AsyncInProcessTransport, Emulator, InProcessTransport
from gateway.events import FlowCompleted
from gateway.http import HttpRequest
from providers import adapter_names
from tests.kits import KITS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "config/gateway.toml", env={"FLOWGATEWAY_EMULATOR_URL": "http://emu"})
MSG = FlowMessage(
    to="+16505551234", flow_id="1", flow_cta="Open", body="Hi", screen="S", flow_token="T"
)


def _gateway(emulator: Emulator) -> Gateway:
    return Gateway(CONFIG, transport=InProcessTransport(emulator.respond))


def _meta_request(body: dict[str, Any]) -> HttpRequest:
    url = "http://emu/meta_cloud/v24.0/100000000000001/messages"
    auth = {"Authorization": "Bearer emulator-meta-access-token"}
    return HttpRequest.for_json("POST", url, body, auth)


def test_every_provider_is_emulated() -> None:
    assert set(SIMULATORS) == set(adapter_names())  # a module in gateway/emulator/sims/ each
    assert {t["provider"] for t in CONFIG.senders.values()} <= set(SIMULATORS)


@pytest.mark.parametrize(
    ("mutate", "fragment", "code"),
    [
        (lambda p: p.update(flow_message_version="2"), "flow_message_version", 131009),
        # Meta's spec: oneOf [{required: [flow_id]}, {required: [flow_name]}]
        (lambda p: p.update(flow_name="x"), "valid under each of", 131009),
        # Meta's spec: flow_cta maxLength 30 (ActionObject, Flow parameters)
        (lambda p: p.update(flow_cta="x" * 31), "flow_cta", 131009),
        (lambda p: p.pop("flow_cta"), "flow_cta", 131008),
        (lambda p: p.update(flow_mod="draft"), "flow_mod: unexpected key", 100),
        (lambda p: p["flow_action_payload"].update(data={}), "non-empty", 131009),
        (lambda p: p.update(flow_action="data_exchange"), "omitted for data_exchange", 131009),
    ],
)
def test_meta_schema_refusals(mutate: Any, fragment: str, code: int) -> None:
    emulator = Emulator.from_config(CONFIG)
    with _gateway(emulator) as gw:
        body = json.loads(gw.build_send(MSG).content)
    mutate(body["interactive"]["action"]["parameters"])
    resp = emulator.respond(_meta_request(body))
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == code
    assert fragment in error["error_data"]["details"]
    assert emulator.sent() == []


def test_in_process_round_trip_sync_and_async() -> None:
    import asyncio

    from gateway import AsyncGateway

    emulator = Emulator.from_config(CONFIG)
    with _gateway(emulator) as gw:
        receipt = gw.send(MSG)
        assert receipt.message_id is not None
        events = []
        for call in emulator.callbacks(receipt.message_id, {"ok": True}, statuses=()):
            events += gw.handle_webhook("meta", call.body, call.headers)
    [done] = events
    assert isinstance(done, FlowCompleted)
    assert (done.flow_token, done.response, done.reply_to) == (
        "T",
        {"ok": True},
        receipt.message_id,
    )

    async def go() -> str | None:
        transport = AsyncInProcessTransport(emulator.respond)
        async with AsyncGateway(CONFIG, transport=transport) as agw:
            return (await agw.send(MSG.model_copy(update={"sender": "d360"}))).message_id

    assert asyncio.run(go()) in {m.message_id for m in emulator.sent("dialog360_cloud")}


def test_wrong_credentials_are_the_providers_auth_errors() -> None:
    emulator = Emulator.from_config(CONFIG)
    for sim in emulator.sims.values():
        for key in KITS[sim.name].secret_settings:
            if key in sim.account:
                sim.account[key] = "rotated"
    with _gateway(emulator) as gw:
        for sender in CONFIG.senders:
            with pytest.raises(AuthenticationError):
                gw.send(MSG.model_copy(update={"sender": sender}))


def test_in_process_drop_is_an_unknown_outcome() -> None:
    emulator = Emulator.from_config(CONFIG)
    emulator.inject("meta_cloud", "drop")
    with _gateway(emulator) as gw, pytest.raises(OutcomeUnknown):
        gw.send(MSG)


def test_unknown_paths_and_faults() -> None:
    emulator = Emulator.from_config(CONFIG)
    with pytest.raises(ValueError, match="unknown fault"):
        emulator.inject("meta_cloud", "meltdown")
    with pytest.raises(KeyError):
        emulator.inject("nobody", "drop")
    resp = emulator.respond(HttpRequest("POST", "http://emu/nobody/x"))
    assert resp.status_code == 404
    wrong_node = _meta_request({}).url.replace("100000000000001", "999")
    resp = emulator.respond(HttpRequest.for_json("POST", wrong_node, {}, _meta_request({}).headers))
    assert resp.json()["error"]["code"] == 100


def test_template_creation_is_checked() -> None:
    from gateway import FlowTemplate

    emulator = Emulator.from_config(CONFIG)
    tpl = FlowTemplate(
        name="signup", language="en_US", category="MARKETING", body="Sign up",
        button_text="Go", flow_id="1", navigate_screen="S",
    )  # fmt: skip
    with _gateway(emulator) as gw:
        creating = [n for n, s in gw.senders.items() if "template_create" in s.adapter.capabilities]
        assert creating
        for sender in creating:
            receipt = gw.create_template(tpl, sender=sender)
            assert receipt.status == "PENDING"
        body = json.loads(gw.senders["meta"].adapter.build_create_template(tpl).content)
    body["components"][-1]["buttons"][0]["text"] = "x" * 26
    url = "http://emu/meta_cloud/v24.0/200000000000001/message_templates"
    req = HttpRequest.for_json("POST", url, body, _meta_request({}).headers)
    with pytest.raises(InvalidRequest):
        Gateway(CONFIG, transport=InProcessTransport(emulator.respond)).senders[
            "meta"
        ].adapter.parse_create_template_response(emulator.respond(req), tpl)
