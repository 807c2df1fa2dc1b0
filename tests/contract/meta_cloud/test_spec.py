"""Meta Cloud API requests, held to Meta's published OpenAPI v23.0 (issue 16).

- Every request the adapter builds (interactive sends, FLOW-button template sends,
  template creations, the public-key upload) validates against the copy of Meta's spec in
  ``../shared/realworld/openapi/meta/`` (with the overrides our extract records, applied
  explicitly by ``spec_copy.PATCHES``) and against our extract
  (``gateway/emulator/specs/meta_cloud.json``). The variants are the full product of the
  options a send can take, parametrized rather than drawn by Hypothesis: the space is
  finite (360 sends, 12 creations), so all of it runs, the same on every run.
- The emulator agrees with the spec: each body of issue 16 (and its neighbours) is posted
  to the in-process emulator and accepted exactly when the spec allows it; the few rules
  the spec leaves loose are listed apart, each with why the emulator still refuses.

Without the copy, the checks against it skip, saying so; the extract checks still run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest

from gateway import FlowMessage
from gateway.emulator import Emulator, specs
from gateway.http import HttpRequest, HttpResponse
from providers import get_adapter
from tests.contract.meta_cloud import spec_copy as sc
from tests.contract.meta_cloud.kit import KIT, META_SETTINGS

ADAPTER = get_adapter("meta_cloud", **META_SETTINGS)
SENDS = [*sc.interactive_messages(), *sc.template_messages()]
TEMPLATES = list(sc.templates())
PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----\n"
GROUP_ID = "Y2FwaV9ncm91cDoxNjUwNTU1MTIzNDoxMjAzNjMw"  # a Groups API id (opaque)
FORM = "application/x-www-form-urlencoded"


def _body(msg: FlowMessage) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(ADAPTER.build_send(msg).content)
    return body


# -- every adapter request follows the spec ---------------------------------------------


@sc.needs_copy
@pytest.mark.parametrize("msg", SENDS, ids=sc.ids(SENDS))
def test_every_send_follows_the_copy(msg: FlowMessage) -> None:
    assert sc.message_errors(_body(msg)) == []


@pytest.mark.parametrize("msg", SENDS, ids=sc.ids(SENDS))
def test_every_send_follows_our_extract(msg: FlowMessage) -> None:
    body = _body(msg)
    assert specs.check("meta_cloud", "message", body) is None
    assert body["recipient_type"] == "individual"  # required by the spec: always sent


@pytest.mark.parametrize("tpl", TEMPLATES, ids=sc.ids(TEMPLATES))
def test_every_template_creation_follows_the_spec(tpl: Any) -> None:
    body = json.loads(ADAPTER.build_create_template(tpl).content)
    assert specs.check("meta_cloud", "template_create", body) is None
    if sc.COPY.is_file():
        assert sc.template_create_errors(body) == []


def test_the_key_upload_follows_the_spec() -> None:
    req = ADAPTER.build_register_public_key(PEM)
    # Meta's spec declares multipart/form-data; its reference's sample request sends
    # x-www-form-urlencoded: we send the latter, which is documented.
    assert req.headers["Content-Type"] == FORM
    fields = dict(parse_qsl(req.content.decode()))
    assert fields == {"business_public_key": PEM}
    assert specs.check("meta_cloud", "public_key", fields) is None
    if sc.COPY.is_file():
        assert sc.public_key_errors(fields) == []


# -- where the copy is wrong against Meta's own example ----------------------------------


@sc.needs_copy
def test_the_copy_refuses_metas_own_flow_template_example_where_we_override_it() -> None:
    example = sc.example("Send Flow Template Message")
    found = sc.message_errors(example, with_overrides=False)
    found += sc.errors("#/components/schemas/TemplateMessage", example, with_overrides=False)
    text = "\n".join(found)
    assert "'policy' is a required property" in text  # language.policy required
    assert "'flow' is not one of ['quick_reply', 'url', 'catalog']" in text  # sub_type
    assert "'0' does not match '^[2-6, 11-14]$'" in text  # the malformed index pattern
    assert "'action' is not one of ['payload', 'text']" in text  # button parameter type
    # With our overrides, one complaint is left: the example omits recipient_type, which
    # the spec requires and issue 16 has the emulator require. Recorded, not overridden.
    left = sc.errors("#/components/schemas/TemplateMessage", example)
    assert left == [": 'recipient_type' is a required property"]
    assert sc.message_errors({**example, "recipient_type": "individual"}) == []


def test_each_patch_of_the_copy_is_an_override_of_the_extract() -> None:
    overrides = {o["at"]: o for o in specs.extract("meta_cloud")["x-overrides"]}
    for at in sc.PATCHES:
        assert at in overrides, f"{at}: patched in the test, not recorded in the extract"
        assert overrides[at]["why"]


# -- the emulator agrees with the spec --------------------------------------------------


def _post(body: Any, provider: str = "meta_cloud") -> HttpResponse:
    from tests.kits import KITS

    emu = Emulator({provider: dict(KITS[provider].settings)})
    kit = KITS[provider]
    return emu.respond(kit.wire_request(f"http://emu/{provider}", kit.settings, body))


def _flow(**params: Any) -> dict[str, Any]:
    msg = FlowMessage(
        to=sc.PHONE, flow_id="784512369874512", flow_cta="Book", body="Pick a time",
        header="Your visit", footer="Thanks", screen="APPOINTMENT", flow_token="tok-1",
    )  # fmt: skip
    body = _body(msg)
    body["interactive"]["action"]["parameters"].update(params)
    return body


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DROP:
            del node[last]
        else:
            node[last] = value

    return mutate


_DROP = object()
IMAGE_ID = {"type": "image", "image": {"id": "1166846181421424"}}
IMAGE_LINK = {"type": "image", "image": {"link": "https://example.com/visit.jpg"}}

SPEC_CASES: list[tuple[str, Callable[[dict[str, Any]], None], bool]] = [
    # issue 16: the emulator accepted what the spec forbids
    ("no recipient_type", _set("recipient_type", _DROP), False),
    # issue 16: the emulator refused what the spec allows
    ("recipient_type group", lambda b: b.update(recipient_type="group", to=GROUP_ID), True),
    (
        "context (a reply)",
        _set("context", {"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI"}),
        True,
    ),
    ("flow_cta of 25", _set("interactive.action.parameters.flow_cta", "x" * 25), True),
    ("image header by id", _set("interactive.header", IMAGE_ID), True),
    ("image header by link", _set("interactive.header", IMAGE_LINK), True),
    # their neighbours
    ("flow_cta of 30", _set("interactive.action.parameters.flow_cta", "x" * 30), True),
    ("flow_cta of 31", _set("interactive.action.parameters.flow_cta", "x" * 31), False),
    ("recipient_type broadcast", _set("recipient_type", "broadcast"), False),
    ("video header", _set("interactive.header", {"type": "video", "video": {"id": "1"}}), True),
    (
        "image by id and link",
        _set("interactive.header.image", {"id": "1", "link": "https://e.x"}),
        False,
    ),
    ("header text of 61", _set("interactive.header.text", "x" * 61), False),
    ("body text of 1025", _set("interactive.body.text", "x" * 1025), False),
    ("footer text of 61", _set("interactive.footer.text", "x" * 61), False),
    (
        "flow_message_version 2",
        _set("interactive.action.parameters.flow_message_version", "2"),
        False,
    ),
    ("flow_id and flow_name", _set("interactive.action.parameters.flow_name", "booking"), False),
    ("no flow_id nor flow_name", _set("interactive.action.parameters.flow_id", _DROP), False),
    ("no flow_cta", _set("interactive.action.parameters.flow_cta", _DROP), False),
    ("mode preview", _set("interactive.action.parameters.mode", "preview"), False),
    ("flow_action reload", _set("interactive.action.parameters.flow_action", "reload"), False),
    ("no action", _set("interactive.action", _DROP), False),
    ("messaging_product missing", _set("messaging_product", _DROP), False),
]


def _template(**change: Any) -> dict[str, Any]:
    template = FlowMessage(
        to=sc.PHONE, flow_token="tok-1", data={"order": "A-1"},
        template={"name": "booking_reminder", "language": "en_US", "body_parameters": ("Ana",)},
    )  # fmt: skip
    body = _body(template)
    body.update(change)
    return body


TEMPLATE_CASES: list[tuple[str, Callable[[dict[str, Any]], None], bool]] = [
    ("language with policy", _set("template.language.policy", "deterministic"), True),
    ("button index 9", _set("template.components.1.index", "9"), True),
    ("button index 10", _set("template.components.1.index", "10"), False),
    ("button index as a number", _set("template.components.1.index", 0), False),
    ("sub_type catalog", _set("template.components.1.sub_type", "catalog"), True),
    ("sub_type FLOW", _set("template.components.1.sub_type", "FLOW"), False),
    ("no language", _set("template.language", _DROP), False),
    ("language policy fallback", _set("template.language.policy", "fallback"), False),
    ("component type footer", _set("template.components.0.type", "footer"), False),
]


def _cases(cases: list[Any]) -> list[Any]:
    return [pytest.param(mutate, allowed, id=name) for name, mutate, allowed in cases]


@pytest.mark.parametrize("provider", ["meta_cloud", "dialog360_cloud"])
@pytest.mark.parametrize(("mutate", "allowed"), _cases(SPEC_CASES))
def test_the_emulator_agrees_with_the_spec_on_flow_messages(
    provider: str, mutate: Callable[[dict[str, Any]], None], allowed: bool
) -> None:
    body = _flow()
    mutate(body)
    if sc.COPY.is_file():
        assert (sc.message_errors(body) == []) is allowed, sc.message_errors(body)
    resp = _post(body, provider)
    assert (resp.status_code == 200) is allowed, resp.content
    if not allowed:
        assert resp.json()["error"]["code"] in (100, 131008, 131009)


@pytest.mark.parametrize("provider", ["meta_cloud", "dialog360_cloud"])
@pytest.mark.parametrize(("mutate", "allowed"), _cases(TEMPLATE_CASES))
def test_the_emulator_agrees_with_the_spec_on_template_sends(
    provider: str, mutate: Callable[[dict[str, Any]], None], allowed: bool
) -> None:
    body = _template()
    mutate(body)
    if sc.COPY.is_file():
        assert (sc.message_errors(body) == []) is allowed, sc.message_errors(body)
    assert (_post(body, provider).status_code == 200) is allowed


def test_a_body_with_neither_to_nor_recipient_is_missing_a_parameter() -> None:
    # The spec requires `to`; our override lets `recipient` (a BSUID) stand in for it, so
    # the extract requires neither and a hand rule requires one (131008, as Meta).
    body = _flow()
    del body["to"]
    if sc.COPY.is_file():
        assert sc.message_errors(body, with_overrides=False) != []
    error = _post(body).json()["error"]
    assert error["code"] == 131008
    assert "`to` or `recipient`" in error["error_data"]["details"]


def test_a_body_without_recipient_type_is_missing_a_parameter() -> None:
    body = _flow()
    del body["recipient_type"]
    error = _post(body).json()["error"]
    assert error["code"] == 131008
    assert "recipient_type: is required" in error["error_data"]["details"]


@sc.needs_copy
@pytest.mark.parametrize("name", sc.FLOW_EXAMPLES)
def test_the_emulator_accepts_metas_own_flow_examples(name: str) -> None:
    example = sc.example(name)
    # The template example omits recipient_type (see above); the others send it.
    example.setdefault("recipient_type", "individual")
    assert sc.message_errors(example) == []
    assert _post(example).status_code == 200


HAND_RULES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    # (what, change, why the emulator refuses what the spec allows)
    ("to is not a phone", _set("to", "hello"), "spec: `to` is a string; Meta: a phone number"),
    ("a BSUID in to", _set("to", sc.BSUID), "Meta since Feb 2026: BSUIDs go in `recipient`"),
    ("recipient not a BSUID", _set("recipient", sc.PHONE), "`recipient` takes BSUIDs only"),
    (
        "empty data",
        _set("interactive.action.parameters.flow_action_payload.data", {}),
        "Meta's reference: data is a non-empty object",
    ),
    (
        "payload with data_exchange",
        _set("interactive.action.parameters.flow_action", "data_exchange"),
        "Meta's reference: flow_action_payload is omitted for data_exchange",
    ),
    (
        "image header without image",
        _set("interactive.header", {"type": "image"}),
        "the header carries the object its type names",
    ),
    (
        "an unknown key",
        _set("interactive.action.parameters.flow_mod", "draft"),
        "the spec leaves parameters open; Meta answers 100 'Unexpected key'",
    ),
]


@pytest.mark.parametrize(("mutate", "why"), [pytest.param(m, w, id=n) for n, m, w in HAND_RULES])
def test_rules_the_spec_leaves_loose_are_kept_by_hand(
    mutate: Callable[[dict[str, Any]], None], why: str
) -> None:
    body = _flow()
    mutate(body)
    if sc.COPY.is_file():  # the copy (with our overrides) lets it through: the rule is ours
        assert sc.message_errors(body) == []
    resp = _post(body)
    assert resp.status_code == 400, why
    assert resp.json()["error"]["code"] in (100, 131008, 131009)


# -- the public key: both encodings Meta documents, and only its field name ------------


def _key_request(content_type: str, content: bytes, provider: str = "meta_cloud") -> HttpRequest:
    if provider == "meta_cloud":
        s = META_SETTINGS
        url = f"http://emu/meta_cloud/{s['api_version']}/{s['phone_number_id']}/whatsapp_business_encryption"
        auth = {"Authorization": f"Bearer {s['access_token']}"}
    else:
        from tests.contract.dialog360_cloud.kit import D360_KEY

        url, auth = (
            "http://emu/dialog360_cloud/whatsapp_business_encryption",
            {"D360-API-KEY": D360_KEY},
        )
    return HttpRequest("POST", url, {**auth, "Content-Type": content_type}, None, content)


def multipart(fields: dict[str, str]) -> tuple[str, bytes]:
    boundary = "emulator-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    ]
    return f"multipart/form-data; boundary={boundary}", (
        "".join(parts) + f"--{boundary}--\r\n"
    ).encode()


def key_bodies(name: str) -> dict[str, tuple[str, bytes]]:
    from urllib.parse import urlencode

    return {
        "form": (FORM, urlencode({name: PEM}).encode()),
        "multipart": multipart({name: PEM}),
        "json": ("application/json", json.dumps({name: PEM}).encode()),
    }


@pytest.mark.parametrize(
    ("encoding", "name", "accepted"),
    [
        ("form", "business_public_key", True),  # Meta's reference sample
        ("multipart", "business_public_key", True),  # Meta's OpenAPI media type
        ("json", "business_public_key", False),  # documented nowhere for this edge
        ("form", "public_key", False),  # the On-Premise name
        ("multipart", "public_key", False),
    ],
)
def test_the_emulator_takes_the_key_as_meta_documents_it(
    encoding: str, name: str, accepted: bool
) -> None:
    emu = Emulator({"meta_cloud": dict(KIT.settings)})
    content_type, content = key_bodies(name)[encoding]
    resp = emu.respond(_key_request(content_type, content))
    assert (resp.status_code == 200) is accepted, resp.content
    assert (emu.sims["meta_cloud"].public_key == PEM) is accepted
