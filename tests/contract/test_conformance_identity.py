"""Conformance, part 2: every adapter says *who* in the same words.

The same user, statuses and failures through all five providers, each in its own wire
format (written from the providers' documents, cited beside each builder), must come out
with the same ``user`` / ``sender`` / ``business_id``, and a failed status must read like
the failed send of the same failure.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from gateway import FlowMessage, UnsupportedFeature
from gateway.errors import ServiceWindowClosed
from gateway.events import FlowCompleted, MessageStatus
from gateway.identity import UserRef
from providers import get_adapter
from providers.base import Adapter
from tests.conftest import PROVIDERS, add_token_route, authentic
from tests.contract.test_contract import OK_BODIES

ALL = sorted(PROVIDERS)
PHONE_USER = "16505551234"
BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
HIDDEN = UserRef(user_id=BSUID)  # a username user whose phone is withheld
ANSWERS = {"email": "a@b.c"}


def _adapter(provider: str) -> Adapter:
    return get_adapter(provider, **PROVIDERS[provider])


def _meta_envelope(provider: str, value: dict[str, Any]) -> bytes:
    """Meta's ``{entry[].changes[].value}`` (Cloud API, 360dialog Cloud), naming the
    sender's own number in ``metadata`` as every real callback does."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": _bid(provider)},
        **value,
    }
    change = {"field": "messages", "value": value}
    doc = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    return json.dumps(doc).encode()


def _bid(provider: str) -> str | None:
    return _adapter(provider).business_id


def _sinch(provider: str, key: str, obj: dict[str, Any]) -> bytes:
    doc = {"app_id": _bid(provider), "accepted_time": "2026-05-01T10:00:00.500Z", key: obj}
    return json.dumps(doc).encode()


def _nfm(flow_token: str) -> dict[str, Any]:
    response = json.dumps({"flow_token": flow_token, **ANSWERS})
    return {"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": response}}


# -- a username user completes a Flow ----------------------------------------------------


def _hidden_user_completion(provider: str) -> bytes:
    """A Flow reply from a user who hides the phone number behind a username.

    Meta: identity.md §2.3 ("messages[].from may be omitted", "from_user_id always",
    contacts[].user_id + profile.username); Sinch: the BSUID as channel identity
    (developers.sinch.com/docs/conversation/channel-support/whatsapp/user-id, [likely]
    for callbacks); 1msg: chatId "<BSUID>@lid" and authorBsuid (a production capture,
    ebor94/1msg@d9139102 docs/payloads-reales-1msg.md).
    """
    if provider == "sinch":
        message = {
            "id": "wamid.REPLY",
            "direction": "TO_APP",
            "channel_identity": {"channel": "WHATSAPP", "identity": BSUID, "app_id": ""},
            "contact_message": {
                "channel_specific_message": {"message_type": "nfm_reply", "message": _nfm("tok")},
                "reply_to": {"message_id": "wamid.SENT"},
            },
        }
        return _sinch(provider, "message", message)
    if provider == "onemsg":
        message = {
            "id": "wamid.REPLY",
            "type": "interactive",
            "fromMe": False,
            "chatId": f"{BSUID}@lid",
            "authorBsuid": BSUID,
            "time": 1777629600,
            "quotedMsgId": "wamid.SENT",
            "body": json.dumps({"flow_token": "tok", **ANSWERS}),
        }
        return json.dumps({"instanceId": _bid(provider), "messages": [message]}).encode()
    contact = {"profile": {"name": "Sheena", "username": "realsheenanelson"}, "user_id": BSUID}
    message = {
        "context": {"from": "15550783881", "id": "wamid.SENT"},
        "from_user_id": BSUID,
        "id": "wamid.REPLY",
        "timestamp": "1777629600",
        "type": "interactive",
        "interactive": _nfm("tok"),
    }
    return _meta_envelope(provider, {"contacts": [contact], "messages": [message]})


BSUID_PROVIDERS = [p for p in ALL if "bsuid_recipient" in _adapter(p).capabilities]


def test_only_on_premise_cannot_reach_a_bsuid() -> None:
    assert sorted(set(ALL) - set(BSUID_PROVIDERS)) == ["dialog360_onprem"]


@pytest.mark.parametrize("provider", BSUID_PROVIDERS)
def test_a_username_user_completes_a_flow_everywhere(make_driver: Any, provider: str) -> None:
    body = _hidden_user_completion(provider)
    headers, query = authentic(provider, body)
    driver = make_driver({"main": _adapter(provider)})
    [event] = driver.handle_webhook("main", body, headers, query)
    assert isinstance(event, FlowCompleted)
    assert (event.flow_token, event.response, event.reply_to) == ("tok", ANSWERS, "wamid.SENT")
    assert (event.user.phone, event.user.user_id) == (None, BSUID)
    assert (event.sender, event.business_id) == ("main", _bid(provider))


# -- sending to a BSUID -----------------------------------------------------------------


def _where_the_bsuid_goes(provider: str, body: dict[str, Any]) -> Any:
    """Read the addressed user from a request body, written from each provider's docs."""
    if provider == "sinch":
        return body["recipient"]["identified_by"]["channel_identities"][0]["identity"]
    if provider == "onemsg":
        assert "phone" not in body
        return body["chatId"]
    assert "to" not in body  # Meta: a BSUID never goes in "to"
    return body["recipient"]


