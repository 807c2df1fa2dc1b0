"""Meta's published OpenAPI (v23.0), read in place, with our overrides applied explicitly.

Shared by ``tests/contract/meta_cloud/test_spec.py`` and
``tests/contract/dialog360_cloud/test_spec.py`` (360dialog Cloud takes Meta's payloads).
The copy lives in ``../shared/realworld/openapi/meta/`` (never copied into the project);
without it the checks that need it skip, saying so.

Where the copy is wrong against Meta's own examples, or predates what Meta takes today,
:func:`patched` applies the same change as ``gateway/emulator/specs/meta_cloud.json``
records in ``x-overrides``, one named patch per override (:data:`PATCHES`), so that a test
can check the two lists agree.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gateway import FlowMessage, FlowTemplate
from gateway.model import TemplateRef
from tests.realworld import realworld

COPY = realworld("openapi/meta/business-messaging-api_v23.0.json")
needs_copy = pytest.mark.skipif(
    not COPY.is_file(), reason=f"the copy of Meta's OpenAPI v23.0 is absent ({COPY})"
)
DIALECT = "https://json-schema.org/draft/2020-12/schema"
MESSAGES = (
    "/paths/~1{Version}~1{Phone-Number-ID}~1messages/post/requestBody/content/application~1json"
)
TEMPLATES = (
    "/paths/~1{Version}~1{WABA-ID}~1message_templates/post/requestBody/content/application~1json"
)
FLOW_EXAMPLES = (
    "Send Draft Flow by ID",
    "Send Draft Flow by Name",
    "Send Published Flow by ID",
    "Send Published Flow by Name",
    "Send Flow Template Message",
)
PHONE, BSUID, PARENT = "+16505551234", "US.13491208655302741918", "US.ENT.11815799212886844830"

Schemas = dict[str, Any]


@cache
def original() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(COPY.read_text(encoding="utf-8"))
    return doc


def pointer(doc: Any, ptr: str) -> Any:
    node = doc
    for part in ptr.lstrip("#").split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


# -- the overrides, applied to the copy (keys: the `at` of each in our extract) ---------


def _button(s: Schemas) -> dict[str, Any]:
    props: dict[str, Any] = s["ButtonComponent"]["allOf"][1]["properties"]
    return props


def _language(s: Schemas) -> None:
    # Flow Template example: language {code} only
    s["LanguageObject"]["required"] = ["code"]


def _sub_type(where: Callable[[Schemas], dict[str, Any]]) -> Callable[[Schemas], None]:
    def patch(s: Schemas) -> None:  # the example's sub_type "flow"
        where(s)["sub_type"]["enum"] = [*where(s)["sub_type"]["enum"], "flow"]

    return patch


def _index(where: Callable[[Schemas], dict[str, Any]]) -> Callable[[Schemas], None]:
    def patch(s: Schemas) -> None:  # "^[2-6, 11-14]$" refuses the example's "0"
        where(s)["index"]["pattern"] = "^[0-9]$"

    return patch


def _action_type(s: Schemas) -> None:
    # the example's button parameter {type: action, action: {...}}
    enum = s["ButtonParameterObject"]["properties"]["type"]["enum"]
    s["ButtonParameterObject"]["properties"]["type"]["enum"] = [*enum, "action"]


def _action_property(s: Schemas) -> None:
    s["ButtonParameterObject"]["properties"]["action"] = {"type": "object"}


def _recipient(s: Schemas) -> None:
    # business-scoped user ids (2026): `recipient` may stand in for `to`
    base = s["BaseMessageProperties"]
    base["properties"]["recipient"] = {"type": "string"}
    base["required"] = [r for r in base["required"] if r != "to"]
    base["anyOf"] = [{"required": ["to"]}, {"required": ["recipient"]}]


def _composed_closure(s: Schemas) -> None:
    # allOf/1's additionalProperties sees only its own properties: read literally it
    # refuses every interactive message (Meta's examples too). Close the composition.
    message = s["InteractiveMessage"]
    del message["allOf"][1]["additionalProperties"]
    message["unevaluatedProperties"] = False


def _template_properties(s: Schemas) -> None:
    """No patch needed: the schema is open; our extract names properties the spec's own
    examples use (flow_name, flow_json, format, example)."""


PATCHES: dict[str, Callable[[Schemas], None]] = {
    "#/$defs/TemplateLanguage/required": _language,
    "#/$defs/TemplateComponent/properties/sub_type/enum": _sub_type(
        lambda s: s["TemplateComponent"]["properties"]
    ),
    "#/$defs/ButtonComponent/properties/sub_type/enum": _sub_type(_button),
    "#/$defs/TemplateComponent/properties/index/pattern": _index(
        lambda s: s["TemplateComponent"]["properties"]
    ),
    "#/$defs/ButtonComponent/properties/index/pattern": _index(_button),
    "#/$defs/ButtonParameter/properties/type/enum": _action_type,
    "#/$defs/ButtonParameter/properties/action": _action_property,
    "#/$defs/InteractiveMessage/required": _recipient,
    "#/$defs/InteractiveMessage/additionalProperties": _composed_closure,
}
"""The overrides that change what the copy accepts of our requests. The extract's other
overrides only narrow or close (the copy accepts more there), so the copy needs no patch
for our requests to pass; the emulator tests check the narrowing."""


@cache
def patched() -> dict[str, Any]:
    doc = copy.deepcopy(original())
    for patch in PATCHES.values():
        patch(doc["components"]["schemas"])
    return doc


@cache
def _validator(ref: str, with_overrides: bool) -> Draft202012Validator:
    """The copy as the root of a 2020-12 schema and ``$ref`` into it (OpenAPI 3.1's
    schemas are JSON Schema 2020-12; its other keywords are ignored as unknown)."""
    doc = patched() if with_overrides else original()
    return Draft202012Validator({**doc, "$schema": DIALECT, "$ref": ref})


def errors(ref: str, body: Any, *, with_overrides: bool = True) -> list[str]:
    found = _validator(ref, with_overrides).iter_errors(body)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found)


def message_errors(body: Any, *, with_overrides: bool = True) -> list[str]:
    """Against the operation's own schema (``Message``: one of eleven message types), and
    the discriminated schemas of template components (:func:`discriminated_errors`)."""
    found = errors("#/components/schemas/Message", body, with_overrides=with_overrides)
    return found + discriminated_errors(body, with_overrides=with_overrides)


def _mapped(base: str, value: Any) -> str:
    """The schema OpenAPI's ``discriminator`` picks for ``value`` (by its ``type``)."""
    schema = original()["components"]["schemas"][base]
    mapping: dict[str, str] = schema.get("discriminator", {}).get("mapping", {})
    kind = value.get("type") if isinstance(value, dict) else None
    return mapping.get(str(kind), f"#/components/schemas/{base}")


