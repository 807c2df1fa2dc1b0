"""Per-component rules: keys, required props, versions, enums, texts, ranges, details."""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from collections.abc import Iterator
from typing import Any

from gateway.flowjson import catalogue as cat
from gateway.flowjson.checker import Checker
from gateway.flowjson.issues import Node, fmt, is_dynamic


class ComponentRules(Checker):
    def _check_component(self, node: Node) -> bool:
        """Keys, required props, version, enums, lengths, ranges; False if unknown type."""
        comp, ctype, path = node.comp, node.type, node.path
        keys = cat.COMPONENT_KEYS.get(ctype)
        if keys is None:
            self.issue(
                "F13", "INVALID_ENUM_VALUE", f"{path}.type", f"unknown component type {ctype!r}"
            )
            return False
        since = cat.COMPONENT_SINCE.get(ctype)
        if since is not None and not self.since(since):
            self.issue(
                "F16",
                "INVALID_ENUM_VALUE",
                f"{path}.type",
                f"{ctype} needs Flow JSON {fmt(since)} (this flow is {fmt(self.version)})",
            )
        allowed, required = keys
        for key in comp:
            if key not in allowed:
                self.issue(
                    "F4",
                    "INVALID_PROPERTY_KEY",
                    f"{path}.{key}",
                    f"{ctype} has no property {key!r}",
                )
                continue
            prop_since = cat.lookup(cat.PROP_SINCE, ctype, key)
            if isinstance(prop_since, tuple) and not self.since(prop_since):
                self.issue(
                    "F16",
                    "INVALID_PROPERTY_KEY",
                    f"{path}.{key}",
                    f"{key} needs Flow JSON {fmt(prop_since)}",
                )
        for key in sorted(required - comp.keys()):
            self.issue("F13", "MISSING_REQUIRED_PROPERTY", path, f"{ctype} needs {key!r}")
        if (
            ctype in ("CheckboxGroup", "RadioButtonsGroup")
            and self.since((4, 0))
            and ("label" not in comp)
        ):
            self.issue(
                "F13",
                "MISSING_REQUIRED_PROPERTY",
                path,
                f"{ctype} needs 'label' from Flow JSON 4.0",
            )
        for key, value in comp.items():
            if key in allowed:
                self._check_value(ctype, key, value, f"{path}.{key}")
        self._check_ranges(node)
        self._check_special(node)
        return True

    def _check_value(self, ctype: str, key: str, value: Any, path: str) -> None:
        if isinstance(value, str):
            self._check_text(f"{ctype}.{key}", value, path)
            if key == "name" and not value.strip() and self.since((4, 0)):
                return
            allowed = cat.lookup(cat.ENUMS, ctype, key)
            if isinstance(allowed, frozenset) and not is_dynamic(value) and value not in allowed:
                self.issue(
                    "F13",
                    "INVALID_ENUM_VALUE",
                    path,
                    f"{key} must be one of {', '.join(sorted(allowed))}",
                )
        elif isinstance(value, list) and key in ("text", "allowed-mime-types", "include-days"):
            enum = cat.lookup(cat.ENUMS, ctype, key)
            for j, item in enumerate(value):
                if not isinstance(item, str):
                    continue
                self._check_text(f"{ctype}.{key}", item, f"{path}[{j}]")
                if isinstance(enum, frozenset) and item not in enum:
                    self.issue(
                        "F13",
                        "INVALID_ENUM_VALUE",
                        f"{path}[{j}]",
                        f"{item!r} is not an allowed {key} value",
                    )

    def _check_text(self, where: str, value: str, path: str) -> None:
        """F14 lengths and F15 blank strings, for static text."""
        if not value.strip():
            if self.since((6, 0)) or where.endswith(".name"):
                self.issue("F15", "PATTERN_MISMATCH", path, "must not be empty or blank")
            return
        limit = cat.TEXT_LIMITS.get(where)
        if limit is not None and not is_dynamic(value) and len(value) > limit:
            self.issue(
                "F14",
                "INVALID_PROPERTY_VALUE",
                path,
                f"{len(value)} characters; the limit is {limit}",
            )

    def _check_ranges(self, node: Node) -> None:
        comp, ctype, path = node.comp, node.type, node.path
        counted = cat.ITEM_COUNTS.get(ctype)
        if counted is not None and isinstance(comp.get(counted[0]), list):
            key, fewest, most = counted
            n = len(comp[key])
            if ctype == "Dropdown" and any(isinstance(i, dict) and "image" in i for i in comp[key]):
                most = 100  # image items halve the limit
            if n < fewest:
                self.issue(
                    "F19", "MIN_ITEMS_REQUIRED", f"{path}.{key}", f"at least {fewest} item(s)"
                )
            elif n > most:
                self.issue("F19", "MAX_ITEMS_EXCEEDED", f"{path}.{key}", f"at most {most} items")
        for key, value in comp.items():
            bounds = cat.NUMBER_RANGES.get(f"{ctype}.{key}")
            if bounds is not None and isinstance(value, int) and not isinstance(value, bool):
                if value < bounds[0]:
                    self.issue(
                        "F19",
                        "MINIMUM_VALUE_REQUIRED",
                        f"{path}.{key}",
                        f"must be at least {bounds[0]}",
                    )
                elif value > bounds[1]:
                    self.issue(
                        "F19",
                        "MAXIMUM_VALUE_REQUIRED",
                        f"{path}.{key}",
                        f"must be at most {bounds[1]}",
                    )
        for low_key, high_key in cat.MIN_MAX_PAIRS:
            low: Any = comp.get(low_key)
            high: Any = comp.get(high_key)
            comparable = type(low) is type(high) and isinstance(low, int | str)
            if comparable and not is_dynamic(low) and low > high:
                self.issue(
                    "F19",
                    "MIN_VALUE_GREATER_THAN_MAX",
                    f"{path}.{low_key}",
                    f"{low_key} {low!r} is greater than {high_key} {high!r}",
                )

    def _check_special(self, node: Node) -> None:
        comp, ctype, path = node.comp, node.type, node.path
        if ctype == "Footer":
            has = [k for k in ("left-caption", "center-caption", "right-caption") if k in comp]
            if ("center-caption" in has and len(has) > 1) or has in (
                ["left-caption"],
                ["right-caption"],
            ):
                self.issue(
                    "F20",
                    "INVALID_DEPENDENCIES",
                    path,
                    "use center-caption alone, or left-caption with right-caption",
                )
        elif ctype == "TextInput" and "pattern" in comp:
            self._check_pattern(comp, path)
        images: Iterator[tuple[str, Any, int]] = iter(())
        if ctype == "Image":
            images = iter([(f"{path}.src", comp.get("src"), 0)])
        elif ctype == "ImageCarousel" and isinstance(comp.get("images"), list):
            images = (
                (f"{path}.images[{j}].src", im.get("src"), 0)
                for j, im in enumerate(comp["images"])
                if isinstance(im, dict)
            )
        elif isinstance(comp.get("data-source"), list):
            images = (
                (f"{path}.data-source[{j}].image", it.get("image"), self._list_kb())
                for j, it in enumerate(comp["data-source"])
                if isinstance(it, dict) and "image" in it
            )
        for where, src, max_kb in images:
            self._check_image(where, src, max_kb)
        if isinstance(comp.get("data-source"), list):
            self._check_items(ctype, comp["data-source"], f"{path}.data-source")

    def _list_kb(self) -> int:
        return cat.LIST_IMAGE_MAX_KB if self.since((6, 0)) else cat.LIST_IMAGE_MAX_KB_BEFORE_6

    def _check_pattern(self, comp: dict[str, Any], path: str) -> None:
        if "helper-text" not in comp:
            self.issue("F34", "INVALID_DEPENDENCIES", path, "pattern needs helper-text")
        if comp.get("input-type", "text") not in ("text", "number", "password", "passcode"):
            self.issue(
                "F34",
                "INVALID_PROPERTY_VALUE",
                f"{path}.pattern",
                "pattern only applies to text, number, password and passcode inputs",
            )
        pattern = comp["pattern"]
        if isinstance(pattern, str) and not is_dynamic(pattern):
            problem = _regex_problem(pattern)
            if problem:
                self.issue(
                    "F34",
                    "INVALID_PROPERTY_VALUE",
                    f"{path}.pattern",
                    f"pattern is not a valid regular expression: {problem}",
                )

    def _check_image(self, path: str, src: Any, max_kb: int) -> None:
        if not isinstance(src, str) or is_dynamic(src):
            return
        data = src.split(",", 1)[1] if src.startswith("data:") else src
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.issue("F35", "INVALID_PROPERTY_VALUE_FORMAT", path, "not valid base64 image data")
            return
        kb = len(raw) / 1024
        if max_kb and kb > max_kb:
            self.issue(
                "F35",
                "INVALID_PROPERTY_VALUE",
                path,
                f"image is {kb:.0f} KB; list images may be at most {max_kb} KB",
            )
        elif not max_kb and kb > cat.IMAGE_RECOMMENDED_KB:
            self.issue(
                "F35",
                "IMAGE_TOO_LARGE",
                path,
                f"image is {kb:.0f} KB; Meta recommends at most {cat.IMAGE_RECOMMENDED_KB} KB",
                "warning",
            )

    def _check_items(self, ctype: str, items: list[Any], base: str) -> None:
        for j, item in enumerate(items):
            path = f"{base}[{j}]"
            if not isinstance(item, dict):
                continue
            self.check_keys(item, cat.ITEM_KEYS, path, "a list item")
            for key in ("title", "description", "metadata"):
                if isinstance(item.get(key), str):
                    self._check_text(f"item.{key}", item[key], f"{path}.{key}")


def _regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` does not compile, or None."""
    try:
        with warnings.catch_warnings():  # "possible nested set": a hint, not a failure
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error as exc:
        return str(exc)
    except OverflowError:  # a{4294967296}
        return "a repetition count is too large"
    except RecursionError:  # the parser recurses once per group
        return "groups are nested too deeply"
    return None
