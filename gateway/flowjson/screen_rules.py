"""Per-screen rules over the walked component list (F11, F12, F17, F18, F31–F33)."""

from __future__ import annotations

from typing import Any

from gateway.flowjson import catalogue as cat
from gateway.flowjson.components import ComponentRules
from gateway.flowjson.issues import Node


def _footers(items: Any) -> int:
    """Footers on the worst execution path: If/Switch branches are alternatives."""
    if not isinstance(items, list):
        return 0
    total = 0
    for comp in items:
        if not isinstance(comp, dict):
            continue
        ctype = comp.get("type")
        if ctype == "Footer":
            total += 1
        elif ctype == "Form":
            total += _footers(comp.get("children"))
        elif ctype == "If":
            total += max(_footers(comp.get("then")), _footers(comp.get("else")))
        elif ctype == "Switch" and isinstance(comp.get("cases"), dict):
            total += max((_footers(c) for c in comp["cases"].values()), default=0)
    return total


class ScreenRules(ComponentRules):
    def check_screen_aggregates(self) -> None:
        carousels = 0
        for i, nodes in enumerate(self.nodes):
            layout = self.screens[i].get("layout")
            children = layout.get("children") if isinstance(layout, dict) else None
            if len(nodes) > cat.MAX_COMPONENTS:
                self.issue(
                    "F11",
                    "MAX_ALLOWED_COMPONENTS_PER_SCREEN",
                    f"screens[{i}].layout.children",
                    f"{len(nodes)} components; the maximum is {cat.MAX_COMPONENTS}",
                )
            self._caps(nodes)
            if _footers(children) > 1:
                second = [n for n in nodes if n.type == "Footer"][1]
                self.issue("F12", "MORE_THAN_ONE_FOOTER", second.path, "a screen has one Footer")
            carousels += sum(n.type == "ImageCarousel" for n in nodes)
            if carousels > cat.MAX_CAROUSELS_PER_FLOW:
                node = [n for n in nodes if n.type == "ImageCarousel"][-1]
                self.issue(
                    "F12",
                    "INVALID_PROPERTY_VALUE",  # Meta's ImageCarousel check (V7.1 chain)
                    node.path,
                    f"at most {cat.MAX_CAROUSELS_PER_FLOW} ImageCarousels per flow",
                )
                carousels = -(10**6)  # report once
            self._names(nodes)
            self._sensitive(i)
            self._forms(nodes)
            self._conditionals(nodes)
            self._navigation_list(i, nodes)
            self._rich_text(nodes)

    def _caps(self, nodes: list[Node]) -> None:
        for ctype, (limit, code) in cat.PER_SCREEN_CAPS.items():
            found = [n for n in nodes if n.type == ctype]
            if len(found) > limit:
                self.issue("F12", code, found[limit].path, f"at most {limit} {ctype} per screen")
        pickers = [n for n in nodes if n.type in cat.PICKERS]
        if len(pickers) > 1:
            self.issue(
                "F12",
                cat.PER_TYPE_CAP,
                pickers[1].path,
                "one PhotoPicker or DocumentPicker per screen",
            )

    def _names(self, nodes: list[Node]) -> None:
        seen: set[str] = set()
        for n in nodes:
            name = n.comp.get("name")
            if n.type not in cat.INPUTS or not isinstance(name, str):
                continue
            if name in seen:
                self.issue(
                    "F17",
                    "DUPLICATE_FORM_COMPONENT_NAMES",
                    f"{n.path}.name",
                    f"input name {name!r} is used twice on this screen",
                )
            seen.add(name)

    def _sensitive(self, i: int) -> None:
        """``sensitive`` lists "the names of the fields in the screen" (Flow JSON page)."""
        fields = self.screens[i].get("sensitive")
        if not isinstance(fields, list):
            return
        names = self.input_names(i)
        for j, name in enumerate(fields):
            if not isinstance(name, str) or name not in names:
                self.issue(
                    "F17",
                    "INVALID_SENSITIVE_FIELD",
                    f"screens[{i}].sensitive[{j}]",
                    f"{name!r} is not an input on this screen",
                )

    def _forms(self, nodes: list[Node]) -> None:
        forms = [n for n in nodes if n.type == "Form"]
        for n in nodes:
            if n.type not in cat.INPUTS or n.in_form:
                continue
            if not self.since((4, 0)):  # the error page's code and sample for this case
                where, code = "inside a Form before Flow JSON 4.0", "KEYWORD_ONE_OF"
            elif forms:
                where, code = "inside the screen's Form", "COMPONENTS_OUTSIDE_FORM"
            else:
                continue
            self.issue("F18", code, n.path, f"inputs must be {where}")
        pickers = {
            n.comp["name"]
            for n in nodes
            if n.type in cat.PICKERS and isinstance(n.comp.get("name"), str)
        }
        for form in forms:
            init = form.comp.get("init-values")
            if isinstance(init, dict):
                for name in init:
                    if name in pickers:
                        self.issue(
                            "F18",
                            "NATIVE_COMPONENT_IN_FORM_INIT_VALUES",
                            f"{form.path}.init-values.{name}",
                            "a PhotoPicker or DocumentPicker cannot be initialised",
                        )

    def _conditionals(self, nodes: list[Node]) -> None:
        allowed_children = cat.IF_CHILDREN_71 if self.since((7, 1)) else cat.IF_CHILDREN
        for n in nodes:
            parent = n.parents[-1] if n.in_branch and n.parents else None
            nested_in_switch = parent == "Switch" and n.type in ("If", "Switch")
            if parent in ("If", "Switch") and (n.type not in allowed_children or nested_in_switch):
                self.issue(
                    "F31",
                    "INVALID_PROPERTY_VALUE",
                    n.path,
                    f"{n.type} is not allowed inside {parent}",
                )
            if n.type == "Footer" and n.if_depth > 1:
                self.issue(
                    "F31",
                    "INVALID_PROPERTY_VALUE",
                    n.path,
                    "a Footer may only sit in the first level of If",
                )
            if n.type == "If":
                self._if(n)
            elif n.type == "Switch":
                self._switch(n)

    def _if(self, n: Node) -> None:
        if n.if_depth > cat.MAX_IF_DEPTH:
            self.issue(
                "F31",
                "MAXIMUM_IF_NESTING",
                n.path,
                f"If may be nested at most {cat.MAX_IF_DEPTH} levels",
            )
        then, other = n.comp.get("then"), n.comp.get("else")
        if isinstance(then, list) and not then:
            self.issue("F31", "INVALID_PROPERTY_VALUE", f"{n.path}.then", "then must not be empty")
        if (_footers(then) > 0) != (_footers(other) > 0):
            self.issue(
                "F31",
                "MISSING_FOOTER_IN_IF_ELSE_BRANCHES",
                n.path,
                "a Footer in one branch of If must be in both",
            )

    def _switch(self, n: Node) -> None:
        cases = n.comp.get("cases")
        if not isinstance(cases, dict):
            return
        if not cases:
            self.issue("F31", "EMPTY_SWITCH_CASES", f"{n.path}.cases", "cases must not be empty")
        with_footer = [_footers(c) > 0 for c in cases.values()]
        if any(with_footer) and not all(with_footer):
            self.issue(
                "F31",
                "MISSING_FOOTER_IN_SWITCH_BRANCHES",
                n.path,
                "a Footer in one case of Switch must be in every case",
            )

    def _navigation_list(self, i: int, nodes: list[Node]) -> None:
        lists = [n for n in nodes if n.type == "NavigationList"]
        if not lists:
            return
        first = lists[0]
        if len(lists) != len(nodes):
            self.issue(
                "F32",
                "INVALID_PROPERTY_VALUE",
                first.path,
                "a NavigationList must be alone on its screen",
            )
        if self.screens[i].get("terminal") is True:
            self.issue(
                "F32",
                "INVALID_PROPERTY_KEY",  # Meta's NavigationListOnTerminalScreen check
                first.path,
                "a NavigationList cannot be on a terminal screen",
            )
        for n in lists:
            items = n.comp.get("list-items")
            if not isinstance(items, list):
                continue
            dicts = [it for it in items if isinstance(it, dict)]
            if sum("badge" in it for it in dicts) > 1:
                self.issue(
                    "F32",
                    "INVALID_PROPERTY_VALUE",
                    f"{n.path}.list-items",
                    "only one item may have a badge",
                )
            if "on-click-action" in n.comp and any("on-click-action" in it for it in dicts):
                self.issue(
                    "F32",
                    "INVALID_PROPERTY_VALUE",
                    n.path,
                    "on-click-action goes on the list or on its items, not both",
                )
            if n.comp.get("media-size") == "large" and any("end" in it for it in dicts):
                self.issue(
                    "F32",
                    "INVALID_PROPERTY_VALUE",
                    f"{n.path}.media-size",
                    "items with 'end' cannot use media-size large",
                )
            self._nav_items(n.path, items)

    def _nav_items(self, base: str, items: list[Any]) -> None:
        for j, item in enumerate(items):
            path = f"{base}.list-items[{j}]"
            if not isinstance(item, dict):
                continue
            self.check_keys(item, cat.NAV_ITEM_KEYS, path, "a navigation item")
            for part in ("main-content", "end"):
                content = item.get(part)
                if isinstance(content, dict):
                    self.check_keys(content, cat.NAV_CONTENT_KEYS, f"{path}.{part}", part)
                    for key, value in content.items():
                        if isinstance(value, str):
                            limit = cat.TEXT_LIMITS.get(f"nav.{part}.{key}")
                            self._check_text(limit, value, f"{path}.{part}.{key}")
            if isinstance(item.get("badge"), str):
                self._check_text(cat.TEXT_LIMITS["nav.badge"], item["badge"], f"{path}.badge")
            tags = item.get("tags")
            if isinstance(tags, list) and len(tags) > 3:
                self.issue("F19", "MAX_ITEMS_REQUIRED", f"{path}.tags", "at most 3 tags")
            start = item.get("start")
            if isinstance(start, dict):
                self.check_keys(start, cat.NAV_START_KEYS, f"{path}.start", "start")
                self._check_image(f"{path}.start.image", start.get("image"), self._list_kb())

    def _rich_text(self, nodes: list[Node]) -> None:
        rich = [n for n in nodes if n.type == "RichText"]
        if not rich:
            return
        others = [n for n in nodes if n.type != "RichText"]
        allowed_with = {"Footer"} if self.since((6, 3)) else set()
        if any(n.type not in allowed_with for n in others):
            rule = "only with a Footer" if allowed_with else "alone on its screen"
            message = f"RichText must be {rule}"
            self.issue("F33", "INVALID_RICHTEXT_PLACEMENT", rich[0].path, message)
