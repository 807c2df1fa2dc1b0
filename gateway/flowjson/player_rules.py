"""The player's checks: a screen's data against its data model, a form against its inputs'
rules (components page: required, input-type, min/max chars, data-source values,
min/max selected items, dates). Pure; each check returns ``(kind, path, message)``."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from gateway.flowjson import model as m
from gateway.flowjson.player_render import (
    Input,
    Scope,
    evaluate,
    every_component,
    items_of,
    truthy,
)
from gateway.flowjson.refs import REF, matches

Check = tuple[Any, str, str]  # (FindingKind, path, message)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-]{5,20}$")
_EMPTY: tuple[Any, ...] = (None, "", [], {})


_SOURCES = {
    "data": "the endpoint's answer",
    "payload": "the navigate payload",
    "_data": "the opening data (_data / --data)",
}


def unknown_fields(screen: m.Screen, form: Mapping[str, Any]) -> list[str]:
    """The names a script fills that no input of the screen has (a typo: never sent)."""
    names = {getattr(c, "name", None) for c in every_component(screen.layout.children)}
    return sorted(k for k in form if k[:1] != "_" and k not in names)


def data_findings(screen: m.Screen, data: Any, where: str) -> list[Check]:
    """What the client refuses in the data a screen is shown with (``payload-schema-
    error``): a field the screen binds that is missing, a declared field of the wrong type."""
    if not isinstance(data, dict):
        return [("wrong_type", where, "screen data must be an object")]
    model = screen.data or {}
    out: list[Check] = []
    for name in sorted(bound_fields(screen)):
        if name in model and name not in data:
            out.append(
                (
                    "missing_field",
                    f"{where}.{name}",
                    f"{screen.id} binds ${{data.{name}}}, which {_SOURCES.get(where, where)} "
                    "leaves out",
                )
            )
    for name, spec in model.items():
        if name in data:
            out.extend(
                _typed(
                    spec.model_dump(by_alias=True, exclude_none=True), data[name], f"{where}.{name}"
                )
            )
    return out


def bound_fields(screen: m.Screen) -> set[str]:
    """The top-level data fields a screen reads through ``${data.…}``."""
    text = str(screen.layout.model_dump(by_alias=True, exclude_none=True)) + str(screen.title)
    return {
        ref.split(".")[1]
        for ref in REF.findall(text)
        if ref.startswith("data.") and ref.count(".") >= 1
    }


def _typed(spec: Any, value: Any, path: str) -> Iterator[Check]:
    if not isinstance(spec, dict):
        return
    kind = spec.get("type")
    if not matches(kind, value):
        yield ("wrong_type", path, f"expected {kind}, got {_json_type(value)}")
        return
    if kind == "object" and isinstance(spec.get("properties"), dict):
        for name, sub in spec["properties"].items():
            if name in value:
                yield from _typed(sub, value[name], f"{path}.{name}")
    elif kind == "array" and isinstance(spec.get("items"), dict):
        for i, item in enumerate(value):
            yield from _typed(spec["items"], item, f"{path}[{i}]")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def check_inputs(inputs: list[Input], form: dict[str, Any], scope: Scope) -> list[Check]:
    """Why the footer stays disabled: a required input left empty, or a value the input
    refuses (``unfillable_required`` when the input is required, else ``invalid_answer``)."""
    out: list[Check] = []
    for comp in inputs:
        if not truthy(comp.enabled, scope, True):
            continue
        required = _required(comp, scope)
        value = form.get(comp.name)
        path = f"form.{comp.name}"
        if value in _EMPTY or (required and isinstance(comp, m.OptIn) and value is not True):
            if required:
                out.append(
                    (
                        "unfillable_required",
                        path,
                        f"{comp.type} {comp.name!r} is required and left empty",
                    )
                )
            continue
        why = _refused(comp, value, scope)
        if why:
            kind = "unfillable_required" if required else "invalid_answer"
            out.append((kind, path, f"{comp.type} {comp.name!r} refuses {value!r}: {why}"))
    return out


def _required(comp: Input, scope: Scope) -> bool:
    if isinstance(comp.required, dict):  # CalendarPicker range: per date
        return any(comp.required.values())
    return truthy(comp.required, scope, False)


def _refused(comp: Input, value: Any, scope: Scope) -> str | None:
    if isinstance(comp, m.TextInput | m.TextArea):
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return "text expected"
        text = str(value)
        if isinstance(comp, m.TextArea):
            limit = _int(evaluate(comp.max_length, scope), 600)
            return f"longer than max-length {limit}" if len(text) > limit else None
        return _text_input(comp, text, scope)
    if isinstance(comp, m.Dropdown | m.RadioButtonsGroup):
        ids = _ids(comp, scope)
        return None if ids is None or value in ids else f"not one of the data-source ids {ids}"
    if isinstance(comp, m.CheckboxGroup | m.ChipsSelector):
        if not isinstance(value, list):
            return "a list of data-source ids expected"
        ids = _ids(comp, scope)
        if ids is not None and any(v not in ids for v in value):
            return f"not all among the data-source ids {ids}"
        low = _int(evaluate(comp.min_selected_items, scope), 0)
        high = _int(evaluate(comp.max_selected_items, scope), len(value))
        if not low <= len(value) <= high:
            return f"select between {low} and {high} items"
        return None
    if isinstance(comp, m.OptIn):
        return None if isinstance(value, bool) else "true or false expected"
    if isinstance(comp, m.DatePicker):
        return _date(value, evaluate(comp.min_date, scope), evaluate(comp.max_date, scope))
    return None  # CalendarPicker, pickers: passed through as scripted


def _text_input(comp: m.TextInput, text: str, scope: Scope) -> str | None:
    kind = comp.input_type or "text"
    if kind == "number" and not re.fullmatch(r"-?\d+(\.\d+)?", text):
        return "input-type number"
    if kind == "email" and not _EMAIL.match(text):
        return "input-type email"
    if kind == "phone" and not _PHONE.match(text):
        return "input-type phone"
    if kind == "passcode" and not text.isdigit():
        return "input-type passcode (digits)"
    low = _int(evaluate(comp.min_chars, scope), 0)
    high = _int(evaluate(comp.max_chars, scope), 80)
    if not low <= len(text) <= high:
        return f"between {low} and {high} characters"
    if comp.pattern and not re.fullmatch(comp.pattern, text):
        return f"pattern {comp.pattern}"
    return None


def _ids(
    comp: m.Dropdown | m.RadioButtonsGroup | m.CheckboxGroup | m.ChipsSelector, scope: Scope
) -> list[Any] | None:
    items = items_of(comp.data_source, scope)
    if not isinstance(items, list):
        return None  # unknown: the data-source itself is reported against the data model
    return [
        i.get("id") for i in items if isinstance(i, dict) and i.get("enabled", True) is not False
    ]


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _date(value: Any, low: Any, high: Any) -> str | None:
    try:
        day = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        day = None
    if day is None:
        return "a YYYY-MM-DD date expected"
    for bound, wrong in ((low, day.__lt__), (high, day.__gt__)):
        if isinstance(bound, str):
            try:
                if wrong(date.fromisoformat(bound)):
                    return f"outside {low}…{high}"
            except ValueError:
                continue
    return None


def item_action(comp: Any, picked: Any) -> m.Action | None:
    items = getattr(comp, "list_items", None) or getattr(comp, "data_source", None)
    if not isinstance(items, list):
        return None
    for item in items:
        if item.id == picked:
            return getattr(item, "on_click_action", None) or getattr(item, "on_select_action", None)
    return None


def routes(flow: m.FlowJSON) -> dict[str, tuple[str, ...]]:
    """The routing model, or (without one) the routes navigate actions draw."""
    if flow.routing_model is not None:
        return {k: tuple(v) for k, v in flow.routing_model.items()}
    out: dict[str, list[str]] = {}
    for screen in flow.screens:
        for target in _navigate_targets(
            screen.model_dump(mode="json", by_alias=True, exclude_none=True)
        ):
            out.setdefault(screen.id, []).append(target)
    return {k: tuple(v) for k, v in out.items()}


def _navigate_targets(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = []
        if node.get("name") == "navigate" and isinstance(node.get("next"), dict):
            found.append(node["next"].get("name"))
        for value in node.values():
            found.extend(_navigate_targets(value))
        return found
    if isinstance(node, list):
        return [t for v in node for t in _navigate_targets(v)]
    return []
