"""Endpoint requirements and the routing model (F27–F29)."""

from __future__ import annotations

from typing import Any

from gateway.flowjson.refs import RefRules

MAX_BRANCHES = 10


class RoutingRules(RefRules):
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
        ids = list(self.screen_ids)
        graph: dict[str, list[str]] = {}
        for key, targets in model.items():
            path = f"routing_model.{key}"
            if key not in self.screen_ids:
                self._bad(path, f"{key!r} is not a screen")
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
                else:
                    graph[key].append(target)
            if len(targets) > MAX_BRANCHES:
                self._bad(
                    path,
                    f"Number of branches exceeds the max limit of {MAX_BRANCHES} for screen: {key}",
                )
        missing = [s for s in ids if s not in model]
        if missing:
            self._bad(
                "routing_model",
                f"Following screens are missing in the routing model: {', '.join(missing)}",
            )
        cycle = _find_cycle(graph)
        if cycle:
            self._bad(
                "routing_model",
                f"Loop detected: {' → '.join(cycle)}; only forward routes are allowed",
            )
        self._connectivity(graph, "routing_model")
        for i, target, where in self.edges:
            source = self.screens[i].get("id")
            if isinstance(source, str) and source in graph and target not in graph[source]:
                self._bad(
                    f"routing_model.{source}",
                    f"Missing direct route from {source} to {target} (navigate at {where})",
                )
        for screen, targets in graph.items():
            if not targets and self.screens[self.screen_ids[screen]].get("terminal") is not True:
                self._bad(
                    f"routing_model.{screen}", f"the route ending at {screen} is not terminal"
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
                    f"Reduce navigate actions for the screen: {source} has {len(targets)} targets",
                )
        inbound = {t for targets in graph.values() for t in targets}
        if graph and all(sid in inbound for sid in graph):
            self.issue(
                "F29",
                "INVALID_ROUTING_MODEL",
                "screens",
                "no entry screen: every screen is the target of a navigate action",
            )
        self._connectivity(graph, None)

    def _connectivity(self, graph: dict[str, list[str]], path: str | None) -> None:
        if not self.screens:
            return
        entry = self.screens[0].get("id")
        if not isinstance(entry, str) or entry not in graph:
            return
        inbound = {t for targets in graph.values() for t in targets}
        if path is not None and entry in inbound:
            self._bad(path, f"the entry screen {entry} must not be a route target")
        seen, stack = {entry}, [entry]
        while stack:
            for nxt in graph.get(stack.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        for sid, i in self.screen_ids.items():
            if sid not in seen:
                where = path if path is not None else f"screens[{i}]"
                rule = "F28" if path is not None else "F29"
                self.issue(
                    rule,
                    "INVALID_ROUTING_MODEL",
                    where,
                    f"screen {sid} cannot be reached from the entry screen {entry}",
                )

    def _bad(self, path: str, message: str) -> None:
        self.issue("F28", "INVALID_ROUTING_MODEL", path, message)


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