@pytest.mark.parametrize("to", [BSUID, PARENT])
@pytest.mark.parametrize("provider", ALL)
def test_a_bsuid_goes_where_each_provider_wants_it(
    make_driver: Any, provider: str, to: str
) -> None:
    msg = FlowMessage(to=to, flow_id="1", flow_cta="Open", body="Hi", screen="S")
    adapter = _adapter(provider)
    driver = make_driver({"main": adapter})
    with respx.mock(assert_all_called=False) as mock:
        add_token_route(mock, provider)
        route = mock.post().respond(200, json=OK_BODIES[provider])
        if provider not in BSUID_PROVIDERS:
            with pytest.raises(UnsupportedFeature, match="phone number"):
                driver.send(msg)
            assert route.call_count == 0
            return
        receipt = driver.send(msg)
    sent = json.loads(route.calls.last.request.content)
    expected = f"{to}@lid" if provider == "onemsg" else to
    assert _where_the_bsuid_goes(provider, sent) == expected
    kind = "parent_user_id" if to == PARENT else "user_id"
    assert receipt.user == UserRef(**{kind: to})


# -- statuses and failures read alike ---------------------------------------------------


def _delivered(provider: str) -> bytes:
    """A ``delivered`` status for a phone user, in each provider's documented shape."""
    if provider == "sinch":  # Sinch callbacks doc (MESSAGE_DELIVERY); '+' as in its READ example
        report = {
            "message_id": "wamid.SENT",
            "status": "DELIVERED",
            "channel_identity": {"channel": "WHATSAPP", "identity": f"+{PHONE_USER}"},
        }
        return _sinch(provider, "message_delivery_report", report)
    if provider == "onemsg":  # 1msg ack (ebor94/1msg test/normalizador.test.js)
        ack = {"id": "wamid.SENT", "chatId": f"{PHONE_USER}@c.us", "status": "delivered"}
        return json.dumps({"instanceId": _bid(provider), "ack": [ack]}).encode()
    status = {
        "id": "wamid.SENT",
        "status": "delivered",
        "timestamp": "1777629600",
        "recipient_id": PHONE_USER,
    }
    if provider == "dialog360_onprem":  # On-Premise: the flat body, no metadata
        return json.dumps({"statuses": [status]}).encode()
    return _meta_envelope(provider, {"statuses": [status]})


_WINDOW_CLOSED_TEXT = (
    "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number."
)


def _window_closed(provider: str) -> bytes:
    """The 24 h window failure where each provider reports it: a failed status."""
    if provider == "sinch":  # Sinch callbacks doc, FAILED example
        report = {
            "message_id": "wamid.SENT",
            "status": "FAILED",
            "channel_identity": {"channel": "WHATSAPP", "identity": PHONE_USER},
            "reason": {
                "code": "OUTSIDE_ALLOWED_SENDING_WINDOW",
                "description": f"The underlying channel reported: {_WINDOW_CLOSED_TEXT}",
                "sub_code": "UNSPECIFIED_SUB_CODE",
            },
        }
        return _sinch(provider, "message_delivery_report", report)
    if provider == "onemsg":  # a failed ack relays Meta's title (ebor94/1msg capture)
        ack = {
            "id": "wamid.SENT",
            "chatId": f"{PHONE_USER}@c.us",
            "status": "failed",
            "error": "Re-engagement message",
        }
        return json.dumps({"instanceId": _bid(provider), "ack": [ack]}).encode()
    status: dict[str, Any] = {
        "id": "wamid.SENT",
        "status": "failed",
        "timestamp": "1777629600",
        "recipient_id": PHONE_USER,
    }
    if provider == "dialog360_onprem":  # Meta On-Premise docs: 470, title only
        status["errors"] = [{"code": 470, "title": _WINDOW_CLOSED_TEXT}]
        return json.dumps({"statuses": [status]}).encode()
    status["errors"] = [  # zammad spec/lib/whatsapp/webhook/message/status/failed_spec.rb
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": _WINDOW_CLOSED_TEXT},
        }
    ]
    return _meta_envelope(provider, {"statuses": [status]})


@pytest.mark.parametrize("provider", ALL)
def test_a_delivered_status_names_the_user_alike(make_driver: Any, provider: str) -> None:
    body = _delivered(provider)
    headers, query = authentic(provider, body)
    [event] = make_driver({"main": _adapter(provider)}).handle_webhook("main", body, headers, query)
    assert isinstance(event, MessageStatus)
    assert (event.message_id, event.status) == ("wamid.SENT", "delivered")
    assert event.user.phone == f"+{PHONE_USER}"  # one format, whatever the provider's
    assert (event.sender, event.business_id) == ("main", _bid(provider))


@pytest.mark.parametrize("provider", ALL)
def test_a_closed_window_reads_like_the_failed_send(make_driver: Any, provider: str) -> None:
    body = _window_closed(provider)
    headers, query = authentic(provider, body)
    [event] = make_driver({"main": _adapter(provider)}).handle_webhook("main", body, headers, query)
    assert isinstance(event, MessageStatus)
    assert event.status == "failed"
    [error] = event.errors
    assert error.error_class is ServiceWindowClosed
    assert error.category == ServiceWindowClosed.category
    words = " ".join(t for t in (error.title, error.message, error.details) if t)
    assert "24 hours" in words or "Re-engagement" in words  # the provider's words are kept
    assert (event.user.phone, event.sender) == (f"+{PHONE_USER}", "main")
