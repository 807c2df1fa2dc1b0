"""Sinch requests, held to the Conversation API's specification (issue 16).

Sinch publishes its OpenAPI (``conversation.yaml``) but its schemas could not be read, so
the copy in ``../shared/realworld/openapi/sinch/`` is a reconstruction from the SDKs Sinch
generates from it (each keyword cites its SDK source). Two things are checked:

- every request the adapter builds follows that copy and our extract
  (``gateway/emulator/specs/sinch.json``), over the full product of the options a Flow
  send can take (parametrized rather than drawn by Hypothesis: the option space is small
  and finite, so all of it runs, the same on every run);
- the emulator answers as the specification does: bodies the spec allows are accepted,
  bodies it forbids are refused with Sinch's ``INVALID_ARGUMENT``.

The copy is absent on machines without ``../shared``: those checks skip, saying so.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from gateway import FlowMessage
from gateway.emulator import Emulator, specs
from gateway.emulator.base import Sent
from gateway.http import HttpResponse
from gateway.model import TemplateRef
from providers import get_adapter
from providers.sinch import TTL_MAX, TTL_MIN, SinchAdapter, SinchOptions
from tests.contract.sinch.kit import KIT, SINCH_SETTINGS
from tests.realworld import realworld

COPY = realworld("openapi/sinch/conversation-api_v1.reconstructed.json")
needs_copy = pytest.mark.skipif(
    not COPY.is_file(), reason=f"the copy of Sinch's specification is absent ({COPY})"
)
PHONE, BSUID = "+46732001122", "US.13491208655302741918"


@cache
def _copy() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(COPY.read_text(encoding="utf-8"))
    return doc


@cache
def _copy_validator() -> Draft202012Validator:
    """The copy is a JSON Schema 2020-12 document: it is the root, and the operation's
    request body a ``$ref`` into its ``$defs``."""
    schema = {**_copy(), "$ref": "#/$defs/SendMessageRequest"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _ttl_range(doc: dict[str, Any]) -> tuple[int, int]:
    """``ttl``'s range, which both documents give as data beside the pattern (the SDKs
    state it in prose: no JSON Schema keyword can bound the digits of a string)."""
    low, high = doc["$defs"]["SendMessageRequest"]["properties"]["ttl"]["x-seconds-range"]
    return int(low), int(high)


def copy_allows(body: Any) -> bool:
    """What the copy says of ``body`` (schema, and ``ttl``'s stated range)."""
    if not _copy_validator().is_valid(body):
        return False
    if "ttl" not in body:
        return True
    # The pattern read as ECMA-262 does (JSON Schema's dialect): `$` is the end of the
    # string, where Python's `re.search` would also take a final newline.
    seconds = re.fullmatch(r"([0-9]+)s", body["ttl"])
    low, high = _ttl_range(_copy())
    return seconds is not None and low <= int(seconds[1]) <= high


def extract_allows(body: Any) -> bool:
    """What our extract says of ``body`` (the schema part the emulator checks first)."""
    return specs.check("sinch", "send", body) is None


# -- the adapter's requests --------------------------------------------------------------


def _adapter() -> SinchAdapter:
    adapter = get_adapter("sinch", **SINCH_SETTINGS)
    assert isinstance(adapter, SinchAdapter)
    return adapter


RECIPIENTS = {"phone": {}, "bsuid": {}, "contact_id": {"contact_id": "01HCONTACT0000000000ZZ"}}
OPTIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "ttl_min": {"ttl_seconds": TTL_MIN},
    "ttl_max": {"ttl_seconds": TTL_MAX},
    "all": {
        "correlation_id": "c" * 128,
        "message_metadata": "m" * 1024,
        "callback_url": "https://hooks.example.com/sinch",
        "ttl_seconds": 86400,
    },
}
ACTIONS = {
    "navigate": {"screen": "WELCOME"},
    "navigate_data": {"screen": "WELCOME", "data": {"name": "Anna", "n": [1, {"x": None}]}},
    "data_exchange": {"flow_action": "data_exchange"},
}


def _options(recipient: str, options: str) -> dict[str, Any]:
    fields = {**RECIPIENTS[recipient], **OPTIONS[options]}
    return {"options": (SinchOptions(**fields),)} if fields else {}


