"""``Emulator.play`` with an ``exchange``: the user of a sent data_exchange message plays
its Flow through any exchange callable (the demo's: HTTP), and the provider's completion
webhook carries what the walk completed with. (``endpoint=``: tests/flowjson/test_player.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from gateway import FlowCompleted, FlowMessage, Gateway
from gateway.bundled import DEFAULT_CONFIG
from gateway.config import load_config
from gateway.core import GatewayCore
from gateway.emulator import Emulator, InProcessTransport
from gateway.flowjson.player import ExchangeError

FLOW: dict[str, Any] = {
    "version": "7.3",
    "data_api_version": "4.0",
    "routing_model": {"PICK": ["THANKS"], "THANKS": []},
    "screens": [
        {
            "id": "PICK",
            "title": "Pick",
            "data": {"intro": {"type": "string", "__example__": "Hi"}},
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "TextBody", "text": "${data.intro}"},
                    {"type": "TextInput", "name": "name", "label": "Name", "required": True},
                    {
                        "type": "Footer",
                        "label": "Next",
                        "on-click-action": {
                            "name": "data_exchange",
                            "payload": {"name": "${form.name}"},
                        },
                    },
                ],
            },
        },
        {
            "id": "THANKS",
            "title": "Thanks",
            "terminal": True,
            "data": {"greeting": {"type": "string", "__example__": "Hi Ann"}},
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "TextBody", "text": "${data.greeting}"},
                    {
                        "type": "Footer",
                        "label": "Done",
                        "on-click-action": {
                            "name": "complete",
                            "payload": {"greeting": "${data.greeting}"},
                        },
                    },
                ],
            },
        },
    ],
}
ANSWERS = {"_init": True, "PICK": {"name": "Ann"}, "THANKS": {}}


def _sent() -> tuple[Emulator, Gateway, str]:
    config = load_config(DEFAULT_CONFIG)
    emulator = Emulator.from_config(config)
    gw = Gateway(GatewayCore.from_config(config), transport=InProcessTransport(emulator.respond))
    message = FlowMessage(
        to="+16505551234",
        sender="meta",
        flow_id="1",
        flow_cta="Start",
        body="Hi",
        flow_action="data_exchange",
        flow_token="play-exchange-1",
    )
    receipt = gw.send(message)
    assert receipt.message_id is not None
    return emulator, gw, receipt.message_id


def test_play_through_an_exchange_completes_with_the_providers_webhook() -> None:
    requests: list[dict[str, Any]] = []

    def exchange(request: dict[str, Any]) -> dict[str, Any]:
        requests.append(request)
        if request["action"] == "INIT":
            return {"screen": "PICK", "data": {"intro": "Your name?"}}
        return {"screen": "THANKS", "data": {"greeting": f"Hi {request['data']['name']}"}}

    emulator, gw, message_id = _sent()
    with gw:
        result, calls = emulator.play(message_id, FLOW, ANSWERS, exchange=exchange, statuses=())
        [call] = calls
        [done] = gw.handle_webhook("meta", call.body, call.headers)
    assert result.findings == ()
    assert [(r["action"], r["flow_token"]) for r in requests] == [
        ("INIT", "play-exchange-1"),
        ("data_exchange", "play-exchange-1"),
    ]
    assert requests[1]["data"] == {"name": "Ann"}
    assert isinstance(done, FlowCompleted)
    assert (done.reply_to, done.flow_token) == (message_id, "play-exchange-1")
    assert done.response == {"greeting": "Hi Ann"}


def test_an_exchange_that_fails_gives_findings_and_no_webhook() -> None:
    def refusing(request: dict[str, Any]) -> dict[str, Any]:
        raise ExchangeError("the flow token is invalid or expired", status_code=427)

    emulator, gw, message_id = _sent()
    with gw:
        result, calls = emulator.play(message_id, FLOW, ANSWERS, exchange=refusing)
    assert [f.kind for f in result.findings] == ["endpoint_error"]
    assert "HTTP 427" in result.findings[0].message
    assert calls == []


def test_an_endpoint_and_an_exchange_together_are_refused() -> None:
    emulator, gw, message_id = _sent()
    gw.close()
    with pytest.raises(ValueError, match="not both"):
        emulator.play(message_id, FLOW, ANSWERS, endpoint=object(), exchange=lambda r: r)  # type: ignore[arg-type]
