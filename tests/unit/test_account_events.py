"""Account-level events (Flows lifecycle and health, template reviews) survive storage.

The receiver's inbox stores events as JSON (``event_to_dict``) and hands them back
(``event_from_dict``): every new event type must come back equal, its statuses as
``FlowStatus`` members.
"""

from __future__ import annotations

import json

import pytest

from gateway.events import (
    FlowHealthAlert,
    FlowStatus,
    FlowStatusChanged,
    TemplateStatusChanged,
    event_from_dict,
    event_to_dict,
)
from providers import get_adapter
from tests.kits import KITS, load_cases

CASES = [
    c for c in load_cases(KITS["meta_cloud"], "webhooks")
    if c["expected"] and c["expected"][0]["type"] in
    {"FlowStatusChanged", "FlowHealthAlert", "TemplateStatusChanged"}
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["description"][:40])
def test_account_events_round_trip_through_storage(case: dict[str, object]) -> None:
    adapter = get_adapter("meta_cloud", **KITS["meta_cloud"].settings)
    [event] = adapter.parse_webhook(json.dumps(case["body"]).encode(), {})
    assert isinstance(event, FlowStatusChanged | FlowHealthAlert | TemplateStatusChanged)
    back = event_from_dict(json.loads(json.dumps(event_to_dict(event))))
    assert back == event
    if isinstance(back, FlowStatusChanged):
        assert back.new_status is None or isinstance(back.new_status, FlowStatus)


def test_there_is_a_case_of_each_kind() -> None:
    kinds = {c["expected"][0]["type"] for c in CASES}
    assert kinds == {"FlowStatusChanged", "FlowHealthAlert", "TemplateStatusChanged"}


def test_an_unknown_status_is_kept_as_the_providers_word() -> None:
    assert FlowStatus.of("published") is FlowStatus.PUBLISHED
    assert FlowStatus.of("ARCHIVED") == "ARCHIVED"
    assert FlowStatus.of("") is None
    assert FlowStatus.of(7) is None


def test_a_redelivery_dedups_but_the_same_move_later_does_not() -> None:
    from gateway.receiver import dedup_key

    adapter = get_adapter("meta_cloud", **KITS["meta_cloud"].settings)
    [case] = [c for c in CASES if c["expected"][0]["type"] == "FlowStatusChanged"][:1]

    def key(time: int) -> str:
        body = json.loads(json.dumps(case["body"]))
        body["entry"][0]["time"] = time
        [event] = adapter.parse_webhook(json.dumps(body).encode(), {})
        return dedup_key("meta_cloud", event)

    assert key(1731580800) == key(1731580800)  # Meta redelivers the same envelope
    assert key(1731580800) != key(1731580860)  # published again after an edit