def _to(recipient: str) -> str:
    return BSUID if recipient == "bsuid" else PHONE


INTERACTIVE = [
    pytest.param(r, o, a, h, f, m, c, id=f"{r}-{o}-{a}-h{h:d}-f{f:d}-{m}-cta{c}")
    for r, o, a, h, f, m, c in itertools.product(
        RECIPIENTS, OPTIONS, ACTIONS, (False, True), (False, True), ("published", "draft"), (1, 20)
    )
]


@pytest.mark.parametrize(
    ("recipient", "options", "action", "header", "footer", "mode", "cta"), INTERACTIVE
)
def test_every_interactive_send_follows_the_spec(
    recipient: str, options: str, action: str, header: bool, footer: bool, mode: str, cta: int
) -> None:
    msg = FlowMessage(
        to=_to(recipient),
        flow_id="1329458318214917",
        flow_cta="C" * cta,
        flow_token="tok-1",
        body="B" * 1024,
        header="H" * 60 if header else None,
        footer="F" * 60 if footer else None,
        mode=mode,  # type: ignore[arg-type]
        **ACTIONS[action],
        **_options(recipient, options),
    )
    _check_request(json.loads(_adapter().build_send(msg).content))


TEMPLATES = [
    pytest.param(r, o, d, p, i, id=f"{r}-{o}-data{d:d}-params{p}-button{i}")
    for r, o, d, p, i in itertools.product(RECIPIENTS, OPTIONS, (False, True), (0, 2), (0, 2))
]


@pytest.mark.parametrize(("recipient", "options", "data", "params", "index"), TEMPLATES)
def test_every_template_send_follows_the_spec(
    recipient: str, options: str, data: bool, params: int, index: int
) -> None:
    template = TemplateRef(
        name="order_feedback_flow",
        language="sv_SE",
        button_index=index,
        body_parameters=tuple(f"p{i}" for i in range(params)),
    )
    msg = FlowMessage(
        to=_to(recipient),
        template=template,
        flow_token="tok-2",
        data={"order": "ORD-1", "items": 2} if data else None,
        **_options(recipient, options),
    )
    _check_request(json.loads(_adapter().build_send(msg).content))


def _check_request(body: dict[str, Any]) -> None:
    problem = specs.check("sinch", "send", body)
    assert problem is None, problem
    if COPY.is_file():
        errors = [e.message for e in _copy_validator().iter_errors(body)]
        assert errors == [], errors
        assert copy_allows(body)
    # and the emulator, which adds the rules the spec leaves loose, takes it
    resp = _post(body)
    assert resp.status_code == 200, resp.content


@pytest.mark.parametrize("seconds", [-1, 0, 1, 2, TTL_MAX + 1, 10**15])
def test_ttl_outside_sinch_range_is_refused_when_the_options_are_made(seconds: int) -> None:
    with pytest.raises(ValidationError) as info:
        SinchOptions(ttl_seconds=seconds)
    [error] = info.value.errors()
    assert (error["type"], error["loc"]) == ("ttl_out_of_range", ("ttl_seconds",))


@pytest.mark.parametrize("seconds", [TTL_MIN, 10, TTL_MAX])
def test_ttl_inside_the_range_is_sent_as_seconds(seconds: int) -> None:
    msg = FlowMessage(
        to=PHONE,
        flow_id="1",
        flow_cta="Go",
        body="b",
        screen="S",
        options=(SinchOptions(ttl_seconds=seconds),),
    )
    assert json.loads(_adapter().build_send(msg).content)["ttl"] == f"{seconds}s"


@needs_copy
def test_the_adapter_range_is_the_spec_range() -> None:
    assert (TTL_MIN, TTL_MAX) == _ttl_range(_copy()) == _ttl_range(specs.extract("sinch"))


@needs_copy
def test_the_adapter_flow_cta_limit_is_the_spec_limit() -> None:
    flow = _copy()["$defs"]["FlowChannelSpecificMessage"]["properties"]["flow_cta"]
    ours = specs.extract("sinch")["$defs"]["FlowChannelSpecificMessage"]["properties"]["flow_cta"]
    assert SinchAdapter.flow_cta_max == flow["maxLength"] == ours["maxLength"] == 20


