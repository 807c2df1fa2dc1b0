"""1msg.io held to its own published specification (issue 16).

The specification: 1msg's public API 1.0.0, whose request-body schemas 1msg's OpenAPI
contract generates into its MCP tool list (github.com/1msg/1msg-mcp
src/tools.generated.ts @4a005cac). The copy read here is
``../shared/realworld/openapi/onemsg/1msg-public-api_1.0.0.extracted.json`` (its sources:
``openapi/SOURCES.md``); our extract is ``gateway/emulator/specs/onemsg.json``.

a. Every request the adapter builds (sendFlow, sendTemplate, addTemplate) validates against
   the copy, against our extract, and passes the emulator's whole check (extract + hand
   rules). The variants are the full product of the options that change a body's shape
   (recipient kind, header, footer, data, flow action, mode, token, body parameters,
   button index, BSUID addressing), not a random sample: each is cheap and a missed
   combination is exactly where a wire name or a type slips.
b. The emulator agrees with the specification: the bodies the issue names, posted raw to
   the in-process emulator, are accepted when the spec allows them and refused when it
   forbids them; the spec-copy verdict is checked beside each, so the test states the
   spec's rule and not our reading of it. Hand rules (where the spec is silent) have
   their own cases, each saying why.

The public key (``setWhatsappBusinessEncryption``, ``public_key`` capability) is built,
checked against the copy and our extract, and stored by the emulator. The Flows and
templates management calls are not in the copy: tests/contract/onemsg/test_manage.py.
"""

from __future__ import annotations

import copy
import itertools
import json
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gateway import FlowMessage, FlowTemplate, UnsupportedFeature
from gateway.emulator import Emulator, specs
from gateway.emulator.sims.onemsg import FLOW_CTA_MAX, check_request
from gateway.http import HttpRequest
from gateway.model import TemplateButton, TemplateMedia, TemplateRef
from providers import get_adapter
from providers.base import PUBLIC_KEY
from tests.contract.onemsg.kit import KIT, NAMESPACE
from tests.realworld import realworld

EXTRACT = specs.extract("onemsg")
COPY = realworld("openapi") / EXTRACT["x-spec"]["copy"]
needs_copy = pytest.mark.skipif(
    not COPY.is_file(), reason=f"1msg's specification copy is absent ({COPY})"
)
OPERATIONS = {
    "sendFlow": "send_flow",
    "sendTemplate": "send_template",
    "addTemplate": "add_template",
    "whatsapp_business_encryption": "public_key",
}
COPY_NAMES = {"whatsapp_business_encryption": "setWhatsappBusinessEncryption"}
PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n"
BSUID = "US.13491208655302741918"


@cache
def _copy_validator(method: str) -> Draft202012Validator:
    """The copy's request schema for ``method``, with the extract's overrides applied
    explicitly: ``bsuid`` is 1msg's own client's recipient field (x-overrides)."""
    doc = json.loads(COPY.read_text(encoding="utf-8"))
    schema = copy.deepcopy(doc["operations"][COPY_NAMES.get(method, method)]["schema"])
    for override in EXTRACT["x-overrides"]:
        _, _, where = override["at"].partition("#/$defs/")
        definition, _, prop = where.partition("/properties/")
        if EXTRACT["x-operations"][OPERATIONS[method]] == f"#/$defs/{definition}":
            schema["properties"][prop] = override["ours"]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _copy_errors(method: str, body: Any) -> list[str]:
    return [e.message for e in _copy_validator(method).iter_errors(body)]


def _method(request: HttpRequest) -> str:
    return request.url.split("?")[0].rsplit("/", 1)[1]


# -- a. every adapter request follows the spec ------------------------------------------


def _adapter(bsuid_address: str = "chat_id") -> Any:
    return get_adapter("onemsg", **KIT.settings, bsuid_address=bsuid_address)


def _interactive() -> list[tuple[str, FlowMessage]]:
    cases = []
    product = itertools.product(
        ("chat_id", "bsuid"),  # bsuid_address
        ("+12020721369", "5511987654321", BSUID),  # to: phone with/without "+", a BSUID
        (None, "Course sign-up"),  # header
        (None, "Takes under a minute"),  # footer
        ("navigate", "data_exchange"),
        (None, {"fname": "Anna", "age": "30"}),  # data (navigate only)
        ("published", "draft"),
        (None, "flow_demo_00001"),  # flow_token
        ("Open", "x" * FLOW_CTA_MAX),  # flow_cta, up to the limit
    )
    for address, to, header, footer, action, data, mode, token, cta in product:
        if action == "data_exchange" and data is not None:
            continue  # refused by FlowMessage itself
        msg = FlowMessage(
            to=to, flow_id="1329458318214917", flow_cta=cta, body="Please fill the form",
            header=header, footer=footer, flow_action=action, mode=mode, flow_token=token,
            screen="WELCOME" if action == "navigate" else None, data=data,
        )  # fmt: skip
        cases.append((address, msg))
    return cases


