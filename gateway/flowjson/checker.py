"""Structure and component rules (F2–F20, F31–F35) over the raw document.

The checker works on the decoded JSON, not on the typed models, so one pass reports
every problem (a model would stop at the first) with Meta's code and the exact path.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from gateway.flowjson import catalogue as cat
from gateway.flowjson.issues import FlowJSONIssue, Node, fmt, parse_version, severity_of

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
        self._inputs: dict[int, dict[str, Node]] = {}  # per screen, built on demand

    def issue(self, rule: str, error: str, path: str, message: str) -> None:
        """Severity follows from the code (issues.severity_of: Meta's codes are errors)."""
        self.issues.append(FlowJSONIssue(error, severity_of(error), message, path, rule=rule))

    def check_keys(
        self, obj: dict[str, Any], keys: tuple[frozenset[str], frozenset[str]], path: str, what: str
    ) -> None:
        """F4 unknown keys and F13 missing required keys of one object."""
        allowed, required = keys
        if obj.keys() <= allowed and required <= obj.keys():
            return  # the usual case, decided in C
        for key in obj:
            if key not in allowed:
                self.issue(
                    "F4", "INVALID_PROPERTY_KEY", f"{path}.{key}", f"{what} has no property {key!r}"
                )
        missing = required - obj.keys()
        for key in sorted(missing) if missing else ():
            self.issue("F13", "MISSING_REQUIRED_PROPERTY", path, f"{what} needs {key!r}")

    def since(self, needed: cat.Version) -> bool:
        return self.version >= needed

    def input_names(self, i: int) -> dict[str, Node]:
        """Inputs of screen ``i`` by name (built once: references ask for them often)."""
        names = self._inputs.get(i)
        if names is None:
            names = self._inputs[i] = {
                n.comp["name"]: n
                for n in self.nodes[i]
                if n.type in cat.INPUTS and isinstance(n.comp.get("name"), str)
            }
        return names

    # -- the document ----------------------------------------------------------------

    def check_document(self) -> bool:
        """Top-level keys and versions; False when there are no screens to look at."""
        doc = self.doc
        allowed, _ = cat.TOP_KEYS
        for key in doc:
            if key not in allowed:
                # str(): a Mapping given directly may have keys JSON text cannot have.
                self.issue("F4", "INVALID_PROPERTY_KEY", str(key), f"unknown top-level key {key!r}")
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
            )

    # -- screens ---------------------------------------------------------------------

    def check_screens(self) -> None:
        for i, screen in enumerate(self.screens):
            path = f"screens[{i}]"
            self.check_keys(screen, cat.SCREEN_KEYS, path, "a screen")
            self._check_screen_id(i, screen.get("id"))
            if isinstance(screen.get("title"), str):
                self._check_text(None, screen["title"], f"{path}.title")
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

    # Implemented by ComponentRules ---------------------------------------------------

    def _check_component(self, node: Node) -> bool:
        raise NotImplementedError

    def _check_text(self, limit: int | None, value: str, path: str, *, name: bool = False) -> None:
        raise NotImplementedError