def discriminated_errors(body: Any, *, with_overrides: bool = True) -> list[str]:
    """What JSON Schema cannot see: OpenAPI's discriminators. Each template component is
    checked against the schema its ``type`` maps to, and each of its parameters too."""
    found: list[str] = []
    components = body.get("template", {}).get("components", []) if isinstance(body, dict) else []
    for i, component in enumerate(components):
        ref = _mapped("TemplateComponent", component)
        found += [
            f"components/{i}: {e}" for e in errors(ref, component, with_overrides=with_overrides)
        ]
        base = "ButtonParameterObject" if component.get("type") == "button" else "ParameterObject"
        for j, param in enumerate(component.get("parameters", [])):
            ref = _mapped(base, param)
            found += [
                f"components/{i}/parameters/{j}: {e}"
                for e in errors(ref, param, with_overrides=with_overrides)
            ]
    return found


def template_create_errors(body: Any) -> list[str]:
    return errors("#" + TEMPLATES + "/schema", body)


def public_key_errors(fields: dict[str, Any]) -> list[str]:
    return errors("#/components/schemas/WhatsAppBusinessEncryptionUploadRequest", fields)


def example(name: str) -> dict[str, Any]:
    """One of Meta's request examples, with its placeholder recipient made a phone."""
    value = copy.deepcopy(pointer(original(), f"{MESSAGES}/examples/{name}/value"))
    value["to"] = PHONE
    return dict(value)


# -- the requests a Flow gateway sends: every option, combined --------------------------


def interactive_messages(
    *, bsuid: bool = True, flow_name: bool = True, cta: str = "Book an appointment now"
) -> Iterator[FlowMessage]:
    """Every combination of the options of an interactive Flow send (288 at most)."""
    recipients = (PHONE, BSUID, PARENT) if bsuid else (PHONE,)
    sources = ("flow_id", "flow_name") if flow_name else ("flow_id",)
    actions: tuple[tuple[str, dict[str, Any] | None], ...] = (
        ("navigate", None),
        ("navigate", {"product": "Trail shoes", "price": 100, "sizes": [41, 42]}),
        ("data_exchange", None),
    )
    for to, source, header, footer, (action, data), mode, token in itertools.product(
        recipients, sources, (None, "Your order"), (None, "Reply STOP to opt out"),
        actions, ("published", "draft"), (None, "tok-1"),
    ):  # fmt: skip
        yield FlowMessage(
            to=to, body="Pick a time", flow_cta=cta, header=header,
            footer=footer, flow_action=action, data=data, mode=mode, flow_token=token,
            screen="APPOINTMENT" if action == "navigate" else None,
            **{source: "784512369874512" if source == "flow_id" else "booking_flow"},
        )  # fmt: skip


def template_messages(*, bsuid: bool = True) -> Iterator[FlowMessage]:
    """Every combination of a FLOW-button template send's options (72 at most)."""
    recipients = (PHONE, BSUID, PARENT) if bsuid else (PHONE,)
    for to, params, data, index, token in itertools.product(
        recipients, ((), ("Ana", "10:30")), (None, {"order": "A-1"}), (0, 3, 9), (None, "t")
    ):
        template = TemplateRef(
            name="booking_reminder", language="en_US", button_index=index, body_parameters=params
        )
        yield FlowMessage(to=to, template=template, data=data, flow_token=token)


def templates(*, cloud_only: bool = True) -> Iterator[FlowTemplate]:
    """Template creations: each way to name the Flow, with and without the extras."""
    flow_json = {"version": "6.0", "screens": [{"id": "WELCOME", "layout": {}}]}
    sources: list[dict[str, Any]] = [{"flow_id": "784512369874512"}]
    if cloud_only:
        sources += [{"flow_name": "booking_flow"}, {"flow_json": flow_json}]
    for source, extras, action in itertools.product(
        sources,
        ({}, {"header": "Book now", "footer": "Thanks", "body_examples": ("Ana",)}),
        ("navigate", "data_exchange"),
    ):
        body = "Hi {{1}}, book your visit" if extras else "Book your visit"
        screen = {"navigate_screen": "WELCOME"} if action == "navigate" else {}
        yield FlowTemplate(
            name="booking", language="en_US", category="UTILITY", body=body,
            button_text="Book now", flow_action=action, **source, **extras, **screen,
        )  # fmt: skip


def ids(items: Any) -> list[str]:
    return [str(i) for i, _ in enumerate(items)]
