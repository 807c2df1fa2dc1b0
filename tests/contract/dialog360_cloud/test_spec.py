"""360dialog Cloud requests, held to 360dialog's OpenAPI fragments and Meta's spec (issue 16).

360dialog's docs embed parts of its OpenAPI 3.1 "Messaging API" (1.44.0): the envelope of
``POST /messages`` (required messaging_product, recipient_type ∈ {individual, group}, to,
type) and ``GET/POST /whatsapp_business_encryption``. The payload itself follows Meta's
Cloud API (360dialog's waba-integration page), so each body is held to both: 360dialog's
fragments (``specs/dialog360_cloud.json``) and Meta's v23.0 spec (``specs/meta_cloud.json``,
see ``tests/contract/meta_cloud/spec_copy.py``). The same full product of options as for
Meta is used (parametrized: a small finite space, all of it runs).

The emulator's agreement with the spec on message bodies runs in
``tests/contract/meta_cloud/test_spec.py`` for both providers (the same bodies); here:
360dialog's envelope and its public-key upload.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

import pytest
from jsonschema import Draft202012Validator

from gateway import FlowMessage
from gateway.emulator import Emulator, specs
from providers import get_adapter
from tests.contract.dialog360_cloud.kit import KIT
from tests.contract.meta_cloud import spec_copy as sc
from tests.contract.meta_cloud.test_spec import PEM, _flow, _key_request, _post, key_bodies
from tests.realworld import realworld

FRAGMENTS = realworld("openapi/dialog360/messaging-api_1.44.0.fragments.json")
needs_fragments = pytest.mark.skipif(
    not FRAGMENTS.is_file(), reason=f"the copy of 360dialog's fragments is absent ({FRAGMENTS})"
)
ADAPTER = get_adapter("dialog360_cloud", **KIT.settings)
SENDS = [*sc.interactive_messages(), *sc.template_messages()]
TEMPLATES = list(sc.templates())


@cache
def _fragments() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(FRAGMENTS.read_text(encoding="utf-8"))
    return doc


@cache
def _envelope() -> Draft202012Validator:
    """360dialog's visible Message schema, with the one override our extract records:
    `recipient` (a BSUID, Meta 2026) may stand in for the required `to`."""
    schema = json.loads(
        json.dumps(_fragments()["components"]["schemas"]["messages.Message.visible"])
    )
    assert "#/$defs/Message/required" in {
        o["at"] for o in specs.extract("dialog360_cloud")["x-overrides"]
    }
    schema["required"] = [r for r in schema["required"] if r != "to"]
    schema["anyOf"] = [{"required": ["to"]}, {"required": ["recipient"]}]
    return Draft202012Validator(schema)


def _body(msg: FlowMessage) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(ADAPTER.build_send(msg).content)
    return body


@needs_fragments
@pytest.mark.parametrize("msg", SENDS, ids=sc.ids(SENDS))
def test_every_send_follows_360dialogs_fragments_and_metas_spec(msg: FlowMessage) -> None:
    body = _body(msg)
    assert list(_envelope().iter_errors(body)) == []
    if sc.COPY.is_file():
        assert sc.message_errors(body) == []


@pytest.mark.parametrize("msg", SENDS, ids=sc.ids(SENDS))
def test_every_send_follows_our_extracts(msg: FlowMessage) -> None:
    body = _body(msg)
    assert specs.check("dialog360_cloud", "message", body) is None
    assert specs.check("meta_cloud", "message", body) is None


@pytest.mark.parametrize("tpl", TEMPLATES, ids=sc.ids(TEMPLATES))
def test_every_template_creation_follows_the_spec(tpl: Any) -> None:
    body = json.loads(ADAPTER.build_create_template(tpl).content)
    assert specs.check("meta_cloud", "template_create", body) is None
    if FRAGMENTS.is_file():  # 360dialog's prose: name, category, language, components
        required = _fragments()["paths"]["/v1/configs/templates"]["post"]["x-required-body"]
        assert set(required) <= set(body)
    if sc.COPY.is_file():
        assert sc.template_create_errors(body) == []


def test_the_key_upload_sends_metas_field_not_the_on_premise_one() -> None:
    req = ADAPTER.build_register_public_key(PEM)
    assert req.url == "https://waba-v2.360dialog.io/whatsapp_business_encryption"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    fields = dict(parse_qsl(req.content.decode()))
    assert fields == {"business_public_key": PEM}  # not {"public_key": …}
    assert specs.check("dialog360_cloud", "public_key", fields) is None
    assert specs.check("dialog360_cloud", "public_key", {"public_key": PEM}) is not None
    if FRAGMENTS.is_file():  # the name 360dialog's reference gives the key (its GET)
        info = _fragments()["components"]["schemas"]
        assert (
            "business_public_key"
            in info["whatsapp_business_encryption.BusinessEncryptionInfo"]["properties"]
        )
    if sc.COPY.is_file():
        assert sc.public_key_errors(fields) == []


@pytest.mark.parametrize(
    ("encoding", "name", "accepted"),
    [
        ("form", "business_public_key", True),  # Meta's reference sample, relayed
        ("multipart", "business_public_key", True),  # Meta's OpenAPI media type
        ("json", "business_public_key", True),  # the encoding 360dialog's Flows guide picks
        ("json", "public_key", False),  # the On-Premise name (that guide's, for Cloud too)
        ("form", "public_key", False),
    ],
)
def test_the_emulator_takes_the_key_as_360dialog_cloud_relays_it(
    encoding: str, name: str, accepted: bool
) -> None:
    emu = Emulator({"dialog360_cloud": dict(KIT.settings)})
    content_type, content = key_bodies(name)[encoding]
    resp = emu.respond(_key_request(content_type, content, "dialog360_cloud"))
    assert (resp.status_code == 200) is accepted, resp.content
    assert (emu.sims["dialog360_cloud"].public_key == PEM) is accepted


@pytest.mark.parametrize(
    ("change", "allowed"),
    [
        ({"recipient_type": None}, False),  # required by 360dialog's fragment
        ({"recipient_type": "group", "to": "Y2FwaV9ncm91cDox"}, True),  # its enum
        ({"recipient_type": "broadcast"}, False),
        ({"messaging_product": None}, False),
        ({"text": {"body": "hi"}}, False),  # another message type's key: not emulated
    ],
)
def test_the_emulator_agrees_with_360dialogs_envelope(
    change: dict[str, Any], allowed: bool
) -> None:
    body = _flow()
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    if FRAGMENTS.is_file() and "text" not in change:
        assert (list(_envelope().iter_errors(body)) == []) is allowed
    assert (_post(body, "dialog360_cloud").status_code == 200) is allowed
