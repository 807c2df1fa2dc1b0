"""Data models and dynamic references (F21–F24): each ``${…}`` must exist, and have the
type of the property it is bound to.

A property holds a static value, a single reference (``"${data.x}"``), or — from 6.0 — a
backtick expression; an If ``condition`` is an expression without backticks (4.0+).
Types come from the data model (``${data.…}``, ``${screen.S.data.…}``) and from the
input a ``${form.…}`` names; a reference of unknown type is never wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gateway.flowjson import catalogue as cat
from gateway.flowjson import expressions
from gateway.flowjson.issues import fmt
from gateway.flowjson.screen_rules import ScreenRules

REF = re.compile(r"\$\{([^}]*)\}")
WHOLE_REF = re.compile(r"^\$\{([^}]*)\}$")
_CONTAINERS = (dict, list)  # a tuple: ``dict | list`` is built anew at each call
_NOT_BOUND = frozenset({"type", "name", "then", "else", "cases", "children"})
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_KIND_ORDER = ("string", "number", "boolean", "object", "array")  # as Meta lists them
Spec = dict[str, Any] | None  # the data-model schema a reference lands on, if any


def matches(kind: Any, value: Any) -> bool:
    """Whether a JSON value has a data-model type (unknown types match anything)."""
    if not isinstance(kind, str):
        return True  # the data model itself is reported
    if isinstance(value, bool) and kind in ("number", "integer"):
        return False
    return isinstance(value, _PY_TYPES.get(kind, (object,)))


class RefRules(ScreenRules):
    def data_fields(self, i: int) -> dict[str, Any]:
        data = self.screens[i].get("data")
        return data if isinstance(data, dict) else {}

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
            if key not in cat.DATA_FIELD_KEYS:  # JSON Schema ignores unknown keywords
                self.issue("F21", "IGNORED_DATA_MODEL_KEY", f"{path}.{key}", f"{key!r} is ignored")
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
        elif spec["__example__"] is None or not matches(kind, spec["__example__"]):
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
            title = screen.get("title")
            if isinstance(title, str) and ("${" in title or title.startswith("`")):
                self._bound(i, "screen", "title", title, f"screens[{i}].title")
            for n in self.nodes[i]:
                for key, value in n.comp.items():
                    if key in _NOT_BOUND:
                        continue
                    if n.type == "If" and key == "condition":
                        self._condition(i, value, f"{n.path}.{key}")
                    elif isinstance(value, str):
                        if "${" in value or value.startswith("`"):
                            self._bound(i, n.type, key, value, f"{n.path}.{key}")
                    elif isinstance(value, _CONTAINERS):
                        self._scan(i, value, f"{n.path}.{key}")

    def _scan(self, i: int, value: dict[Any, Any] | list[Any], path: str) -> None:
        """References nested in objects and lists (items, payloads): they must exist."""
        is_list = isinstance(value, list)
        pairs: Iterable[tuple[Any, Any]] = (
            enumerate(value) if isinstance(value, list) else value.items()
        )
        for key, item in pairs:
            if isinstance(item, str):
                if "${" in item or item.startswith("`"):
                    self._bound(i, "", "", item, f"{path}[{key}]" if is_list else f"{path}.{key}")
            elif isinstance(item, _CONTAINERS):
                self._scan(i, item, f"{path}[{key}]" if is_list else f"{path}.{key}")

    def _bound(self, i: int, ctype: str, key: str, value: str, path: str) -> None:
        """One string property holding ``${`` or a backtick: a single reference, a
        backtick expression, or text around a reference."""
        wanted = cat.lookup(cat.PROP_TYPES, ctype, key) if key else None
        whole = WHOLE_REF.match(value)
        if whole:
            ref = whole.group(1).strip()
            kind, spec = self.resolve(i, ref, path)
            if wanted and kind and kind not in wanted:
                self._wrong_type(ref, wanted, path)
            elif key == "data-source" and ctype in cat.SELECTIONS:
                self._item_schema(ref, spec, path)
        elif value.startswith("`") and value.endswith("`") and len(value) > 1:
            self._expression(i, value[1:-1], wanted, path)
        elif "${" not in value:
            return  # plain text that starts with a backtick
        elif wanted and "string" not in wanted:  # e.g. "visible": "yes ${data.x}"
            self.issue(
                "F24",
                "PATTERN_MISMATCH",
                path,
                f"must be a {' or '.join(sorted(wanted))}, or a single ${{…}} reference",
            )
        else:  # a string property: Meta publishes it and shows it as written
            self.issue(
                "F24",
                "STATIC_TEXT_WITH_REFERENCE",
                path,
                "${…} inside text is shown literally; write a backtick expression (6.0+) "
                "to insert the value",
            )

    def _expression(self, i: int, text: str, wanted: frozenset[str] | None, path: str) -> None:
        if not self.since((6, 0)):
            self.issue(
                "F24",
                "INVALID_PROPERTY_VALUE",
                path,
                f"backtick expressions need Flow JSON 6.0 (this flow is {fmt(self.version)})",
            )
            return
        try:
            kind, _ = expressions.check(
                text, lambda ref: self.resolve(i, ref, path)[0], condition=False
            )
        except expressions.ExpressionError as exc:
            self.issue("F24", "INVALID_PROPERTY_VALUE", path, str(exc))
            return
        # Concatenation makes any value text, so only non-text properties can be wrong.
        if wanted and "string" not in wanted and kind and kind not in wanted:
            expected = " or ".join(sorted(wanted))
            self.issue(
                "F24", "INVALID_PROPERTY_VALUE", path, f"the expression is a {kind}, not {expected}"
            )

    def _condition(self, i: int, value: Any, path: str) -> None:
        """If ``condition``: a boolean expression, without backticks (components page)."""
        if not isinstance(value, str):
            return
        text = value
        if self.since((6, 0)) and len(text) > 1 and text[0] == text[-1] == "`":
            text = text[1:-1]  # a nested expression is taken in any property from 6.0
        try:
            expressions.check(text, lambda ref: self.resolve(i, ref, path)[0], condition=True)
        except expressions.ExpressionError as exc:
            self.issue("F31", "INVALID_PROPERTY_VALUE", path, f"condition: {exc}")

    def _wrong_type(self, ref: str, wanted: frozenset[str], path: str) -> None:
        names = [kind for kind in _KIND_ORDER if kind in wanted]
        expected = (
            f"of type '{names[0]}'"
            if len(names) == 1
            else f"of one of these types: [{', '.join(names)}]"
        )
        message = f"Expected '${{{ref}}}' to be {expected}"
        self.issue("F22", "INVALID_SCREEN_DYNAMIC_DATA", path, message)

    def _item_schema(self, ref: str, spec: Spec, path: str) -> None:
        """Items of a selection's data-source need id and title (error-codes page)."""
        items = spec.get("items") if spec else None
        props = items.get("properties") if isinstance(items, dict) else None
        if not isinstance(props, dict):
            return
        for key in cat.ITEM_REQUIRED:
            if key not in props:
                self.issue(
                    "F22",
                    "INVALID_SCREEN_DYNAMIC_DATA",
                    path,
                    f"Data model schema is invalid for '${{{ref}}}'. Missing schema for {key}.",
                )

    def resolve(
        self, i: int, ref: str, path: str, *, report: bool = True
    ) -> tuple[str | None, Spec]:
        """The type of ``${ref}`` on screen ``i`` (None: unknown) and the data-model
        schema it lands on; reports a reference that does not resolve, if asked."""
        parts = ref.split(".")
        head = parts[0]
        problem: tuple[str, str, str] | None = None
        if head == "data" and len(parts) >= 2:
            kind, spec, why = self._data_ref(i, parts[1:], "this screen's")
            if why is None:
                return kind, spec
            problem = ("F22", "INVALID_SCREEN_DYNAMIC_DATA", why)
        elif head == "form" and len(parts) >= 2:
            node = self.input_names(i).get(parts[1])
            if node is not None:
                return (cat.INPUT_VALUE_TYPES.get(node.type) if len(parts) == 2 else None), None
            why = f"no input named {parts[1]!r} on this screen"
            problem = ("F22", "INVALID_ON_CLICK_ACTION_PAYLOAD", why)
        elif head == "screen":
            kind, spec, why = self._global_ref(i, parts)
            if why is None:
                return kind, spec
            problem = ("F23", "INVALID_SCREEN_DATA", why)
        else:
            problem = ("F24", "INVALID_PROPERTY_VALUE", "not a reference")
        if report:
            rule, code, why = problem
            self.issue(rule, code, path, f"${{{ref}}}: {why}")
        return None, None

    def _data_ref(
        self, i: int, parts: list[str], whose: str
    ) -> tuple[str | None, Spec, str | None]:
        """(type, schema, None) of ``data.<parts>`` on screen ``i``, or why it is missing."""
        fields = self.data_fields(i)
        if parts[0] not in fields:
            return None, None, f"{parts[0]!r} is not in {whose} data model"
        found, spec = _walk_schema(fields[parts[0]], parts[1:])
        if not found:
            return None, None, f"not in {whose} data model's properties"
        kind = spec.get("type") if spec else None
        return (kind if isinstance(kind, str) else None), spec, None

    def _global_ref(self, i: int, parts: list[str]) -> tuple[str | None, Spec, str | None]:
        if len(parts) < 4 or parts[2] not in ("form", "data"):
            return None, None, "global references read ${screen.<screen>.(form|data).<field>}"
        target = self.screen_ids.get(parts[1])
        if not self.since((4, 0)):
            return None, None, "global ${screen.…} references need Flow JSON 4.0"
        if target is None:
            return None, None, f"no screen {parts[1]!r}"
        if target == i:
            return None, None, f"use ${{{parts[2]}.{parts[3]}}} for the current screen"
        if parts[2] == "data":
            return self._data_ref(target, parts[3:], f"{parts[1]}'s")
        node = self.input_names(target).get(parts[3])
        if node is None:
            return None, None, f"screen {parts[1]!r} has no input {parts[3]!r}"
        return (cat.INPUT_VALUE_TYPES.get(node.type) if len(parts) == 4 else None), None, None


def _has_nested_example(value: Any) -> bool:
    if isinstance(value, dict):
        return "__example__" in value or any(_has_nested_example(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nested_example(v) for v in value)
    return False


def _walk_schema(spec: Any, parts: list[str]) -> tuple[bool, Spec]:
    """(whether ``${data.field.a.b}`` exists in the field's ``properties``, the schema it
    lands on — None when that cannot be known statically)."""
    for part in parts:
        if not isinstance(spec, dict):
            return False, None
        if spec.get("type") == "array":
            return True, None  # indexes and item fields are not typed statically here
        props = spec.get("properties")
        if props is None:
            return spec.get("type") == "object", None  # an untyped object
        if part not in props:
            return False, None
        spec = props[part]
    return True, spec if isinstance(spec, dict) else None
