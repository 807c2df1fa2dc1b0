"""Structure and component rules (F2–F20, F31–F35) over the raw document.

The checker works on the decoded JSON, not on the typed models, so one pass reports
every problem (a model would stop at the first) with Meta's code and the exact path.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any, Literal

from gateway.flowjson import catalogue as cat
from gateway.flowjson.issues import FlowJSONIssue, Node, Severity, fmt, is_dynamic, parse_version

_SCREEN_ID = re.compile(r"^[A-Za-z_]+$")


class Checker:
    """Collects the issues of one document; rule modules add their checks as mixins."""

    def __init__(self, doc: dict[str, Any], purpose: Literal["publish", "send"]) -> None:
        self.doc = doc
        self.purpose = purpose
        self.issues: list[FlowJSONIssue] = []
        self.version: cat.Version = (7, 3)
        self.screens: list[dict[str, Any]] = []
        self.screen_ids: dict[str, int] = {}
        self.nodes: list[list[Node]] = []  # per screen

    def issue(
        self, rule: str, error: str, path: str, message: str, severity: Severity = "error"
    ) -> None:
        self.issues.append(FlowJSONIssue(error, severity, message, path, rule=rule))

    def since(self, needed: cat.Version) -> bool:
        return self.version >= needed

    # -- the document ----------------------------------------------------------------

    def check_document(self) -> bool:
        """Top-level keys and versions; False when there are no screens to look at."""
        doc = self.doc
        allowed, _ = cat.TOP_KEYS
        for key in doc:
            if key not in allowed:
                self.issue("F4", "INVALID_PROPERTY_KEY", key, f"unknown top-level key {key!r}")
        self._check_version()
        self._check_data_api_version()
        if "data_channel_uri" in doc and self.since((3, 0)):
            self.issue(
                "F5",
                "INVALID_PROPERTY_KEY",
                "data_channel_uri",
                "data_channel_uri is only allowed before Flow JSON 3.0; set the "
                "flow's endpoint_uri instead",
            )
        screens = doc.get("screens")
        if not isinstance(screens, list):
            self.issue("F13", "MISSING_REQUIRED_PROPERTY", "screens", "screens is required")
            return False
        if not screens:
            self.issue("F6", "MIN_ITEMS_REQUIRED", "screens", "a flow needs at least one screen")
            return False
        if len(screens) > cat.MAX_SCREENS:
            self.issue(
                "F6",
                "MAX_SCREENS_NUMBER",
                "screens",
                f"{len(screens)} screens; the maximum is {cat.MAX_SCREENS}",
            )
        self.screens = [s if isinstance(s, dict) else {} for s in screens]
        return True

    def _check_version(self) -> None:
        raw = self.doc.get("version")
        if raw is None:
            self.issue("F2", "MISSING_FLOW_JSON_VERSION", "version", "version is required")
            return
        version = parse_version(raw)
        if version is None:
            self.issue(
                "F2",
                "INVALID_FLOW_JSON_VERSION",
                "version",
                f'version must be "major.minor", got {raw!r}',
            )
            return
        self.version = version
        allowed = cat.PUBLISHABLE if self.purpose == "publish" else cat.SENDABLE
        if version not in allowed:
            verb = "published" if self.purpose == "publish" else "sent"
            self.issue(
                "F2",
                "UNSUPPORTED_FLOW_JSON_VERSION",
                "version",
                f"Flow JSON {raw} can no longer be {verb} (supported: "
                f"{', '.join(fmt(v) for v in sorted(allowed))})",
            )
        elif version != cat.RECOMMENDED and self.purpose == "publish":
            self.issue(
                "F2",
                "NOT_RECOMMENDED_FLOW_JSON_VERSION",
                "version",
                f"Meta recommends Flow JSON {fmt(cat.RECOMMENDED)}",
                "warning",
            )

    def _check_data_api_version(self) -> None:
        raw = self.doc.get("data_api_version")
        if raw is None:
            return
        version = parse_version(raw)
        if version not in cat.DATA_API_VERSIONS:
            self.issue(
                "F3",
                "NO_SUPPORTED_DATA_API_VERSION",
                "data_api_version",
                f"data_api_version must be 3.0 or 4.0, got {raw!r}",
            )
        elif version != cat.RECOMMENDED_DATA_API:
            self.issue(
                "F3",
                "NOT_RECOMMENDED_DATA_API_VERSION",
                "data_api_version",
                "Meta recommends data API 4.0",
                "warning",
            )

    # -- screens ---------------------------------------------------------------------

    def check_screens(self) -> None:
        allowed, required = cat.SCREEN_KEYS
        for i, screen in enumerate(self.screens):
            path = f"screens[{i}]"
            for key in screen:
                if key not in allowed:
                    self.issue(
                        "F4",
                        "INVALID_PROPERTY_KEY",
                        f"{path}.{key}",
                        f"unknown screen property {key!r}",
                    )
            for key in sorted(required - screen.keys()):
                self.issue("F13", "MISSING_REQUIRED_PROPERTY", path, f"screen needs {key!r}")
            self._check_screen_id(i, screen.get("id"))
            if isinstance(screen.get("title"), str):
                self._check_text("screen.title", screen["title"], f"{path}.title")
            if screen.get("sensitive") is not None and not self.since((5, 1)):
                self.issue(
                    "F16",
                    "INVALID_PROPERTY_KEY",
                    f"{path}.sensitive",
                    "sensitive needs Flow JSON 5.1",
                )
            if screen.get("refresh_on_back") is True and "data_api_version" not in self.doc:
                self.issue(
                    "F27",
                    "INVALID_PROPERTY_VALUE",
                    f"{path}.refresh_on_back",
                    "refresh_on_back needs data_api_version (an endpoint)",
                )
            layout = screen.get("layout")
            children: Any = []
            if isinstance(layout, dict):
                for key in layout:
                    if key not in ("type", "children"):
                        self.issue(
                            "F4",
                            "INVALID_PROPERTY_KEY",
                            f"{path}.layout.{key}",
                            f"unknown layout property {key!r}",
                        )
                if layout.get("type") != "SingleColumnLayout":
                    self.issue(
                        "F8",
                        "INVALID_PROPERTY_VALUE",
                        f"{path}.layout.type",
                        "layout.type must be SingleColumnLayout",
                    )
                children = layout.get("children", [])
            nodes: list[Node] = []
            if isinstance(children, list):
                self._walk(children, f"{path}.layout.children", nodes, 0, False, False, ())
            self.nodes.append(nodes)
        self._check_terminals()

    def _check_screen_id(self, i: int, sid: Any) -> None:
        path = f"screens[{i}].id"
        if not isinstance(sid, str):
            return
        if sid in self.screen_ids:
            self.issue("F7", "DUPLICATE_SCREEN_IDS", path, f"screen id {sid!r} is used twice")
        else:
            self.screen_ids[sid] = i
        if sid.lower() == "success":
            self.issue("F7", "SCREEN_ID_IS_RESERVED_KEYWORD", path, "'SUCCESS' is reserved")
        elif not _SCREEN_ID.match(sid):
            self.issue(
                "F7",
                "PATTERN_MISMATCH",
                path,
                f"screen id {sid!r} may only contain letters and underscores",
            )

    def _check_terminals(self) -> None:
        terminal = [i for i, s in enumerate(self.screens) if s.get("terminal") is True]
        for i, screen in enumerate(self.screens):
            if "success" in screen and i not in terminal:
                self.issue(
                    "F9",
                    "INVALID_PROPERTY_VALUE",
                    f"screens[{i}].success",
                    "success is only allowed on terminal screens",
                )
        if not terminal:
            self.issue(
                "F9", "MISSING_TERMINAL_SCREEN", "screens", "at least one screen must be terminal"
            )
            return
        for i in terminal:
            if not any(n.type == "Footer" for n in self.nodes[i]):
                self.issue(
                    "F9",
                    "MISSING_FOOTER_ON_TERMINAL_SCREEN",
                    f"screens[{i}]",
                    "a terminal screen needs a Footer",
                )
        if all(self.screens[i].get("success") is False for i in terminal):
            i = terminal[0]
            self.issue(
                "F9",
                "INVALID_PROPERTY_VALUE",
                f"screens[{i}].success",
                "at least one terminal screen must have success true",
            )

    # -- the component tree ----------------------------------------------------------

    def _walk(
        self,
        children: list[Any],
        base: str,
        out: list[Node],
        if_depth: int,
        in_form: bool,
        in_branch: bool,
        parents: tuple[str, ...],
    ) -> None:
        for k, comp in enumerate(children):
            path = f"{base}[{k}]"
            if not isinstance(comp, dict):
                self.issue("F13", "INVALID_PROPERTY_TYPE", path, "a component must be an object")
                continue
            ctype = comp.get("type")
            if not isinstance(ctype, str):
                self.issue("F13", "MISSING_REQUIRED_TYPE_PROPERTY", path, "component has no type")
                continue
            depth = if_depth + (ctype == "If")
            node = Node(path, comp, ctype, depth, in_form, in_branch, parents)
            out.append(node)
            if not self._check_component(node):
                continue
            inner = (*parents, ctype)
            if ctype == "Form":
                self._walk_list(
                    comp.get("children"), f"{path}.children", out, depth, True, in_branch, inner
                )
            elif ctype == "If":
                for key in ("then", "else"):
                    self._walk_list(
                        comp.get(key), f"{path}.{key}", out, depth, in_form, True, inner
                    )
            elif ctype == "Switch" and isinstance(comp.get("cases"), dict):
                for case, items in comp["cases"].items():
                    self._walk_list(items, f"{path}.cases.{case}", out, depth, in_form, True, inner)

    def _walk_list(self, items: Any, base: str, out: list[Node], *ctx: Any) -> None:
        if isinstance(items, list):
            self._walk(items, base, out, *ctx)

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
            try:
                re.compile(pattern)
            except re.error as exc:
                self.issue(
                    "F34",
                    "INVALID_PROPERTY_VALUE",
                    f"{path}.pattern",
                    f"pattern is not a valid regular expression: {exc}",
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
        allowed, required = cat.ITEM_KEYS
        for j, item in enumerate(items):
            path = f"{base}[{j}]"
            if not isinstance(item, dict):
                continue
            for key in item:
                if key not in allowed:
                    self.issue(
                        "F4",
                        "INVALID_PROPERTY_KEY",
                        f"{path}.{key}",
                        f"list item has no property {key!r}",
                    )
                elif isinstance(item[key], str) and key in ("title", "description", "metadata"):
                    self._check_text(f"item.{key}", item[key], f"{path}.{key}")
            for key in sorted(required - item.keys()):
                self.issue("F13", "MISSING_REQUIRED_PROPERTY", path, f"list item needs {key!r}")