# -- the emulator, against the spec -------------------------------------------------------


def _emulator() -> Emulator:
    return Emulator({"sinch": SINCH_SETTINGS})


def _post(body: Any, emulator: Emulator | None = None) -> HttpResponse:
    emu = emulator or _emulator()
    return emu.respond(KIT.wire_request("http://emu/sinch", SINCH_SETTINGS, body))


FIELDS = {
    "flow_id": "1",
    "flow_cta": "Open",
    "flow_token": "T",
    "body": "Hi",
    "screen": "S",
    "header": "Head",
    "footer": "Foot",
    "data": {"k": "v"},
}


def _flow_body() -> dict[str, Any]:
    """A Flow send written from Sinch's docs by the kit, not by the adapter."""
    body: dict[str, Any] = KIT.flow_body(SINCH_SETTINGS, PHONE, FIELDS)
    return body


def _template_body() -> dict[str, Any]:
    body = _flow_body()
    whatsapp = {
        "template_id": "order_feedback_flow",
        "language_code": "en_US",
        "parameters": {"button[0]flow[1]flow_token": "T"},
    }
    body["message"] = {"template_message": {"channel_template": {"WHATSAPP": whatsapp}}}
    return body


def _flow(body: dict[str, Any]) -> dict[str, Any]:
    flow: dict[str, Any] = body["message"]["channel_specific_message"]["WHATSAPP"]["message"]
    return flow


def _set(**top: Any) -> Any:
    return lambda b: b.update(top)


def _flow_set(**fields: Any) -> Any:
    return lambda b: _flow(b).update(fields)


