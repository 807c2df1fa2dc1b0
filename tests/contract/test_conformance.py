"""The shared conformance suite: the same FlowMessages through every adapter.

Every adapter must build a request (or refuse with UnsupportedFeature before any IO),
send it through both gateways, read its provider's failures as typed errors, refuse
unauthenticated or malformed callbacks cleanly, and turn its provider's Flow completion
into the *same* FlowCompleted as every other provider.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx

from gateway import (
    AuthenticationError,
    FlowCompleted,
    FlowMessage,
    ProviderUnavailable,
    RateLimited,
    SignatureError,
    TemplateRef,
    UnsupportedFeature,
    WebhookPayloadError,
)
from gateway.identity import UserRef, addressed
from providers import adapter_names, get_adapter
from providers.base import Adapter
from tests.conftest import PROVIDER_SECRETS, PROVIDERS, add_token_route, authentic
from tests.kits import KITS

ALL = sorted(PROVIDERS)
KNOWN_CAPABILITIES = {
    "flow_id", "flow_name", "draft_mode", "template_send", "template_create",
    "flow_management", "media_header", "public_key", "bsuid_recipient",
    "template_named_parameters", "template_header_text", "template_buttons",
    "template_management",
}  # fmt: skip

MESSAGES: dict[str, FlowMessage] = {
    "navigate_full": FlowMessage(
        to="+16505551234", flow_id="1234567890", flow_cta="Book now", flow_token="tok-nav",
        header="Appointments", body="Pick a time", footer="30 seconds", screen="APPOINTMENT",
        data={"department": "dental", "slots": [1, 2]},
    ),
    "navigate_minimal": FlowMessage(
        to="16505551234", flow_id="1234567890", flow_cta="Open", body="Hi", screen="START"
    ),
    "data_exchange_draft": FlowMessage(
        to="+447700900123", flow_id="99", flow_cta="Start", body="Let's go",
        flow_action="data_exchange", mode="draft",
    ),
    "by_flow_name": FlowMessage(
        to="+16505551234", flow_name="booking_v1", flow_cta="Book", body="b", screen="S"
    ),
    "template_with_data": FlowMessage(
        to="+5511987654321", flow_token="tok-tpl", data={"first_name": "Ana"},
        template=TemplateRef(name="signup_flow", language="pt_BR", body_parameters=("Ana",)),
    ),
    "template_plain": FlowMessage(
        to="+5511987654321", template=TemplateRef(name="signup_flow", language="en_US")
    ),
    "to_bsuid": FlowMessage(
        to="US.13491208655302741918", flow_id="1234567890", flow_cta="Open", body="Hi",
        screen="START",
    ),
    "template_to_parent_bsuid": FlowMessage(
        to="US.ENT.11815799212886844830", template=TemplateRef(name="signup_flow", language="en_US")
    ),
}  # fmt: skip
NEEDS = {
    "by_flow_name": "flow_name",
    "data_exchange_draft": "draft_mode",
    "to_bsuid": "bsuid_recipient",
    "template_to_parent_bsuid": "bsuid_recipient",
}


def _adapter(provider: str) -> Adapter:
    return get_adapter(provider, **PROVIDERS[provider])


def test_every_registered_adapter_is_under_conformance() -> None:
    assert set(adapter_names()) == set(KITS)  # a kit per provider: tests/contract/<name>/


@pytest.mark.parametrize("provider", ALL)
def test_adapter_declares_itself(provider: str) -> None:
    adapter = _adapter(provider)
    assert adapter.name == provider
    assert adapter.capabilities <= KNOWN_CAPABILITIES
    assert {"flow_id", "template_send"} <= adapter.capabilities
    text = repr(adapter)
    assert not any(secret in text for secret in PROVIDER_SECRETS)


@pytest.mark.parametrize("provider", ALL)
@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_same_message_through_every_adapter(make_driver: Any, provider: str, name: str) -> None:
    msg = MESSAGES[name]
    adapter = _adapter(provider)
    driver = make_driver({"main": adapter})
    needed = NEEDS.get(name)
    with respx.mock(assert_all_called=False) as mock:
        add_token_route(mock, provider)
        route = mock.post().respond(200, json=KITS[provider].ok_body)
        if needed is not None and needed not in adapter.capabilities:
            with pytest.raises(UnsupportedFeature) as info:
                driver.send(msg)
            assert (info.value.provider, info.value.feature) == (provider, needed)
            assert route.call_count == 0
            return
        receipt = driver.send(msg)
    assert receipt.message_id == "wamid.TEST"
    assert (receipt.provider, receipt.sender) == (provider, "main")
    assert receipt.business_id == adapter.business_id is not None
    assert receipt.user == addressed(msg.to)  # these responses echo no recipient
    sent = route.calls.last.request
    request = adapter.build_send(msg)
    assert sent.url.host == urlsplit(adapter.settings.base_url).hostname
    assert json.loads(sent.content) == request.json
    assert not any(secret in repr(request) for secret in PROVIDER_SECRETS)
    assert KITS[provider].wire_token(request.json) == (msg.flow_token or "unused")


@pytest.mark.parametrize("provider", ALL)
@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (httpx.Response(401, json={"error": "unauthorized"}), AuthenticationError),
        (httpx.Response(429, headers={"Retry-After": "1"}, text="slow down"), RateLimited),
        (httpx.Response(503, text="<html>down</html>"), ProviderUnavailable),
    ],
)
def test_http_failures_read_alike(
    make_driver: Any, provider: str, response: Any, cls: type
) -> None:
    driver = make_driver({"main": _adapter(provider)}, max_attempts=2)
    with respx.mock() as mock:
        add_token_route(mock, provider)
        mock.post().mock(return_value=response)
        with pytest.raises(cls) as info:
            driver.send(MESSAGES["navigate_minimal"])
    assert info.value.provider == provider


@pytest.mark.parametrize("provider", ALL)
@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'"text"', b"\xff"])
def test_malformed_callbacks_are_payload_errors(provider: str, body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        _adapter(provider).parse_webhook(body, {})


@pytest.mark.parametrize("provider", ALL)
def test_unauthenticated_callbacks_are_refused(provider: str) -> None:
    with pytest.raises(SignatureError):
        _adapter(provider).verify_webhook(b"{}", {}, {})


# -- one Flow, one FlowCompleted, whatever the provider ----------------------------------

ANSWERS = {"date": "2026-12-01", "slot": "10:30", "notes": {"allergies": ["none"]}}
USER = "16505551234"
REPLIED_AT = 1764583200  # 2025-12-01T10:00:00Z


@pytest.mark.parametrize("name", ["navigate_full", "template_with_data"])
def test_one_flow_completes_identically_everywhere(make_driver: Any, name: str) -> None:
    msg = MESSAGES[name]
    seen: dict[str, FlowCompleted] = {}
    for provider in ALL:
        kit, adapter = KITS[provider], _adapter(provider)
        driver = make_driver({"main": adapter})
        token = kit.wire_token(adapter.build_send(msg).json)
        # The provider's own Flow-completion callback, as its documentation shows it, from
        # the phone user USER to the configured sender's number.
        body = kit.flow_completion(
            response={"flow_token": token, **ANSWERS}, phone=USER, reply_to="wamid.SENT",
            message_id="wamid.REPLY", ts=REPLIED_AT,
        )  # fmt: skip
        headers, query = authentic(provider, body)
        [event] = driver.handle_webhook("main", body, headers, query)
        assert isinstance(event, FlowCompleted), provider
        seen[provider] = event
    assert {e.flow_token for e in seen.values()} == {msg.flow_token}
    assert all(e.response == ANSWERS for e in seen.values())
    assert {(e.sender, e.user, e.reply_to, e.message_id) for e in seen.values()} == {
        ("main", UserRef(phone=f"+{USER}"), "wamid.SENT", "wamid.REPLY")
    }
    assert {p: e.business_id for p, e in seen.items()} == {p: _adapter(p).business_id for p in ALL}
    assert {e.timestamp for e in seen.values()} == {datetime.fromtimestamp(REPLIED_AT, UTC)}
