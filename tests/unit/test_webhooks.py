"""Malformed webhooks give WebhookPayloadError naming the path; never KeyError/TypeError."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gateway import FlowCompleted, SignatureError, WebhookPayloadError
from gateway.events import UnhandledEvent
from providers import get_adapter
from tests.conftest import CONTRACT, META_SETTINGS
from tests.contract.meta_cloud.kit import META_VERIFY_TOKEN, hub_signature

ADAPTER = get_adapter("meta_cloud", **META_SETTINGS)
FLOW = json.loads((CONTRACT / "meta_cloud/webhooks/flow_completion.json").read_text())["body"]


def _parse(doc: Any) -> Any:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return ADAPTER.parse_webhook(body, {})


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"<xml/>", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ([], "body: expected an object, got list"),
        ({"object": "whatsapp_business_account"}, "entry: expected an array, got null"),
        ({"entry": {}}, "entry: expected an array, got dict"),
        ({"entry": [1]}, "entry[0]: expected an object, got int"),
        ({"entry": [{"changes": None}]}, "entry[0].changes: expected an array"),
        (
            {"entry": [{"changes": [{"field": "messages", "value": []}]}]},
            "entry[0].changes[0].value",
        ),
        (
            {
                "entry": [
                    {
                        "changes": [
                            {"field": "messages", "value": {"statuses": [{"status": "sent"}]}}
                        ]
                    }
                ]
            },
            "entry[0].changes[0].value.statuses[0].id",
        ),
    ],
)
def test_malformed_bodies_name_the_path(body: Any, fragment: str) -> None:
    with pytest.raises(WebhookPayloadError) as info:
        _parse(body)
    assert fragment in str(info.value)


def test_response_json_that_is_not_json() -> None:
    doc = copy.deepcopy(FLOW)
    msg = doc["entry"][0]["changes"][0]["value"]["messages"][0]
    msg["interactive"]["nfm_reply"]["response_json"] = "{broken"
    with pytest.raises(
        WebhookPayloadError, match=r"messages\[0\]\.interactive\.nfm_reply\.response_json"
    ):
        _parse(doc)


def test_response_json_as_object_is_accepted() -> None:
    doc = copy.deepcopy(FLOW)
    nfm = doc["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["nfm_reply"]
    nfm["response_json"] = {"flow_token": "T1", "a": 1}
    [event] = _parse(doc)
    assert isinstance(event, FlowCompleted)
    assert (event.flow_token, event.response) == ("T1", {"a": 1})


def test_unknown_value_keys_are_passed_on() -> None:
    doc = {
        "entry": [{"changes": [{"field": "messages", "value": {"message_echoes": [{"id": "x"}]}}]}]
    }
    [event] = _parse(doc)
    assert isinstance(event, UnhandledEvent)
    assert event.kind == "value:message_echoes"
    assert event.raw == [{"id": "x"}]


def test_gateway_rejects_unsigned_when_no_secret_configured() -> None:
    no_secret = {k: v for k, v in META_SETTINGS.items() if k != "app_secret"}
    strict = get_adapter("meta_cloud", **no_secret)
    with pytest.raises(SignatureError, match="app_secret is not configured"):
        strict.verify_webhook(b"{}", {"X-Hub-Signature-256": hub_signature(b"{}")})
    lenient = get_adapter("meta_cloud", **no_secret, allow_unsigned_webhooks=True)
    lenient.verify_webhook(b"{}", {})


def test_signature_header_is_case_insensitive_and_prefix_optional() -> None:
    body = b'{"entry":[]}'
    sig = hub_signature(body)
    ADAPTER.verify_webhook(body, {"x-hub-signature-256": sig})
    ADAPTER.verify_webhook(body, {"X-HUB-SIGNATURE-256": sig.removeprefix("sha256=").upper()})


def test_hub_challenge_handshake() -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": META_VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    assert ADAPTER.verify_challenge(params) == "1158201444"
    for bad in (
        {**params, "hub.verify_token": "wrong"},
        {**params, "hub.mode": "unsubscribe"},
        {k: v for k, v in params.items() if k != "hub.challenge"},
    ):
        with pytest.raises(SignatureError):
            ADAPTER.verify_challenge(bad)


def _flow_message(**identity: Any) -> dict[str, Any]:
    doc = copy.deepcopy(FLOW)
    value = doc["entry"][0]["changes"][0]["value"]
    value.pop("contacts", None)
    msg = value["messages"][0]
    msg.pop("from", None)
    msg.update(identity)
    return doc


@pytest.mark.parametrize(
    "identity",
    [
        {"from_user_id": "US.13491208655302741918"},  # a username user: no phone
        {"from": "", "from_user_id": "US.13491208655302741918"},  # before Feb 2026
        {"from_parent_user_id": "US.ENT.11815799212886844830"},
    ],
)
def test_a_flow_completion_without_a_phone_is_a_flow_completion(identity: Any) -> None:
    [event] = _parse(_flow_message(**identity))
    assert isinstance(event, FlowCompleted)
    assert event.user.phone is None
    assert event.user.key in identity.values()


@pytest.mark.parametrize("identity", [{}, {"from": ""}, {"from": None, "from_user_id": ""}])
def test_a_flow_completion_naming_nobody_is_a_payload_error(identity: Any) -> None:
    with pytest.raises(WebhookPayloadError, match=r"messages\[0\]: names no user"):
        _parse(_flow_message(**identity))
