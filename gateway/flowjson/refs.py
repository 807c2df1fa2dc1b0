"""Data models, dynamic references and actions (F10, F21–F26, F30)."""

from __future__ import annotations

import re
from typing import Any

from gateway.flowjson import catalogue as cat
from gateway.flowjson.issues import Node, fmt
from gateway.flowjson.screen_rules import ScreenRules

_REF = re.compile(r"\$\{([^}]*)\}")
_WHOLE_REF = re.compile(r"^\$\{[^}]*\}$")
_ACTION_PROPS = ("on-click-action", "on-select-action", "on-unselect-action")
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _matches(kind: Any, value: Any) -> bool:
    if not isinstance(kind, str):
        return True  # the data model itself is reported
    if isinstance(value, bool) and kind in ("number", "integer"):
        return False
    return isinstance(value, _PY_TYPES.get(kind, (object,)))


class RefRules(ScreenRules):
    edges: list[tuple[int, str, str]]  # (screen index, target id, path of next.name)
    uses_data_exchange: bool

    def data_fields(self, i: int) -> dict[str, Any]:
        data = self.screens[i].get("data")
        return data if isinstance(data, dict) else {}

    def input_names(self, i: int) -> dict[str, Node]:
        return {
            n.comp["name"]: n
            for n in self.nodes[i]
            if n.type in cat.INPUTS and isinstance(n.comp.get("name"), str)
        }

    # -- F21 data models -------------------------------------------------------------

    def check_data_models(self) -> None:
        for i, screen in enumerate(self.screens):
            data = screen.get("data")
            if data is None:
                continue
            path = f"screens[{i}].data"
            if not isinstance(data, dict):
                self.issue("F21", "INVALID_SCREEN_DATA", path, "data must be an object")
                continue
            for name, spec in data.items():
                self._data_field(f"{path}.{name}", spec)

    def _data_field(self, path: str, spec: Any) -> None:
        if not isinstance(spec, dict):
            self.issue("F21", "INVALID_SCREEN_DATA", path, "a data field must be an object")
            return
        for key in spec:
            if key not in cat.DATA_FIELD_KEYS:
                self.issue("F21", "INVALID_SCREEN_DATA", f"{path}.{key}", f"unknown key {key!r}")
        kind = spec.get("type")
        if not isinstance(kind, str) or kind not in cat.DATA_TYPES:
            self.issue(
                "F21",
                "INVALID_SCREEN_DATA",
                f"{path}.type",
                f"type must be one of {', '.join(sorted(cat.DATA_TYPES))}",
            )
            return
        if kind == "array" and "items" not in spec:
            self.issue("F21", "INVALID_SCREEN_DATA", path, "an array field needs items")
        if "__example__" not in spec:
            self.issue("F21", "INVALID_SCREEN_DATA", path, "the field needs an __example__")
        elif spec["__example__"] is None or not _matches(kind, spec["__example__"]):
            self.issue(
                "F21", "INVALID_SCREEN_DATA", f"{path}.__example__", f"__example__ must be a {kind}"
            )
        for key in ("items", "properties"):
            if _has_nested_example(spec.get(key)):
                self.issue(
                    "F21",
                    "INVALID_SCREEN_DATA",
                    f"{path}.{key}",
                    "__example__ is only allowed at the top of a field",
                )

    # -- F22–F24 references ----------------------------------------------------------

    def check_references(self) -> None:
        for i, screen in enumerate(self.screens):
            if isinstance(screen.get("title"), str):
                self._string(i, screen["title"], f"screens[{i}].title")
            for n in self.nodes[i]:
                for key, value in n.comp.items():
                    if key not in ("type", "name", "then", "else", "cases", "children"):
                        self._scan(i, value, f"{n.path}.{key}")

    def _scan(self, i: int, value: Any, path: str) -> None:
        if isinstance(value, str):
            if "${" in value or value.startswith("`"):
                self._string(i, value, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._scan(i, item, f"{path}.{key}")
        elif isinstance(value, list):
            for j, item in enumerate(value):
                self._scan(i, item, f"{path}[{j}]")

    def _string(self, i: int, value: str, path: str) -> None:
        if value.startswith("`") and value.endswith("`") and len(value) > 1:
            if not self.since((6, 0)):
                self.issue(
                    "F24",
                    "INVALID_PROPERTY_VALUE",
                    path,
                    f"backtick expressions need Flow JSON 6.0 (this flow is {fmt(self.version)})",
                )
        elif "${" in value and not _WHOLE_REF.match(value):
            self.issue(
                "F24",
                "INVALID_PROPERTY_VALUE",
                path,
                "text mixed with ${…} must be a backtick expression (Flow JSON 6.0+)",
            )
            return
        for m in _REF.finditer(value):
            self._ref(i, m.group(1).strip(), path)

    def _ref(self, i: int, ref: str, path: str) -> None:
        parts = ref.split(".")
        head = parts[0]
        if head == "data" and len(parts) >= 2:
            fields = self.data_fields(i)
            if parts[1] not in fields:
                self.issue(
                    "F22",
                    "INVALID_SCREEN_DYNAMIC_DATA",
                    path,
                    f"${{{ref}}}: {parts[1]!r} is not in this screen's data model",
                )
            elif len(parts) > 2 and not _nested_ok(fields[parts[1]], parts[2:]):
                self.issue(
                    "F22",
                    "INVALID_SCREEN_DYNAMIC_DATA",
                    path,
                    f"${{{ref}}} does not match the data model's properties",
                )
        elif head == "form" and len(parts) >= 2:
            if parts[1] not in self.input_names(i):
                self.issue(
                    "F22",
                    "INVALID_ON_CLICK_ACTION_PAYLOAD",
                    path,
                    f"${{{ref}}}: no input named {parts[1]!r} on this screen",
                )
        elif head == "screen" and len(parts) >= 4 and parts[2] in ("form", "data"):
            self._global_ref(i, ref, parts, path)
        else:
            self.issue("F24", "INVALID_PROPERTY_VALUE", path, f"${{{ref}}} is not a reference")

    def _global_ref(self, i: int, ref: str, parts: list[str], path: str) -> None:
        target = self.screen_ids.get(parts[1])
        problem = None
        if not self.since((4, 0)):
            problem = "global ${screen.…} references need Flow JSON 4.0"
        elif target is None:
            problem = f"no screen {parts[1]!r}"
        elif target == i:
            problem = f"use ${{{parts[2]}.{parts[3]}}} for the current screen"
        elif parts[2] == "form" and parts[3] not in self.input_names(target):
            problem = f"screen {parts[1]!r} has no input {parts[3]!r}"
        elif parts[2] == "data" and parts[3] not in self.data_fields(target):
            problem = f"screen {parts[1]!r} has no data field {parts[3]!r}"
        if problem:
            self.issue("F23", "INVALID_SCREEN_DATA", path, f"${{{ref}}}: {problem}")

    # -- F10, F25, F26, F30 actions -----------------------------------------------------

    def check_actions(self) -> None:
        self.edges = []
        self.uses_data_exchange = False
        for i, nodes in enumerate(self.nodes):
            for n in nodes:
                for prop in _ACTION_PROPS:
                    if prop in n.comp:
                        self._action(i, n, f"{n.type}.{prop}", n.comp[prop], f"{n.path}.{prop}")
                for key, label in (("data-source", "item"), ("list-items", "nav")):
                    items = n.comp.get(key)
                    for j, item in enumerate(items if isinstance(items, list) else []):
                        for prop in _ACTION_PROPS:
                            if isinstance(item, dict) and prop in item:
                                where = f"{label}.{prop}" if label == "nav" else f"*.{prop}"
                                self._action(i, n, where, item[prop], f"{n.path}.{key}[{j}].{prop}")

    def _action(self, i: int, n: Node, where: str, action: Any, path: str) -> None:
        if not isinstance(action, dict):
            self.issue("F13", "INVALID_PROPERTY_TYPE", path, "an action must be an object")
            return
        allowed_keys, _ = cat.ACTION_KEYS
        for key in action:
            if key not in allowed_keys:
                self.issue("F4", "INVALID_PROPERTY_KEY", f"{path}.{key}", f"unknown key {key!r}")
        name = action.get("name")
        if not isinstance(name, str):
            self.issue("F13", "MISSING_REQUIRED_PROPERTY", path, "an action needs a name")
            return
        allowed = cat.ACTIONS_ALLOWED.get(where) or cat.ACTIONS_ALLOWED.get(
            "*." + where.split(".", 1)[1], frozenset()
        )
        terminal = self.screens[i].get("terminal") is True
        if name == "complete":
            if not (n.type == "Footer" and terminal and where.endswith("on-click-action")):
                self.issue(
                    "F10",
                    "INVALID_COMPLETE_ACTION",
                    f"{path}.name",
                    "complete is only allowed on the Footer of a terminal screen",
                )
                return
        elif name not in allowed:
            rule = "F26" if name in ("open_url", "update_data") else "F13"
            self.issue(
                rule,
                "INVALID_ENUM_VALUE",
                f"{path}.name",
                f"{name!r} is not allowed here (allowed: {', '.join(sorted(allowed))})",
            )
            return
        since = cat.ACTION_SINCE.get(str(name))
        if since is not None and not self.since(since):
            self.issue(
                "F26", "INVALID_ENUM_VALUE", f"{path}.name", f"{name} needs Flow JSON {fmt(since)}"
            )
        payload = action.get("payload")
        if name == "navigate":
            self._navigate(i, action, payload, path)
        elif name == "update_data" and isinstance(payload, dict):
            fields = self.data_fields(i)
            for key in payload:
                if key not in fields:
                    self.issue(
                        "F26",
                        "INVALID_ACTION_PAYLOAD_PROPERTY",
                        f"{path}.payload.{key}",
                        f"{key!r} is not in this screen's data model",
                    )
        elif name == "open_url" and not isinstance(action.get("url"), str):
            self.issue("F26", "MISSING_REQUIRED_PROPERTY", path, "open_url needs a url")
        elif name == "data_exchange":
            self.uses_data_exchange = True
        if isinstance(payload, dict):
            self._picker_payload(i, str(name), payload, f"{path}.payload")

    def _navigate(self, i: int, action: dict[str, Any], payload: Any, path: str) -> None:
        nxt = action.get("next")
        target_id = nxt.get("name") if isinstance(nxt, dict) else None
        target = self.screen_ids.get(target_id) if isinstance(target_id, str) else None
        if target is None or target == i:
            why = "cannot navigate to its own screen" if target == i else f"no screen {target_id!r}"
            self.issue("F25", "INVALID_NAVIGATE_ACTION_NEXT_SCREEN_NAME", f"{path}.next.name", why)
            return
        assert isinstance(target_id, str)
        self.edges.append((i, target_id, f"{path}.next.name"))
        fields = self.data_fields(target)
        given = payload if isinstance(payload, dict) else {}
        if set(given) != set(fields):
            missing, extra = sorted(set(fields) - set(given)), sorted(set(given) - set(fields))
            self.issue(
                "F25",
                "INVALID_NAVIGATE_ACTION_PAYLOAD",
                f"{path}.payload",
                f"payload keys must equal {target_id}'s data model"
                + (f"; missing {missing}" if missing else "")
                + (f"; not in the model {extra}" if extra else ""),
            )
        for key, value in given.items():
            spec = fields.get(key)
            if (
                isinstance(spec, dict)
                and not isinstance(value, str)
                and not _matches(spec.get("type", ""), value)
            ):
                self.issue(
                    "F25",
                    "INVALID_NAVIGATE_ACTION_PAYLOAD",
                    f"{path}.payload.{key}",
                    f"{key} must be a {spec.get('type')}",
                )

    def _picker_payload(self, i: int, name: str, payload: dict[str, Any], base: str) -> None:
        pickers = {k: n for k, n in self.input_names(i).items() if n.type in cat.PICKERS}
        if not pickers:
            return
        used = []
        for key, value in _flatten(payload, base):
            for m in _REF.finditer(value):
                parts = m.group(1).strip().split(".")
                if len(parts) >= 2 and parts[0] == "form" and parts[1] in pickers:
                    used.append((key, value, pickers[parts[1]], m.group(0)))
        for path, value, node, ref in used:
            problem = None
            if name == "navigate":
                problem = (
                    "picker values cannot travel in a navigate payload; use a global reference"
                )
            elif value != ref or path.count(".") != base.count(".") + 1:
                problem = "a picker value must be a top-level string value of the payload"
            elif name == "complete":
                limit = node.comp.get(
                    "max-uploaded-photos", node.comp.get("max-uploaded-documents", 30)
                )
                if not isinstance(limit, int) or limit > 1:
                    problem = "a complete payload takes a picker only with max-uploaded ≤ 1"
                elif len(used) > 1:
                    problem = "only one picker per complete payload"
            if problem:
                self.issue("F30", "INVALID_ON_CLICK_ACTION_PAYLOAD", path, problem)


def _flatten(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _flatten(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [x for j, v in enumerate(value) for x in _flatten(v, f"{path}[{j}]")]
    return []


def _has_nested_example(value: Any) -> bool:
    if isinstance(value, dict):
        return "__example__" in value or any(_has_nested_example(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nested_example(v) for v in value)
    return False


def _nested_ok(spec: Any, parts: list[str]) -> bool:
    """A nested ``${data.a.b}`` path exists in ``properties`` (or items of arrays)."""
    for part in parts:
        if not isinstance(spec, dict):
            return False
        if spec.get("type") == "array":
            return True  # indexes and item fields are not typed statically here
        props = spec.get("properties")
        if props is None:
            return spec.get("type") == "object"  # an untyped object: nothing to check
        if part not in props:
            return False
        spec = props[part]
    return True
