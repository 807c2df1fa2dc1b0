"""Actions (F10, F25, F26, F30): where each may sit, navigate targets and payloads,
update_data and open_url, and the PhotoPicker / DocumentPicker payload rules."""

from __future__ import annotations

from typing import Any

from gateway.flowjson import catalogue as cat
from gateway.flowjson.issues import Node, fmt
from gateway.flowjson.refs import REF, RefRules, matches

_ACTION_PROPS = ("on-click-action", "on-select-action", "on-unselect-action")


class ActionRules(RefRules):
    edges: list[tuple[int, str, str]]  # (screen index, target id, path of next.name)
    uses_data_exchange: bool

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
            if n.type == "Footer" and not n.in_form:
                self._footer_outside_form(i, payload, f"{path}.payload")

    def _footer_outside_form(self, i: int, payload: dict[str, Any], base: str) -> None:
        """Below 4.0 a Footer reads form data only from inside the Form (error page,
        INVALID_FOOTER_PAYLOAD_OUTSIDE_FORM); from 4.0 the Form is optional."""
        if self.since((4, 0)) or not any(n.type == "Form" for n in self.nodes[i]):
            return
        for path, value in _flatten(payload, base):
            if any(m.group(1).strip().startswith("form.") for m in REF.finditer(value)):
                self.issue(
                    "F18",
                    "INVALID_FOOTER_PAYLOAD_OUTSIDE_FORM",
                    path,
                    "a Footer outside the Form cannot reference form data before Flow JSON 4.0",
                )

    def _navigate(self, i: int, action: dict[str, Any], payload: Any, path: str) -> None:
        nxt = action.get("next")
        if not isinstance(nxt, dict):
            self.issue(
                "F25", "MISSING_REQUIRED_PROPERTY", path, "navigate needs next: {type, name}"
            )
            return
        self.check_keys(nxt, cat.NEXT_KEYS, f"{path}.next", "next")
        kind = nxt.get("type", "screen")
        if not isinstance(kind, str) or kind not in cat.NEXT_TYPES:
            self.issue(
                "F13",
                "INVALID_ENUM_VALUE",
                f"{path}.next.type",
                f"next.type must be one of {', '.join(sorted(cat.NEXT_TYPES))}",
            )
        target_id = nxt.get("name")
        if not isinstance(target_id, str):
            return  # missing: reported by check_keys
        target = self.screen_ids.get(target_id)
        if target is None or target == i:
            why = (
                "Same screen navigation is not allowed"
                if target == i
                else f"Unknown screen ids found: [{target_id}]"
            )
            self.issue("F25", "INVALID_NAVIGATE_ACTION_NEXT_SCREEN_NAME", f"{path}.next.name", why)
            return
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
            kind = spec.get("type") if isinstance(spec, dict) else None
            if isinstance(value, str):
                whole = REF.fullmatch(value)
                if whole is None:
                    continue
                # An unresolved reference was reported where references are scanned.
                got, _ = self.resolve(i, whole.group(1).strip(), "", report=False)
                if not (got and isinstance(kind, str) and _number(got) != _number(kind)):
                    continue
            elif matches(kind, value):
                continue
            self.issue(
                "F25",
                "INVALID_NAVIGATE_ACTION_PAYLOAD",
                f"{path}.payload.{key}",
                f"{key}: {target_id} expects a {kind}",
            )

    def _picker_payload(self, i: int, name: str, payload: dict[str, Any], base: str) -> None:
        pickers = {k: n for k, n in self.input_names(i).items() if n.type in cat.PICKERS}
        if not pickers:
            return
        used = []
        for key, value in _flatten(payload, base):
            for m in REF.finditer(value):
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


def _number(kind: str) -> str:
    return "number" if kind == "integer" else kind


def _flatten(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _flatten(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [x for j, v in enumerate(value) for x in _flatten(v, f"{path}[{j}]")]
    return []
