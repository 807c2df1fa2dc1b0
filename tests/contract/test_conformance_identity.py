"""Conformance, part 2: every adapter says *who* in the same words.

The same user, statuses and failures through every provider, each in its own wire
format (written from the providers' documents in each kit, cited beside each builder), must come out
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
from tests.kits import KITS

ALL = sorted(PROVIDERS)
PHONE_USER = "16505551234"
BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
HIDDEN = UserRef(user_id=BSUID)  # a username user whose phone is withheld
ANSWERS = {"email": "a@b.c"}
SENT_AT = 1777629600  # 2026-05-01T10:00:00Z


def _adapter(provider: str) -> Adapter:
    return get_adapter(provider, **PROVIDERS[provider])


def _bid(provider: str) -> str | None:
    return _adapter(provider).business_id


# -- a username user completes a Flow ----------------------------------------------------


BSUID_PROVIDERS = [p for p in ALL if "bsuid_recipient" in _adapter(p).capabilities]


def test_only_providers_whose_api_predates_bsuids_cannot_reach_one() -> None:
    documented = [p for p in ALL if not KITS[p].bsuid_recipient]  # On-Premise, today
    assert sorted(set(ALL) - set(BSUID_PROVIDERS)) == documented


@pytest.mark.parametrize("provider", BSUID_PROVIDERS)
def test_a_username_user_completes_a_flow_everywhere(make_driver: Any, provider: str) -> None:
    # A Flow reply from a user who hides the phone number behind a username.
    body = KITS[provider].hidden_user_completion(
        response={"flow_token": "tok", **ANSWERS}, user_id=BSUID, username="realsheenanelson",
        reply_to="wamid.SENT", message_id="wamid.REPLY", ts=SENT_AT,
    )  # fmt: skip
    headers, query = authentic(provider, body)
    driver = make_driver({"main": _adapter(provider)})
    [event] = driver.handle_webhook("main", body, headers, query)
    assert isinstance(event, FlowCompleted)
    assert (event.flow_token, event.response, event.reply_to) == ("tok", ANSWERS, "wamid.SENT")
    assert (event.user.phone, event.user.user_id) == (None, BSUID)
    assert (event.sender, event.business_id) == ("main", _bid(provider))


# -- sending to a BSUID -----------------------------------------------------------------


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
        route = mock.post().respond(200, json=KITS[provider].ok_body)
        if provider not in BSUID_PROVIDERS:
            with pytest.raises(UnsupportedFeature, match="phone number"):
                driver.send(msg)
            assert route.call_count == 0
            return
        receipt = driver.send(msg)
    sent = json.loads(route.calls.last.request.content)
    kit = KITS[provider]
    assert kit.wire_recipient(sent) == kit.bsuid_on_wire(to)
    kind = "parent_user_id" if to == PARENT else "user_id"
    assert receipt.user == UserRef(**{kind: to})


# -- statuses and failures read alike ---------------------------------------------------


@pytest.mark.parametrize("provider", ALL)
def test_a_delivered_status_names_the_user_alike(make_driver: Any, provider: str) -> None:
    body = KITS[provider].delivered(phone=PHONE_USER, message_id="wamid.SENT", ts=SENT_AT)
    headers, query = authentic(provider, body)
    [event] = make_driver({"main": _adapter(provider)}).handle_webhook("main", body, headers, query)
    assert isinstance(event, MessageStatus)
    assert (event.message_id, event.status) == ("wamid.SENT", "delivered")
    assert event.user.phone == f"+{PHONE_USER}"  # one format, whatever the provider's
    assert (event.sender, event.business_id) == ("main", _bid(provider))


@pytest.mark.parametrize("provider", ALL)
def test_a_closed_window_reads_like_the_failed_send(make_driver: Any, provider: str) -> None:
    # The 24 h window failure where each provider reports it: a failed status.
    body = KITS[provider].window_closed(phone=PHONE_USER, message_id="wamid.SENT", ts=SENT_AT)
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
