"""Normalized events survive the inbox: every class, every new field, JSON and back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gateway.errors import ProviderError, ServiceWindowClosed
from gateway.events import (
    ErrorDetail,
    ErrorEvent,
    FlowCompleted,
    InboundEvent,
    MessageStatus,
    UnhandledEvent,
    UserIdentityChanged,
    event_from_dict,
    event_to_dict,
)
from gateway.identity import UserRef

WHEN = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
HIDDEN = UserRef(user_id="US.13491208655302741918", username="sheena")
WINDOW = ErrorDetail(
    code=131047,
    title="Re-engagement message",
    message="Re-engagement message",
    details="Message failed to send because more than 24 hours have passed …",
    category="ServiceWindowClosed",
)
WHO = {"provider": "meta_cloud", "sender": "main", "business_id": "106540352242922"}
EVENTS: list[InboundEvent] = [
    FlowCompleted(**WHO, message_id="wamid.R", user=HIDDEN, flow_token="t",
                  response={"a": [1]}, reply_to="wamid.S", timestamp=WHEN, raw={"x": 1}),
    MessageStatus(**WHO, message_id="wamid.S", user=UserRef(phone="+16505551234"),
                  status="failed", errors=(WINDOW,), timestamp=WHEN, raw={}),
    UserIdentityChanged(**WHO, change="user_id", user=HIDDEN,
                        previous=UserRef(user_id="US.1"), message_id=None, timestamp=None),
    ErrorEvent(**WHO, errors=(WINDOW,), timestamp=None, raw=[]),
    UnhandledEvent(**WHO, kind="message:text", raw={"type": "text"}),
]  # fmt: skip


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_events_round_trip_through_json(event: InboundEvent) -> None:
    stored = json.loads(json.dumps(event_to_dict(event)))
    assert stored["type"] == type(event).__name__
    back = event_from_dict(stored)
    assert back == event
    assert back.raw == event.raw  # raw is kept, though equality ignores it


def test_an_error_detail_names_its_error_class() -> None:
    assert WINDOW.error_class is ServiceWindowClosed
    unknown = ErrorDetail(code=None, title=None, message=None, details=None, category="Nope")
    assert unknown.error_class is ProviderError
