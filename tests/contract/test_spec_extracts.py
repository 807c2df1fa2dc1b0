"""Our extracts of the providers' specifications, held to the specifications themselves.

``gateway/emulator/specs/<provider>.json`` are written by hand (facts, not copies). Each
definition names where in the provider's document it comes from (``x-source``); here each
is compared with that place in the copy kept in ``../shared/realworld/openapi`` (never
copied into the project): the keywords below, recursively for every property both sides
describe, and every property we list must exist there. A deliberate difference is listed
in the extract's ``x-overrides`` (with why); an override that no longer differs is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gateway.emulator import specs
from tests.realworld import realworld

COPIES = realworld("openapi")
KEYWORDS = ("type", "enum", "const", "maxLength", "minLength", "pattern", "minimum", "maximum")
EXTRACTS = sorted(
    f.name.removesuffix(".json")
    for f in files(specs.__name__).iterdir()
    if f.name.endswith(".json")
)


def _pointer(doc: Any, ptr: str) -> Any:
    node = doc
    for part in ptr.lstrip("#").split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def _resolve(doc: Any, node: Any) -> Any:
    """Follow ``$ref`` chains and merge ``allOf`` members, as a reader of the spec would."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        node = {**_pointer(doc, node["$ref"]), **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    if isinstance(node, dict) and "allOf" in node:
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            part = _resolve(doc, part)
            merged.setdefault("properties", {}).update(part.get("properties", {}))
            required = set(merged.get("required", [])) | set(part.get("required", []))
            merged["required"] = sorted(required)
            for k, v in part.items():
                if k not in ("properties", "required"):
                    merged.setdefault(k, v)
        node = merged
    return node


def _norm(keyword: str, value: Any) -> Any:
    if value is None:
        return None
    if keyword in ("type", "enum", "required"):
        values = value if isinstance(value, list) else [value]
        return sorted(json.dumps(v, sort_keys=True) for v in values)
    return value


def _differences(ours: Any, theirs: Any, at: str, copy: Any) -> Iterator[tuple[str, str]]:
    """(where in our extract, what differs) for one schema node and its properties."""
    if not isinstance(ours, dict) or "$ref" in ours:
        return  # a reference is compared where it points (every definition has x-source)
    theirs = _resolve(copy, theirs)
    if not isinstance(theirs, dict):
        yield at, f"the spec has no schema here ({theirs!r})"
        return
    for kw in (*KEYWORDS, "required"):
        a, b = _norm(kw, ours.get(kw)), _norm(kw, theirs.get(kw))
        if a != b:
            yield f"{at}/{kw}", f"{kw}: ours {ours.get(kw)!r}, spec {theirs.get(kw)!r}"
    spec_props = theirs.get("properties", {})
    for name, sub in ours.get("properties", {}).items():
        where = f"{at}/properties/{name}"
        if name not in spec_props:
            yield where, f"{name!r} is not a property in the spec"
        else:
            yield from _differences(sub, spec_props[name], where, copy)
    if isinstance(ours.get("items"), dict) and "items" in theirs:
        yield from _differences(ours["items"], theirs["items"], f"{at}/items", copy)


def _extract(provider: str) -> dict[str, Any]:
    return specs.extract(provider)


@pytest.mark.parametrize("provider", EXTRACTS)
def test_an_extract_is_a_valid_schema_with_its_sources(provider: str) -> None:
    doc = _extract(provider)
    assert {"title", "version", "url", "copy"} <= set(doc["x-spec"]), "x-spec names the document"
    for name, schema in doc["$defs"].items():
        assert str(schema.get("x-source", "")).startswith("/"), f"{name}: no x-source pointer"
    for op in doc["x-operations"]:
        specs.validator(provider, op)  # compiles, and check_schema passes
    for override in doc.get("x-overrides", []):
        assert override.get("why"), f"{override.get('at')}: an override says why"
        assert override["at"].startswith("#/$defs/"), override["at"]


@pytest.mark.parametrize("provider", EXTRACTS)
def test_an_extract_agrees_with_the_published_specification(provider: str) -> None:
    doc = _extract(provider)
    copy_path = COPIES / doc["x-spec"]["copy"]
    if not copy_path.is_file():
        pytest.skip(f"the copy of {doc['x-spec']['title']} is absent ({copy_path})")
    copy = json.loads(copy_path.read_text(encoding="utf-8"))
    overridden = {o["at"] for o in doc.get("x-overrides", [])}
    found: dict[str, str] = {}
    for name, schema in doc["$defs"].items():
        try:
            theirs = _pointer(copy, schema["x-source"])
        except (KeyError, IndexError, ValueError):
            found[f"#/$defs/{name}"] = f"x-source {schema['x-source']} is not in the copy"
            continue
        found.update(_differences(schema, theirs, f"#/$defs/{name}", copy))
    drift = {at: why for at, why in found.items() if at not in overridden}
    assert not drift, "\n".join(f"{at}: {why}" for at, why in sorted(drift.items()))
    stale = overridden - set(found)
    # An override may also close what the spec leaves open (additionalProperties) or add a
    # hand rule: those are not differences of the compared keywords, so only flag a stale
    # override of a compared keyword or property.
    compared = {at for at in stale if at.rsplit("/", 1)[-1] in (*KEYWORDS, "required")}
    assert not compared, f"overrides that no longer differ from the spec: {sorted(compared)}"


def test_the_extracts_checker_sees_a_drift() -> None:
    copy = {"components": {"schemas": {"M": {"type": "object", "required": ["a"],
            "properties": {"a": {"type": "string", "maxLength": 30}}}}}}  # fmt: skip
    ours = {"type": "object", "required": ["a"], "properties": {"a": {"type": "string",
            "maxLength": 20}, "b": {"type": "string"}}}  # fmt: skip
    found = dict(_differences(ours, copy["components"]["schemas"]["M"], "#/$defs/M", copy))
    assert set(found) == {"#/$defs/M/properties/a/maxLength", "#/$defs/M/properties/b"}
    Draft202012Validator.check_schema(ours)
