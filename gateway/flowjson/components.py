"""Per-component rules: keys, required props, versions, enums, texts, ranges, details."""

from __future__ import annotations

import base64
import binascii
import re
import warnings
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
        since_of = cat.PROP_SINCE_OF[ctype]
        for key, value in comp.items():
            if key not in allowed:
                self.issue(
                    "F4",
                    "INVALID_PROPERTY_KEY",
                    f"{path}.{key}",
                    f"{ctype} has no property {key!r}",
                )
                continue
            prop_since = since_of.get(key)
            if prop_since is not None and not self.since(prop_since):
                self.issue(
                    "F16",
                    "INVALID_PROPERTY_KEY",
                    f"{path}.{key}",
                    f"{key} needs Flow JSON {fmt(prop_since)}",
                )
            if isinstance(value, _TEXTS):
                self._check_value(ctype, key, value, f"{path}.{key}")
        missing = required - comp.keys()
        for key in sorted(missing) if missing else ():
            self.issue("F13", "MISSING_REQUIRED_PROPERTY", path, f"{ctype} needs {key!r}")
        if node.in_form:
            self._outside_form_only(comp, path)
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
        self._check_ranges(node)
        self._check_special(node)
        return True

    def _outside_form_only(self, comp: dict[str, Any], path: str) -> None:
        """init-value and error-message are "only available when component is outside
        Form" (components page); Meta refuses them inside one from 7.0 (its
        FormComponentAttributes check), before that it ignores them."""
        for key in cat.FORM_ONLY_OUTSIDE:
            if key in comp and self.since((4, 0)):
                error = self.since(cat.FORM_ONLY_OUTSIDE_ERROR_SINCE)
                self.issue(
                    "F18",
                    "INVALID_PROPERTY_VALUE" if error else "IGNORED_INSIDE_FORM",
                    f"{path}.{key}",
                    f"{key} is only available outside a Form; inside one, use the Form's {key}s",
                )

    def _check_value(self, ctype: str, key: str, value: Any, path: str) -> None:
        limit = cat.TEXT_LIMITS_OF[ctype].get(key)
        if isinstance(value, str):
            self._check_text(limit, value, path, name=key == "name")
            if key == "name" and not value.strip() and self.since((4, 0)):
                return
            allowed = cat.ENUMS_OF[ctype].get(key)
            if allowed is not None and not is_dynamic(value) and value not in allowed:
                self.issue(
                    "F13",
                    "INVALID_ENUM_VALUE",
                    path,
                    f"{key} must be one of {', '.join(sorted(allowed))}",
                )
        elif isinstance(value, list) and key in ("text", "allowed-mime-types", "include-days"):
            enum = cat.ENUMS_OF[ctype].get(key)
            for j, item in enumerate(value):
                if not isinstance(item, str):
                    continue
                self._check_text(limit, item, f"{path}[{j}]")
                if enum is not None and item not in enum:
                    self.issue(
                        "F13",
                        "INVALID_ENUM_VALUE",
                        f"{path}[{j}]",
                        f"{item!r} is not an allowed {key} value",
                    )

    def _check_text(self, limit: int | None, value: str, path: str, *, name: bool = False) -> None:
        """F14 lengths (``limit``, from catalogue.TEXT_LIMITS) and F15 blank strings."""
        if not value.strip():
            if self.since((6, 0)) or name:
                self.issue("F15", "PATTERN_MISMATCH", path, "must not be empty or blank")
            return
        if limit is not None and len(value) > limit and not is_dynamic(value):
            self.issue(
                "F14",
                "TEXT_TOO_LONG",
                path,
                f"{len(value)} characters; Meta documents {limit} and may truncate the rest",
            )

    def _check_ranges(self, node: Node) -> None:
        comp, ctype, path = node.comp, node.type, node.path
        if ctype not in cat.RANGED:
            return
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
                self.issue("F19", "MAX_ITEMS_REQUIRED", f"{path}.{key}", f"at most {most} items")
        for key, bounds in cat.NUMBER_RANGES_OF[ctype].items():
            value = comp.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
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
        for low_key, high_key in cat.MIN_MAX_PAIRS_OF[ctype]:
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
        elif ctype == "Image":
            self._check_image(f"{path}.src", comp.get("src"), 0)
        elif ctype == "ImageCarousel" and isinstance(comp.get("images"), list):
            for j, image in enumerate(comp["images"]):
                if isinstance(image, dict):
                    self._check_image(f"{path}.images[{j}].src", image.get("src"), 0)
        items = comp.get("data-source")
        if isinstance(items, list):
            self._check_items(items, f"{path}.data-source")

    def _list_kb(self) -> int:
        return cat.LIST_IMAGE_MAX_KB if self.since((6, 0)) else cat.LIST_IMAGE_MAX_KB_BEFORE_6

    def _check_pattern(self, comp: dict[str, Any], path: str) -> None:
        if "helper-text" not in comp:  # Meta's code: MISSING_REQUIRED_PROPERTY (V6.2 chain)
            self.issue("F34", "MISSING_REQUIRED_PROPERTY", path, "pattern needs helper-text")
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
        # Meta asks for "Base64 of an image" and names no padding rule; published flows
        # (pywa's 7.1 ImageCarousel fixture) leave it out, and line breaks are common.
        data = "".join(data.split())
        try:
            raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
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
            )

    def _check_items(self, items: list[Any], base: str) -> None:
        """data-source items: keys, texts and images (the usual item costs three lookups)."""
        for j, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            self.check_keys(item, cat.ITEM_KEYS, f"{base}[{j}]", "a list item")
            for key, limit in _ITEM_TEXTS:
                text = item.get(key)
                if isinstance(text, str) and (len(text) > limit or not text.strip()):
                    self._check_text(limit, text, f"{base}[{j}].{key}")
            if "image" in item:
                self._check_image(f"{base}[{j}].image", item["image"], self._list_kb())


_TEXTS = (str, list)  # a tuple: ``str | list`` is built anew at each call
_ITEM_TEXTS = tuple(
    (key, cat.TEXT_LIMITS[f"item.{key}"]) for key in ("title", "description", "metadata")
)


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