def _templates() -> list[tuple[str, FlowMessage]]:
    cases = []
    product = itertools.product(
        ("chat_id", "bsuid"),
        ("+12020721369", "447700900123", BSUID),
        ((), ("Maria", "ORD-20931"), {"first_name": "Maria"}),  # body parameters
        (0, 1, 9),  # button index
        (None, "order-feedback-ORD-20931"),
        (None, {"fname": "Anna", "lname": "Stakina", "age": "30"}),
    )
    for address, to, params, index, token, data in product:
        ref = TemplateRef(name="signup_flow", language="pt_BR", button_index=index,
                          body_parameters=params)  # fmt: skip
        cases.append((address, FlowMessage(to=to, template=ref, flow_token=token, data=data)))
    others = (  # the other components beside the FLOW button (index 0)
        {"header_parameters": ("Anna",)},
        {"header_media": TemplateMedia(kind="image", link="https://example.com/a.png")},
        {"header_media": TemplateMedia(kind="document", id="101", filename="a.pdf")},
        {"buttons": (TemplateButton(index=1, kind="quick_reply", value="stop"),
                     TemplateButton(index=2, kind="url", value="x/1"),
                     TemplateButton(index=3, kind="copy_code", value="SAVE25"))},
    )  # fmt: skip
    for extra in others:
        ref = TemplateRef(name="signup_flow", language="en_US", **extra)
        cases.append(("chat_id", FlowMessage(to="+12020721369", template=ref)))
    return cases


def _created() -> list[FlowTemplate]:
    flows = ({"flow_id": "1329458318214917"}, {"flow_name": "signup"}, {"flow_json": "{}"})
    product = itertools.product(
        ("MARKETING", "UTILITY"),
        flows,
        ("navigate", "data_exchange"),
        (None, "Your insurance quote"),  # header
        (None, "Reply STOP to opt out"),  # footer
        ((), ("Anna",)),  # body examples
    )
    created = []
    for category, flow, action, header, footer, examples in product:
        created.append(FlowTemplate(
            name="signup_flow", language="en_US", category=category,
            body="Sign up {{1}}" if examples else "Sign up", body_examples=examples,
            button_text="Sign up", flow_action=action, header=header, footer=footer,
            navigate_screen="WELCOME" if action == "navigate" else None, **flow,
        ))  # fmt: skip
    return created


def _requests() -> list[HttpRequest]:
    built = [_adapter(a).build_send(m) for a, m in [*_interactive(), *_templates()]]
    adapter = _adapter()
    if "template_create" in adapter.capabilities:
        built += [adapter.build_create_template(t) for t in _created()]
    if PUBLIC_KEY in adapter.capabilities:
        built.append(adapter.build_register_public_key(PEM))
    return built


REQUESTS = _requests()


def test_the_variants_cover_every_operation_and_recipient() -> None:
    bodies = [(_method(r), json.loads(r.content)) for r in REQUESTS]
    assert {m for m, _ in bodies} == set(OPERATIONS)
    for key in ("phone", "chatId", "bsuid"):
        assert {m for m, b in bodies if key in b} == {"sendFlow", "sendTemplate"}
    types = {p["type"] for m, b in bodies if m == "sendTemplate" for p in b["params"]}
    assert types == {"header", "body", "button"}
    # the spec's types: sendFlow's phone an integer, sendTemplate's a string
    assert {type(b["phone"]) for m, b in bodies if m == "sendFlow" and "phone" in b} == {int}
    assert {type(b["phone"]) for m, b in bodies if m == "sendTemplate" and "phone" in b} == {str}
    assert PUBLIC_KEY in _adapter().capabilities  # so setWhatsappBusinessEncryption
    # sendFlow has flowId only: a send by flow_name is refused before any request
    with pytest.raises(UnsupportedFeature):
        _adapter().build_send(
            FlowMessage(to="+12020721369", flow_name="signup", flow_cta="Open", body="Hi",
                        screen="WELCOME")
        )  # fmt: skip