def _wa_template(b: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = b["message"]["template_message"]["channel_template"]["WHATSAPP"]
    return template


# (name, base, mutation, the spec accepts it); each bullet of issue 16 for Sinch first.
SPEC_CASES: list[tuple[str, str, Any, bool]] = [
    # Sinch `ttl`: "<n>s", n from 3 to 315,576,000,000
    ("ttl_2s", "flow", _set(ttl="2s"), False),
    ("ttl_1s", "flow", _set(ttl="1s"), False),
    ("ttl_0s", "flow", _set(ttl="0s"), False),
    ("ttl_3s", "flow", _set(ttl="3s"), True),
    ("ttl_86400s", "flow", _set(ttl="86400s"), True),
    ("ttl_max", "flow", _set(ttl=f"{TTL_MAX}s"), True),
    ("ttl_above_max", "flow", _set(ttl=f"{TTL_MAX + 1}s"), False),
    ("ttl_no_suffix", "flow", _set(ttl="10"), False),
    ("ttl_minutes", "flow", _set(ttl="10m"), False),
    ("ttl_fraction", "flow", _set(ttl="10.5s"), False),
    ("ttl_negative", "flow", _set(ttl="-10s"), False),
    ("ttl_number", "flow", _set(ttl=10), False),
    ("ttl_newline", "flow", _set(ttl="10s\n"), False),
    # a text_message beside the Flows channel_specific_message
    ("text_beside_flow", "flow", lambda b: b["message"].update(text_message={"text": "Hi"}), True),
    ("text_without_text", "flow", lambda b: b["message"].update(text_message={}), False),
    # channel_priority_order
    ("channel_priority_order", "flow", _set(channel_priority_order=["WHATSAPP"]), True),
    ("channel_priority_order_string", "flow", _set(channel_priority_order="WHATSAPP"), False),
    # template version
    ("template_version", "template", lambda b: _wa_template(b).update(version="2"), True),
    ("template_version_number", "template", lambda b: _wa_template(b).update(version=2), False),
    ("template_no_language", "template", lambda b: _wa_template(b).pop("language_code"), False),
    ("template_no_parameters", "template", lambda b: _wa_template(b).pop("parameters"), True),
    (
        "template_parameter_object",
        "template",
        lambda b: _wa_template(b)["parameters"].update(x={"a": 1}),
        False,
    ),
    (
        "template_beside_flow",
        "flow",
        lambda b: b["message"].update(_template_body()["message"]),
        True,
    ),
    # flow_cta: 20 characters (the adapter's flow_cta_max)
    ("flow_cta_20", "flow", _flow_set(flow_cta="x" * 20), True),
    ("flow_cta_21", "flow", _flow_set(flow_cta="x" * 21), False),
    ("flow_cta_25", "flow", _flow_set(flow_cta="x" * 25), False),
    # other documented fields our adapter sends, or may
    ("correlation_id_128", "flow", _set(correlation_id="c" * 128), True),
    ("correlation_id_129", "flow", _set(correlation_id="c" * 129), False),
    ("message_metadata_1024", "flow", _set(message_metadata="m" * 1024), True),
    ("message_metadata_1025", "flow", _set(message_metadata="m" * 1025), False),
    ("callback_url", "flow", _set(callback_url="https://hooks.example.com/s"), True),
    ("queue", "flow", _set(queue="HIGH_PRIORITY"), True),
    ("processing_strategy", "flow", _set(processing_strategy="DISPATCH_ONLY"), True),
    ("message_content_type", "flow", _set(message_content_type="CONTENT_MARKETING"), True),
    ("message_content_type_bad", "flow", _set(message_content_type="MARKETING"), False),
    ("channel_properties", "flow", _set(channel_properties={"SMS_SENDER": "x"}), True),
    ("channel_properties_1025", "flow", _set(channel_properties={"SMS_SENDER": "x" * 1025}), False),
    ("conversation_metadata", "flow", _set(conversation_metadata={"k": "v"}), True),
    ("contact_id", "flow", _set(recipient={"contact_id": "01HCONTACT"}), True),
    (
        "both_recipients",
        "flow",
        lambda b: b["recipient"].update(contact_id="01HCONTACT"),
        False,
    ),
    ("no_identities", "flow", _set(recipient={"identified_by": {"channel_identities": []}}), False),
    ("unknown_top_key", "flow", _set(priority="HIGH"), False),
    ("no_app_id", "flow", lambda b: b.pop("app_id"), False),
    ("no_message_kind", "flow", _set(message={}), False),
    (
        "two_omni_kinds",
        "template",
        lambda b: b["message"].update(text_message={"text": "Hi"}),
        False,
    ),
    ("text_alone", "flow", _set(message={"text_message": {"text": "Hi"}}), True),
    (
        "image_header",
        "flow",
        _flow_set(header={"type": "image", "image": {"link": "https://x.example/a.png"}}),
        True,
    ),
    ("header_without_text", "flow", _flow_set(header={"type": "text"}), False),
    ("body_1024", "flow", _flow_set(body={"text": "b" * 1024}), True),
    ("body_1025", "flow", _flow_set(body={"text": "b" * 1025}), False),
    ("footer_60", "flow", _flow_set(footer={"text": "f" * 60}), True),
    ("footer_61", "flow", _flow_set(footer={"text": "f" * 61}), False),
    ("flow_mode_upper", "flow", _flow_set(flow_mode="DRAFT"), False),
    ("flow_action_bad", "flow", _flow_set(flow_action="open"), False),
    ("no_flow_id", "flow", lambda b: _flow(b).pop("flow_id"), False),
    ("flow_misspelled_key", "flow", _flow_set(flow_mod="draft"), False),
    (
        "message_type_bad",
        "flow",
        lambda b: b["message"]["channel_specific_message"]["WHATSAPP"].update(message_type="FLOW"),
        False,
    ),
]


def _hyphenated_template(body: dict[str, Any]) -> None:
    body["message"] = _template_body()["message"]
    _wa_template(body)["language_code"] = "en-US"  # Sinch's template page: en_US


# Spec-valid bodies that the emulator refuses by a hand rule, each named in the simulator
# next to a comment saying the spec is silent.
HAND_RULES: dict[str, Any] = {
    "channel_priority_order_sms": (_set(channel_priority_order=["WHATSAPP", "SMS"]), "SMS"),
    "sms_identity": (
        lambda b: b["recipient"]["identified_by"]["channel_identities"][0].update(channel="SMS"),
        "is not configured",
    ),
    "identity_not_a_number": (
        lambda b: b["recipient"]["identified_by"]["channel_identities"][0].update(identity="bob"),
        "phone number or a BSUID",
    ),
    "data_exchange_with_payload": (_flow_set(flow_action="data_exchange"), "data_exchange"),
    "empty_data": (lambda b: _flow(b)["flow_action_payload"].update(data={}), "non-empty"),
    "empty_cta": (_flow_set(flow_cta=" "), "flow_cta: must not be empty"),
    "header_61": (_flow_set(header={"type": "text", "text": "h" * 61}), "at most 60"),
    "language_with_hyphen": (_hyphenated_template, "language code"),
    "text_alone": (_set(message={"text_message": {"text": "Hi"}}), "simulates WhatsApp FLOWS"),
}


def _body(base: str, mutate: Any) -> dict[str, Any]:
    body = _flow_body() if base == "flow" else _template_body()
    mutate(body)
    return body


@pytest.mark.parametrize(
    ("name", "base", "mutate", "allowed"), [pytest.param(*c, id=c[0]) for c in SPEC_CASES]
)
def test_the_emulator_agrees_with_the_spec(
    name: str, base: str, mutate: Any, allowed: bool
) -> None:
    body = _body(base, mutate)
    if COPY.is_file():
        assert copy_allows(body) is allowed, "the case misreads the copy of the spec"
    emu = _emulator()
    resp = _post(body, emu)
    if name in HAND_RULES:  # spec-valid, refused by a rule the spec leaves loose
        allowed = False
    if allowed:
        assert resp.status_code == 200, resp.content
        [sent] = emu.sent("sinch")
        assert isinstance(sent, Sent)
        assert sent.body == body
    else:
        assert resp.status_code == 400, resp.content
        error = resp.json()["error"]
        assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
        assert error["message"].startswith("Invalid argument: ")
        assert emu.sent("sinch") == []


@pytest.mark.parametrize(("name", "rule"), list(HAND_RULES.items()), ids=list(HAND_RULES))
def test_rules_the_spec_leaves_loose(name: str, rule: tuple[Any, str]) -> None:
    mutate, fragment = rule
    body = _body("flow", mutate)
    assert extract_allows(body)  # the spec takes it: only the hand rule refuses it
    if COPY.is_file():
        assert copy_allows(body)
    resp = _post(body)
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert fragment in resp.json()["error"]["message"]


def test_a_flow_beside_a_text_is_delivered_as_the_flow() -> None:
    body = _flow_body()
    body["message"]["text_message"] = {"text": "Open the form in WhatsApp"}
    emu = _emulator()
    assert _post(body, emu).status_code == 200
    [sent] = emu.sent("sinch")
    assert (sent.kind, sent.flow_token) == ("interactive", "T")


def test_the_ttl_error_names_the_field() -> None:
    body = _flow_body()
    body["ttl"] = "2s"
    message = _post(body).json()["error"]["message"]
    assert message == f"Invalid argument: ttl: must be {TTL_MIN}s to {TTL_MAX}s"


KINDS = (
    "card_message",
    "carousel_message",
    "choice_message",
    "location_message",
    "media_message",
    "template_message",
    "text_message",
    "list_message",
    "contact_info_message",
    "channel_specific_message",
)


@needs_copy
@pytest.mark.parametrize("size", range(len(KINDS) + 1))
def test_our_app_message_rule_is_the_copys(size: int) -> None:
    """The extract says "at most one standard kind, csm alongside, and something" as one
    oneOf; the copy as pairwise exclusions plus an anyOf. Same verdict on every subset."""
    ours = Draft202012Validator(
        {"$defs": specs.extract("sinch")["$defs"], "$ref": "#/$defs/AppMessage"}
    )
    theirs = Draft202012Validator({**_copy(), "$ref": "#/$defs/AppMessage"})
    for kinds in itertools.combinations(KINDS, size):
        message = {k: _minimal(k) for k in kinds}
        assert ours.is_valid(message) == theirs.is_valid(message), kinds


def _minimal(kind: str) -> Any:
    if kind == "text_message":
        return {"text": "t"}
    if kind == "template_message":
        return {"omni_template": {"template_id": "t", "version": "1"}}
    if kind == "channel_specific_message":
        return copy.deepcopy(_flow_body()["message"]["channel_specific_message"])
    return {}
