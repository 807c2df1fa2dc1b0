"""The embedded Meta emulator checks requests on its own and answers like Graph."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway import AsyncGateway, AuthenticationError, FlowMessage, Gateway, InvalidRequest
from gateway.emulator import AsyncInProcessTransport, InProcessTransport, MetaEmulator
from gateway.events import FlowCompleted
from gateway.http import HttpRequest
from providers import get_adapter
from tests.conftest import META_SETTINGS

EMU = {
    "access_token": META_SETTINGS["access_token"],
    "app_secret": META_SETTINGS["app_secret"],
    "phone_number_id": "1234567890",
    "waba_id": "102290129340398",
}
MSG = FlowMessage(
    to="+16505551234", flow_id="1", flow_cta="Open", body="Hi", screen="S", flow_token="T"
)
URL = "https://graph.facebook.com/v24.0/1234567890/messages"


def _valid_body() -> dict:
    return json.loads(get_adapter("meta_cloud", **META_SETTINGS).build_send(MSG).content)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda b: b["interactive"]["action"]["parameters"].update(flow_message_version="2"),
            "flow_message_version",
        ),
        (lambda b: b["interactive"]["action"]["parameters"].update(flow_name="x"), "exactly one"),
        (lambda b: b["interactive"]["action"]["parameters"].update(flow_cta="x" * 21), "flow_cta"),
        (lambda b: b.pop("messaging_product"), "messaging_product"),
        (
            lambda b: b["interactive"]["action"]["parameters"]["flow_action_payload"].update(
                data={}
            ),
            "non-empty",
        ),
    ],
)
def test_emulator_rejects_what_meta_would(mutate, fragment: str) -> None:
    emu = MetaEmulator(**EMU)
    body = _valid_body()
    mutate(body)
    req = HttpRequest.for_json(
        "POST", URL, body, {"Authorization": f"Bearer {EMU['access_token']}"}
    )
    resp = emu.handle(req)
    assert resp.status_code == 400
    assert fragment in resp.json()["error"]["message"]
    assert emu.sent == {}


def test_gateway_round_trip_sync_and_async() -> None:
    emu = MetaEmulator(**EMU)
    adapter = get_adapter("meta_cloud", **META_SETTINGS)
    with Gateway({"m": adapter}, transport=InProcessTransport(emu.handle)) as gw:
        receipt = gw.send(MSG)
        [done] = gw.handle_webhook("m", *emu.complete_flow(receipt.message_id, {"ok": True}))
    assert isinstance(done, FlowCompleted)
    assert (done.flow_token, done.response, done.reply_to) == (
        "T",
        {"ok": True},
        receipt.message_id,
    )

    async def go() -> str:
        async with AsyncGateway(
            {"m": adapter}, transport=AsyncInProcessTransport(emu.handle)
        ) as agw:
            return (await agw.send(MSG)).message_id

    assert asyncio.run(go()) in emu.sent


def test_wrong_token_is_a_graph_auth_error() -> None:
    emu = MetaEmulator(**{**EMU, "access_token": "other-token"})
    with (
        Gateway(
            {"m": get_adapter("meta_cloud", **META_SETTINGS)},
            transport=InProcessTransport(emu.handle),
        ) as gw,
        pytest.raises(AuthenticationError) as info,
    ):
        gw.send(MSG)
    assert info.value.code == 190


def test_unknown_phone_number_is_invalid_request() -> None:
    emu = MetaEmulator(**{**EMU, "phone_number_id": "999"})
    with (
        Gateway(
            {"m": get_adapter("meta_cloud", **META_SETTINGS)},
            transport=InProcessTransport(emu.handle),
        ) as gw,
        pytest.raises(InvalidRequest),
    ):
        gw.send(MSG)