def test_every_adapter_request_follows_our_extract_and_the_emulator() -> None:
    for request in REQUESTS:
        method, body = _method(request), json.loads(request.content)
        assert specs.check("onemsg", OPERATIONS[method], body) is None, body
        if method in COPY_NAMES:  # not a send: the emulator stores it (test below)
            continue
        checked = check_request(method, request.content)
        assert checked == body, checked


@needs_copy
def test_every_adapter_request_follows_the_specification_copy() -> None:
    for request in REQUESTS:
        method = _method(request)
        body = json.loads(request.content)
        assert _copy_errors(method, body) == [], (method, body)


# -- b. the emulator agrees with the specification -----------------------------------


FLOW: dict[str, Any] = {
    "phone": 12020721369,
    "body": "Please fill the form",
    "flowId": "1329458318214917",
    "flowToken": "flow_demo_00001",
    "flowCta": "Open form",
    "flowAction": "navigate",
    "flowActionPayload": {"screen": "WELCOME"},
    "mode": "published",
    "flowMessageVersion": "3",
}
TEMPLATE: dict[str, Any] = {
    "phone": "12020721369",
    "template": "signup_flow",
    "namespace": NAMESPACE,
    "language": {"policy": "deterministic", "code": "en"},
    "params": [
        {
            "type": "button",
            "sub_type": "flow",
            "index": "0",
            "parameters": [{"type": "action", "action": {"flow_token": "flow_demo_00001"}}],
        }
    ],
}
ADD_TEMPLATE: dict[str, Any] = {
    "name": "signup_flow",
    "category": "MARKETING",
    "language": "en",
    "components": [
        {"type": "body", "text": "Sign up"},
        {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Sign up", "flow_id": "1"}]},
    ],
}
BASES = {"sendFlow": FLOW, "sendTemplate": TEMPLATE, "addTemplate": ADD_TEMPLATE}


def _body(method: str, drop: tuple[str, ...] = (), **change: Any) -> dict[str, Any]:
    body = {k: v for k, v in copy.deepcopy(BASES[method]).items() if k not in drop}
    return body | change


def _post(emulator: Emulator, method: str, body: dict[str, Any]) -> tuple[int, Any]:
    account = KIT.settings
    request = KIT.wire_request("http://emu/onemsg", account, body, method=method)
    response = emulator.respond(request)
    return response.status_code, response.json()


# (case, method, body): what 1msg's spec allows
SPEC_ALLOWS = [
    ("sendFlow, phone as the spec's integer", "sendFlow", _body("sendFlow")),
    ("sendTemplate, phone as the spec's string", "sendTemplate", _body("sendTemplate")),
    ("addTemplate", "addTemplate", _body("addTemplate")),
    ("sendFlow, header as a text header object", "sendFlow",
     _body("sendFlow", header={"type": "text", "text": "Course sign-up"})),
    ("sendFlow, header as a string", "sendFlow", _body("sendFlow", header="Course sign-up")),
    ("sendFlow, chatId of a username @lid", "sendFlow",
     _body("sendFlow", ("phone",), chatId="pablo.m@lid")),
    ("sendFlow, chatId of a BSUID @lid", "sendFlow",
     _body("sendFlow", ("phone",), chatId=f"{BSUID}@lid")),
    ("sendTemplate, chatId of a username @lid", "sendTemplate",
     _body("sendTemplate", ("phone",), chatId="pablo.m@lid")),
    ("sendTemplate, chatId of a phone", "sendTemplate",
     _body("sendTemplate", ("phone",), chatId="12020721369@c.us")),
    ("sendTemplate, quotedMsgId", "sendTemplate",
     _body("sendTemplate", quotedMsgId="wamid.HBgNMTIwMjA3MjEzNjkVAgARGBI5RTBCNUY0QUE2")),
    ("sendFlow, quotedMsgId", "sendFlow", _body("sendFlow", quotedMsgId="wamid.HBgLMTIzNDU2Nzg5")),
    ("sendTemplate, the MM Lite options by their wire names", "sendTemplate",
     _body("sendTemplate", useMMlite=True, messageActivitySharing=True,
           messageSendTtlSeconds=43200)),
    ("sendFlow, a 25-character flowCta", "sendFlow", _body("sendFlow", flowCta="x" * 25)),
    ("sendFlow, the flowActionScreen/flowActionData shortcuts", "sendFlow",
     _body("sendFlow", ("flowActionPayload",), flowActionScreen="WELCOME",
           flowActionData={"fname": "Anna"})),
    ("sendFlow, data_exchange (the payload is ignored there)", "sendFlow",
     _body("sendFlow", flowAction="data_exchange")),
    ("sendFlow, the provider's defaults (no flowAction, mode, version)", "sendFlow",
     _body("sendFlow", ("flowAction", "mode", "flowMessageVersion"))),
    ("sendTemplate, a flow button index as 1msg's own example writes it (integer)",
     "sendTemplate", _body("sendTemplate", params=[{"type": "button", "sub_type": "flow",
                                                    "index": 0}])),
    ("sendTemplate, other components pass through", "sendTemplate",
     _body("sendTemplate", params=[{"type": "header", "parameters": [
         {"type": "image", "image": {"link": "https://example.com/a.jpg"}}]}])),
]  # fmt: skip

# (case, method, body, field named in the answer): what 1msg's spec forbids
SPEC_FORBIDS = [
    ("sendFlow, phone as a string", "sendFlow", _body("sendFlow", phone="12020721369"), "phone"),
    ("sendTemplate, phone as an integer", "sendTemplate",
     _body("sendTemplate", phone=12020721369), "phone"),
    ("sendTemplate, use_mMlite (an SDK attribute name)", "sendTemplate",
     _body("sendTemplate", use_mMlite=True), "use_mMlite"),
    ("sendTemplate, message_activity_sharing (an SDK attribute name)", "sendTemplate",
     _body("sendTemplate", message_activity_sharing=True), "message_activity_sharing"),
    ("sendTemplate, message_send_ttl_seconds (an SDK attribute name)", "sendTemplate",
     _body("sendTemplate", message_send_ttl_seconds=43200), "message_send_ttl_seconds"),
    ("sendTemplate, messageSendTtlSeconds as a string", "sendTemplate",
     _body("sendTemplate", messageSendTtlSeconds="43200"), "messageSendTtlSeconds"),
    ("sendTemplate, params as strings", "sendTemplate",
     _body("sendTemplate", params=["Ivan"]), "params"),
    ("sendFlow, no flowCta", "sendFlow", _body("sendFlow", ("flowCta",)), "flowCta"),
    ("sendFlow, flowAction outside the enum", "sendFlow",
     _body("sendFlow", flowAction="open"), "flowAction"),
    ("sendFlow, mode outside the enum", "sendFlow", _body("sendFlow", mode="live"), "mode"),
    ("sendFlow, a Meta key instead of 1msg's", "sendFlow",
     _body("sendFlow", flow_cta="Open"), "flow_cta"),
    ("sendFlow, header as a number", "sendFlow", _body("sendFlow", header=7), "header"),
    ("addTemplate, an unknown key", "addTemplate",
     _body("addTemplate", allow_category_change=True), "allow_category_change"),
]  # fmt: skip

# (case, method, body, field): the spec is silent; the emulator still refuses, and why
HAND_RULES = [
    # 1msg relays to Meta's Cloud API; the adapter's flow_cta_max (unconfirmed for 1msg)
    ("sendFlow, flowCta over 30", "sendFlow",
     _body("sendFlow", flowCta="x" * (FLOW_CTA_MAX + 1)), "flowCta"),
    # "Use phone or chatId": exactly one recipient, though the spec has no oneOf
    ("sendFlow, no recipient", "sendFlow", _body("sendFlow", ("phone",)), "phone"),
    ("sendTemplate, two recipients", "sendTemplate",
     _body("sendTemplate", chatId="12020721369@c.us"), "chatId"),
    # 1msg's own client: 6 to 15 digits; its chat ids end in one of five domains
    ("sendFlow, a phone too short", "sendFlow", _body("sendFlow", phone=123), "phone"),
    ("sendTemplate, a chatId of no 1msg domain", "sendTemplate",
     _body("sendTemplate", ("phone",), chatId="pablo@example.com"), "chatId"),
    # the spec's own words: "screen is required" to navigate, "data ... non-empty"
    ("sendFlow, navigate without a screen", "sendFlow",
     _body("sendFlow", ("flowActionPayload",)), "flowActionPayload.screen"),
    ("sendFlow, empty data", "sendFlow",
     _body("sendFlow", flowActionPayload={"screen": "WELCOME", "data": {}}),
     "flowActionPayload.data"),
    # "string or text header object": Meta's text header
    ("sendFlow, an image header object", "sendFlow",
     _body("sendFlow", header={"type": "image", "image": {"link": "x"}}), "header"),
    # Meta's only flow_message_version
    ("sendFlow, version 2", "sendFlow", _body("sendFlow", flowMessageVersion="2"),
     "flowMessageVersion"),
    # the spec: language policy "Must be `deterministic`"
    ("sendTemplate, a fallback policy", "sendTemplate",
     _body("sendTemplate", language={"policy": "fallback", "code": "en"}),
     "language.policy"),
    # required of sendOrderDetails, sendTemplate's wrapper, in the same spec
    ("sendTemplate, no namespace", "sendTemplate", _body("sendTemplate", ("namespace",)),
     "namespace"),
    # Meta's flow button action keys (1msg's "Sending WhatsApp Flow" page)
    ("sendTemplate, a flow button with empty data", "sendTemplate",
     _body("sendTemplate", params=[{"type": "button", "sub_type": "flow", "index": "0",
            "parameters": [{"type": "action", "action": {"flow_action_data": {}}}]}]),
     "params.0.parameters.0.action.flow_action_data"),
    # addTemplate goes on to Meta's message_templates, which requires these
    ("addTemplate, no components", "addTemplate", _body("addTemplate", ("components",)),
     "components"),
    ("addTemplate, a FLOW button naming no Flow", "addTemplate",
     _body("addTemplate", components=[{"type": "BUTTONS", "buttons": [
         {"type": "FLOW", "text": "Sign up"}]}]), "components"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "method", "body"), SPEC_ALLOWS, ids=[c[0] for c in SPEC_ALLOWS])
def test_the_emulator_accepts_what_the_spec_allows(case: str, method: str, body: Any) -> None:
    emulator = Emulator({"onemsg": dict(KIT.settings)})
    status, answer = _post(emulator, method, body)
    assert status == 200, answer
    if method != "addTemplate":
        assert answer["sent"] is True
        [sent] = emulator.sent()
        assert sent.body == body


@needs_copy
@pytest.mark.parametrize(("case", "method", "body"), SPEC_ALLOWS, ids=[c[0] for c in SPEC_ALLOWS])
def test_the_spec_copy_allows_them(case: str, method: str, body: Any) -> None:
    assert _copy_errors(method, body) == []


@pytest.mark.parametrize(
    ("case", "method", "body", "field"), SPEC_FORBIDS, ids=[c[0] for c in SPEC_FORBIDS]
)
def test_the_emulator_refuses_what_the_spec_forbids(
    case: str, method: str, body: Any, field: str
) -> None:
    emulator = Emulator({"onemsg": dict(KIT.settings)})
    status, answer = _post(emulator, method, body)
    assert status == 400
    assert answer["error"].startswith(f"Validation failed: {field}"), answer
    assert emulator.sent() == []


@needs_copy
@pytest.mark.parametrize(
    ("case", "method", "body", "field"), SPEC_FORBIDS, ids=[c[0] for c in SPEC_FORBIDS]
)
def test_the_spec_copy_forbids_them(case: str, method: str, body: Any, field: str) -> None:
    assert _copy_errors(method, body) != []


@pytest.mark.parametrize(
    ("case", "method", "body", "field"), HAND_RULES, ids=[c[0] for c in HAND_RULES]
)
def test_hand_rules_where_the_spec_is_silent(case: str, method: str, body: Any, field: str) -> None:
    if COPY.is_file():  # the spec lets them through: only our hand rules refuse them
        assert _copy_errors(method, body) == []
    assert specs.check("onemsg", OPERATIONS[method], body) is None
    emulator = Emulator({"onemsg": dict(KIT.settings)})
    status, answer = _post(emulator, method, body)
    assert status == 400
    assert answer["error"].startswith(f"Validation failed: {field}"), answer
    assert emulator.sent() == []


def test_the_emulator_stores_the_public_key_the_spec_allows() -> None:
    """setWhatsappBusinessEncryption: ``business_public_key`` (required, the spec's only
    key); a text that is no PEM key is 1msg's documented 400 "Missing or invalid PEM key"."""
    emulator = Emulator({"onemsg": dict(KIT.settings)})
    adapter = get_adapter("onemsg", **KIT.settings, base_url="http://emu/onemsg")
    assert emulator.respond(adapter.build_register_public_key(PEM)).json() == {"success": True}
    assert emulator.sims["onemsg"].public_key == PEM
    for body, status in (
        ({"business_public_key": "not a key"}, 400),
        ({"public_key": PEM}, 400),  # the On-Premise name: not 1msg's
        ({}, 400),
    ):
        if COPY.is_file() and "business_public_key" not in body:
            assert _copy_errors("whatsapp_business_encryption", body) != []
        sent = KIT.wire_request(
            "http://emu/onemsg", KIT.settings, body, method="whatsapp_business_encryption"
        )
        assert emulator.respond(sent).status_code == status, body
    assert emulator.sims["onemsg"].public_key == PEM
