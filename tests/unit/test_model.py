"""Every FlowMessage / FlowTemplate rule fails at construction, naming field and rule."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway import FlowMessage, FlowTemplate, TemplateRef, UnsupportedFeature
from gateway.errors import LimitExceeded
from gateway.model import CTA_MAX
from providers import get_adapter
from tests.kits import KITS

BASE: dict[str, Any] = {
    "to": "+16505551234",
    "flow_id": "1",
    "flow_cta": "Book!",
    "body": "Book your visit",
    "screen": "WELCOME",
}
TEMPLATE: dict[str, Any] = {
    "to": "+16505551234",
    "template": {"name": "signup_flow", "language": "en_US"},
}
TPL: dict[str, Any] = {
    "name": "signup_flow",
    "language": "en_US",
    "category": "MARKETING",
    "body": "Sign up below",
    "button_text": "Sign up",
    "flow_id": "123",
    "navigate_screen": "WELCOME",
}


def _fails(cls: Any, data: dict[str, Any]) -> tuple[str, str, str]:
    with pytest.raises(ValidationError) as info:
        cls(**data)
    err = info.value.errors()[0]
    return ".".join(str(p) for p in err["loc"]), err["type"], err["msg"]


def test_valid_messages_construct() -> None:
    assert FlowMessage(**BASE).flow_action == "navigate"
    assert FlowMessage(**{**BASE, "flow_id": None, "flow_name": "booking"}).flow_name == "booking"
    dx = FlowMessage(**{**BASE, "screen": None, "flow_action": "data_exchange"})
    assert dx.screen is None
    assert FlowMessage(**TEMPLATE).is_template
    assert FlowMessage(**{**TEMPLATE, "flow_token": "t", "data": {"a": 1}}).data == {"a": 1}


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"flow_id": None}, "", "flow_identity"),
        ({"flow_name": "also"}, "", "flow_identity"),
        ({"flow_cta": None}, "", "flow_cta_missing"),
        ({"flow_cta": "x" * 31}, "flow_cta", "flow_cta_too_long"),
        ({"flow_cta": "Book 📅"}, "flow_cta", "flow_cta_emoji"),
        ({"flow_cta": "Go ✔"}, "flow_cta", "flow_cta_emoji"),
        ({"flow_cta": "  "}, "flow_cta", "empty_string"),
        ({"screen": None}, "", "screen_missing"),
        ({"flow_action": "data_exchange"}, "", "screen_forbidden"),
        ({"flow_action": "data_exchange", "screen": None, "data": {"a": 1}}, "", "data_forbidden"),
        ({"data": {}}, "data", "data_empty"),
        ({"header": "h" * 61}, "header", "header_too_long"),
        ({"footer": "f" * 61}, "footer", "footer_too_long"),
        ({"body": "b" * 1025}, "body", "body_too_long"),
        ({"body": None}, "", "body_missing"),
        ({"to": "12"}, "to", "invalid_phone"),
        ({"to": "+1234567890123456"}, "to", "invalid_phone"),
        ({"to": "not a phone"}, "to", "invalid_recipient"),
        ({"mode": "preview"}, "mode", "literal_error"),
        ({"flow_action": "jump"}, "flow_action", "literal_error"),
        ({"colour": "red"}, "colour", "extra_forbidden"),
        ({"flow_id": ""}, "flow_id", "empty_string"),
    ],
)
def test_interactive_rules(change: dict[str, Any], field: str, rule: str) -> None:
    loc, kind, msg = _fails(FlowMessage, {**BASE, **change})
    assert (loc, kind) == (field, rule)
    assert msg


def test_messages_name_the_field_and_limit() -> None:
    _, _, msg = _fails(FlowMessage, {**BASE, "flow_cta": "x" * 35})
    assert "30" in msg
    assert "35" in msg
    with pytest.raises(ValidationError, match="flow_cta"):
        FlowMessage(**{**BASE, "flow_cta": "x" * 35})


@pytest.mark.parametrize(
    ("provider", "limit"),
    [("meta_cloud", 30), ("dialog360_cloud", 30), ("dialog360_onprem", 20), ("sinch", 20),
     ("onemsg", 30)],
)  # fmt: skip
def test_each_provider_refuses_a_cta_past_its_own_limit(provider: str, limit: int) -> None:
    adapter = get_adapter(provider, **KITS[provider].settings)
    adapter.build_send(FlowMessage(**{**BASE, "flow_cta": "x" * limit}))
    if limit == CTA_MAX:  # the model's own limit already refuses more
        with pytest.raises(ValidationError, match="flow_cta_too_long"):
            FlowMessage(**{**BASE, "flow_cta": "x" * (limit + 1)})
        return
    with pytest.raises(LimitExceeded) as info:
        adapter.build_send(FlowMessage(**{**BASE, "flow_cta": "x" * (limit + 1)}))
    err = info.value
    assert (err.provider, err.field, err.rule, err.limit, err.got) == (
        provider, "flow_cta", "flow_cta_too_long", limit, limit + 1
    )  # fmt: skip
    assert isinstance(err, UnsupportedFeature)
    assert f"at most {limit}" in str(err)


def test_a_sender_setting_overrides_the_documented_cta_limit() -> None:
    settings = {**KITS["onemsg"].settings, "flow_cta_max_length": 20}
    with pytest.raises(LimitExceeded, match="at most 20"):
        get_adapter("onemsg", **settings).build_send(FlowMessage(**{**BASE, "flow_cta": "x" * 21}))


@pytest.mark.parametrize(
    ("change", "rule", "mentions"),
    [
        ({"flow_id": "1"}, "template_flow_identity", "flow_id"),
        ({"flow_name": "n"}, "template_flow_identity", "flow_name"),
        ({"flow_cta": "Go"}, "template_interactive_field", "flow_cta"),
        ({"screen": "S"}, "template_interactive_field", "screen"),
        ({"body": "b", "header": "h"}, "template_interactive_field", "header"),
        ({"mode": "draft"}, "template_interactive_field", "mode"),
        ({"flow_action": "navigate"}, "template_interactive_field", "flow_action"),
    ],
)
def test_template_send_rejects_interactive_fields(
    change: dict[str, Any], rule: str, mentions: str
) -> None:
    _, kind, msg = _fails(FlowMessage, {**TEMPLATE, **change})
    assert kind == rule
    assert mentions in msg
    assert "template" in msg


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"language": "english"}, "string_pattern_mismatch"),
        ({"button_index": -1}, "greater_than_equal"),
        ({"body_parameters": ["ok", " "]}, "empty_string"),
    ],
)
def test_template_ref_rules(change: dict[str, Any], rule: str) -> None:
    _, kind, _ = _fails(TemplateRef, {"name": "t", "language": "en_US", **change})
    assert kind == rule


def test_models_are_frozen() -> None:
    msg = FlowMessage(**BASE)
    with pytest.raises(ValidationError):
        msg.flow_cta = "Other"  # type: ignore[misc]


def test_flow_template_valid_variants() -> None:
    assert FlowTemplate(**TPL).category == "MARKETING"
    assert FlowTemplate(**{**TPL, "category": "utility"}).category == "UTILITY"
    as_dict = FlowTemplate(
        **{**TPL, "flow_id": None, "flow_json": {"version": "5.0", "screens": []}}
    )
    assert as_dict.flow_json == '{"version":"5.0","screens":[]}'
    dx = FlowTemplate(**{**TPL, "flow_action": "data_exchange", "navigate_screen": None})
    assert dx.navigate_screen is None


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"flow_id": None}, "", "flow_identity"),
        ({"flow_name": "n"}, "", "flow_identity"),
        ({"flow_id": None, "flow_json": "{not json"}, "flow_json", "flow_json_invalid"),
        ({"flow_id": None, "flow_json": "[1]"}, "flow_json", "flow_json_invalid"),
        ({"navigate_screen": None}, "", "navigate_screen_missing"),
        ({"flow_action": "data_exchange"}, "", "navigate_screen_forbidden"),
        ({"button_text": "b" * 26}, "button_text", "button_text_too_long"),
        ({"name": "Bad Name"}, "name", "string_pattern_mismatch"),
        ({"category": "PROMO"}, "category", "literal_error"),
        ({"body": "Hi {{1}}"}, "", "body_examples_missing"),
        ({"body": "Hi {{1}}", "body_examples": ["a", "b"]}, "", "body_examples_mismatch"),
    ],
)
def test_flow_template_rules(change: dict[str, Any], field: str, rule: str) -> None:
    loc, kind, _ = _fails(FlowTemplate, {**TPL, **change})
    assert (loc, kind) == (field, rule)
