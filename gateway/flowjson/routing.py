"""Endpoint requirements and the routing model (F27–F29).

Meta's routing rules (Flow JSON page, "Routing model") and the INVALID_ROUTING_MODEL
messages of its error-codes page, whose samples settle what the prose leaves open: a
screen is "missing" when it is neither a key nor a destination, and "not connected" when
no route links it to the others in either direction.
"""

from __future__ import annotations

from typing import Any

from gateway.flowjson.actions import ActionRules

MAX_BRANCHES = 10


class RoutingRules(ActionRules):
    def check_routing(self) -> None:
        doc = self.doc
        if self.uses_data_exchange and "data_api_version" not in doc:
            self.issue(
                "F27",
                "MISSING_REQUIRED_PROPERTY",
                "data_api_version",
                "a data_exchange action needs data_api_version (an endpoint)",
            )
        if "data_api_version" in doc and "routing_model" not in doc:
            self.issue(
                "F27",
                "MISSING_REQUIRED_PROPERTY",
                "routing_model",
                "a flow with data_api_version needs a routing_model",
            )
        model = doc.get("routing_model")
        if isinstance(model, dict):
            self._routing_model(model)
        elif model is None:
            self._navigate_graph()

    def _routing_model(self, model: dict[str, Any]) -> None:
        graph: dict[str, list[str]] = {}
        for key, targets in model.items():
            path = f"routing_model.{key}"
            if key not in self.screen_ids:
                self._bad(path, f"Invalid screens found in the routing model: {key}")
                continue
            if not isinstance(targets, list):
                self._bad(path, "routes must be an array of screen ids")
                continue
            graph[key] = []
            for target in targets:
                if not isinstance(target, str):
                    self._bad(path, f"route targets must be screen ids, got {target!r}")
                elif target == key:
                    self._bad(path, f"{key} routes to itself")
                elif target not in self.screen_ids:
                    self._bad(path, f"{key} routes to unknown screen {target!r}")
                elif target not in graph[key]:
                    graph[key].append(target)
            if len(targets) > MAX_BRANCHES:
                self._bad(
                    path,
                    f"Number of branches exceeds the max limit of {MAX_BRANCHES} for screen: {key}",
                )
        # A destination is in the model as much as a key is (Meta's own reference example
        # is {"MY_FIRST_SCREEN": ["MY_SECOND_SCREEN"]}); a lone screen has no route to
        # declare (Meta's error page uses "routing_model": {} on a one-screen flow).
        for target in [t for targets in graph.values() for t in targets]:
            graph.setdefault(target, [])
        missing = [s for s in self.screen_ids if s not in graph]
        if missing and len(self.screen_ids) > 1:
            self._bad(
                "routing_model",
                f"Following screens are missing in the routing model: {', '.join(missing)}",
            )
        cycle = _find_cycle(graph)
        if cycle:
            self._bad(
                "routing_model",
                f"Loop detected in the routing model for screens: {' → '.join(cycle)}; only "
                "forward routes can be specified",
            )
        entries = self._shape(graph, "routing_model")
        self._routes_end_at_terminals(graph, entries)
        for i, target, where in self.edges:
            source = self.screens[i].get("id")
            if not isinstance(source, str) or source not in graph:
                continue  # reported as missing
            # Rule 2: "If there is an edge between two screens, then the user can go back
            # and forth between them" — navigating back along an edge needs no route.
            if target not in graph[source] and source not in graph.get(target, []):
                self._bad(
                    f"routing_model.{source}",
                    f"Missing direct route from screen '{source}' to screen '{target}' in the "
                    f"routing model, while it exists in the navigate action at {where}",
                )

    def _routes_end_at_terminals(self, graph: dict[str, list[str]], entries: list[str]) -> None:
        """Routing rule 6, "all routes must end at the terminal screen": an error when no
        route from an entry screen reaches one. A screen without routes that is not
        terminal is only a warning: Meta's Sign in, Register, Get a quote and Book a table
        templates open TERMS_AND_CONDITIONS that way and close it with Back (and an
        endpoint may end the flow from any screen by answering SUCCESS)."""
        terminal = {s for s in graph if self.screens[self.screen_ids[s]].get("terminal") is True}
        for entry in entries:
            if not terminal & _reachable(graph, [entry]):
                self._bad(
                    f"routing_model.{entry}",
                    f"All routes must end at a terminal screen: none is reachable from {entry}",
                )
        for screen, targets in graph.items():
            if not targets and screen not in terminal:
                keyed = screen in self.doc["routing_model"]
                self.issue(
                    "F28",
                    "NON_TERMINAL_LEAF_SCREEN",
                    f"routing_model.{screen}" if keyed else "routing_model",
                    f"{screen} has no route onward and is not terminal: users can only go back",
                )

    def _navigate_graph(self) -> None:
        """Without an endpoint Meta derives the routes from navigate actions."""
        graph: dict[str, list[str]] = {s: [] for s in self.screen_ids}
        for i, target, _ in self.edges:
            source = self.screens[i].get("id")
            if isinstance(source, str) and target not in graph[source]:
                graph[source].append(target)
        for source, targets in graph.items():
            if len(targets) > MAX_BRANCHES:
                i = self.screen_ids[source]
                self.issue(
                    "F29",
                    "INVALID_ROUTING_MODEL",
                    f"screens[{i}]",
                    f"Number of branches exceeds the max limit of {MAX_BRANCHES} for screen: "
                    f"{source}. Reduce navigate actions for the screen.",
                )
        self._shape(graph, None)

    def _shape(self, graph: dict[str, list[str]], path: str | None) -> list[str]:
        """Entry screens and connectivity (the same rules with or without an endpoint);
        returns the entry screens, in screen order."""
        inbound = {t for targets in graph.values() for t in targets}
        entries = [s for s in self.screen_ids if s in graph and s not in inbound]
        rule = "F28" if path is not None else "F29"
        if graph and not entries:
            self.issue(
                rule,
                "INVALID_ROUTING_MODEL",
                path or "screens",
                "No entry screen found in the routing model: every screen is a route target"
                + ("" if path else " (add a screen no navigate action points to)"),
            )
        # Weakly connected: Meta's samples flag a screen linked to no other, and a screen
        # reached only from a second entry is still "connected with the rest".
        first = next((s for s in self.screen_ids if s in graph), None)
        linked = _linked(graph, first) if first is not None else set()
        apart = [s for s in self.screen_ids if s in graph and s not in linked]
        if apart and path is not None:
            self._bad(
                path,
                "Following screens are not connected with the rest of the screens: "
                f"{', '.join(apart)}. All screens should be connected.",
            )
        elif apart:  # without a model, point at each screen
            for sid in apart:
                self.issue(
                    rule,
                    "INVALID_ROUTING_MODEL",
                    f"screens[{self.screen_ids[sid]}]",
                    "Following screens are not connected with the rest of the screens via "
                    f"navigate screen action: {sid}. All screens should be connected.",
                )
        return entries

    def _bad(self, path: str, message: str) -> None:
        self.issue("F28", "INVALID_ROUTING_MODEL", path, message)


def _reachable(graph: dict[str, list[str]], start: list[str]) -> set[str]:
    seen, stack = set(start), list(start)
    while stack:
        for nxt in graph.get(stack.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _linked(graph: dict[str, list[str]], start: str) -> set[str]:
    """Screens joined to ``start`` by routes in either direction."""
    both: dict[str, list[str]] = {s: list(t) for s, t in graph.items()}
    for source, targets in graph.items():
        for target in targets:
            both.setdefault(target, []).append(source)
    return _reachable(both, [start])


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A loop in ``graph`` as the screens along it, or None. Depth-first without
    recursion: a chain of screens may be longer than the interpreter's stack."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in graph:
        if root in state:
            continue
        state[root] = 1
        path = [root]
        pending = [iter(graph.get(root, []))]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append(iter(graph.get(nxt, [])))
    return None
