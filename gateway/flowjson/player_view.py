"""What a screen shows, as data a page can draw: each shown component with its references
evaluated, its options, its current value and whether pressing it does something.

Pure, like :mod:`gateway.flowjson.player_render` (whose :func:`shown` decides what is on
screen); the preview page (:mod:`gateway.preview`) turns these dicts into HTML. Keys are
the Flow JSON property names in snake case; a component the page does not draw keeps
``type`` and a one-line ``text`` (the transcript's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.flowjson import model as m
from gateway.flowjson.player_render import (
    INPUTS,
    Scope,
    as_text,
    describe,
    evaluate,
    items_of,
    shown,
    truthy,
)

_TEXTS = (m.TextHeading, m.TextSubheading, m.TextBody, m.TextCaption, m.RichText)
_SELECTIONS = (m.Dropdown, m.RadioButtonsGroup, m.CheckboxGroup, m.ChipsSelector)
_LIMITS = (
    "input_type",
    "pattern",
    "min_chars",
    "max_chars",
    "max_length",
    "min_date",
    "max_date",
    "min_selected_items",
    "max_selected_items",
    "mode",
)


def screen_view(screen: m.Screen, scope: Scope) -> dict[str, Any]:
    """The screen as the user sees it now: title and components, in order."""
    title = evaluate(screen.title, scope) if screen.title else None
    return {
        "id": screen.id,
        "title": None if title is None else as_text(title),
        "terminal": bool(screen.terminal),
        "components": [component_view(c, scope) for c in shown(screen.layout.children, scope)],
    }


def component_view(comp: Any, scope: Scope) -> dict[str, Any]:
    """One shown component as a JSON-able dict."""
    kind = str(comp.type)
    if isinstance(comp, _TEXTS):
        got = evaluate(comp.text, scope)
        text = "\n".join(map(as_text, got)) if isinstance(got, list) else as_text(got)
        weight = evaluate(getattr(comp, "font_weight", None), scope)
        return {"type": kind, "text": text, "font_weight": weight}
    if isinstance(comp, INPUTS):
        return _input(comp, scope)
    if isinstance(comp, m.Footer):
        return {
            "type": kind,
            "label": as_text(evaluate(comp.label, scope)),
            "enabled": truthy(comp.enabled, scope, True),
            **{
                k: as_text(evaluate(getattr(comp, k), scope))
                for k in ("left_caption", "center_caption", "right_caption")
                if getattr(comp, k)
            },
        }
    if isinstance(comp, m.EmbeddedLink):
        return {"type": kind, "text": as_text(evaluate(comp.text, scope)), "press": comp.text}
    if isinstance(comp, m.Image):
        src = evaluate(comp.src, scope)
        return {"type": kind, "src": _data_uri(src), "alt_text": comp.alt_text}
    if isinstance(comp, m.NavigationList):
        items = items_of(comp.list_items, scope)
        raw = items if isinstance(items, list) else []
        return {
            "type": kind,
            "name": comp.name,
            "label": as_text(evaluate(comp.label, scope)) if comp.label else None,
            "items": [_navigation_item(i) for i in raw if isinstance(i, dict)],
        }
    return {"type": kind, "text": describe(comp, scope, {})}


def _input(comp: Any, scope: Scope) -> dict[str, Any]:
    label = evaluate(getattr(comp, "label", None), scope)
    out: dict[str, Any] = {
        "type": str(comp.type),
        "name": comp.name,
        "label": label if isinstance(label, dict) else as_text(label) if label else comp.name,
        "required": _required(comp, scope),
        "enabled": truthy(comp.enabled, scope, True),
        "value": scope.form.get(comp.name),
        "acts": any(
            getattr(comp, k, None) is not None for k in ("on_select_action", "on_click_action")
        ),
    }
    for key in ("helper_text", "description", "title"):
        value = evaluate(getattr(comp, key, None), scope)
        if value:
            out[key] = value if isinstance(value, dict) else as_text(value)
    for key in _LIMITS:
        value = evaluate(getattr(comp, key, None), scope)
        if value is not None:
            out[key] = value
    if isinstance(comp, _SELECTIONS):
        out["options"] = _options(comp, scope)
    if isinstance(comp, m.OptIn) and comp.on_click_action is not None:
        out["read_more"] = True  # the client's "Read more" link runs on-click-action
    return out


def _required(comp: Any, scope: Scope) -> bool | dict[str, bool]:
    if isinstance(comp.required, dict):  # CalendarPicker range: per date
        return {k: bool(v) for k, v in comp.required.items()}
    return truthy(comp.required, scope, False)


def _options(comp: Any, scope: Scope) -> list[dict[str, Any]]:
    items = items_of(comp.data_source, scope)
    if not isinstance(items, list):
        return []
    return [
        {
            "id": i.get("id"),
            "title": as_text(i.get("title")),
            "description": i.get("description"),
            "enabled": i.get("enabled", True) is not False,
            "acts": i.get("on-select-action") is not None or i.get("on-click-action") is not None,
        }
        for i in items
        if isinstance(i, dict)
    ]


def _navigation_item(item: Mapping[str, Any]) -> dict[str, Any]:
    main = item.get("main-content") or {}
    return {
        "id": item.get("id"),
        "title": as_text(main.get("title")),
        "description": main.get("description"),
        "badge": item.get("badge"),
    }


_MAGIC = {"/9j/": "image/jpeg", "iVBOR": "image/png", "R0lGOD": "image/gif", "UklGR": "image/webp"}


def _data_uri(src: Any) -> str:
    """An Image's base64 ``src`` as a ``data:`` URI (its type from the first bytes)."""
    if not isinstance(src, str) or not src:
        return ""
    if src.startswith("data:"):
        return src
    mime = next((t for magic, t in _MAGIC.items() if src.startswith(magic)), "image/png")
    return f"data:{mime};base64,{src}"
