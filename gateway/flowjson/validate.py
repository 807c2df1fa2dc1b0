"""``validate_flow_json``: Meta's Flow JSON rules, offline, in Meta's terms (contract)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from gateway.flowjson import catalogue as cat
from gateway.flowjson import positions
from gateway.flowjson.issues import FlowJSONIssue
from gateway.flowjson.routing import RoutingRules

Purpose = Literal["publish", "send"]
_CONTAINERS = (dict, list)  # a tuple: ``dict | list`` is built anew at each call
MAX_DEPTH = 64
"""Deepest nesting taken. Real flows stay under 20 levels (four nested If included);
the rule walkers recurse, so a bound keeps a hostile document from their stack limit."""


class _Validator(RoutingRules):
    def run(self) -> list[FlowJSONIssue]:
        if self.check_document():
            self.check_screens()
            self.check_screen_aggregates()
            self.check_data_models()
            self.check_references()
            self.check_actions()
            self.check_routing()
        return self.issues


def validate_flow_json(
    source: str | bytes | Mapping[str, Any], *, purpose: Purpose = "publish"
) -> list[FlowJSONIssue]:
    """Every problem Meta would report for this Flow JSON, errors and warnings.

    ``source`` is the JSON text (issues then carry ``line``/``column``) or the decoded
    document. ``purpose`` is ``"publish"`` (create/update/publish: Flow JSON 5.1+) or
    ``"send"`` (a flow already published: older versions still allowed). Never raises
    for bad input: text that is not strict JSON (NaN and Infinity included), and nesting
    deeper than :data:`MAX_DEPTH`, are an ``INVALID_FLOW_JSON`` issue.
    """
    text: str | None = None
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [_invalid(f"not UTF-8 text: {exc.reason} at byte {exc.start}", None, None)]
    if isinstance(source, str):
        text = source
        doc, refused = _parse(text)
        if refused is not None:
            return [refused]
    else:
        doc = source
    too_deep = _too_deep(doc)
    if too_deep is not None:
        where = positions.first_non_json(text, MAX_DEPTH) if text is not None else None
        line, column = positions.position(text, where[0]) if text and where else (None, None)
        return [
            FlowJSONIssue(
                "INVALID_FLOW_JSON", "error", f"nested deeper than {MAX_DEPTH} levels",
                too_deep, line, column, "F1",
            )
        ]  # fmt: skip
    if not isinstance(doc, dict):
        return [_invalid("Flow JSON must be an object", 1 if text else None, 1 if text else None)]
    try:
        issues = _Validator(dict(doc), purpose).run()
        if text is not None and issues:
            issues = _with_positions(text, issues)
    except RecursionError:  # the caller's own stack was already nearly full
        return [_invalid("nested too deeply to validate", None, None)]
    return issues


def _parse(text: str) -> tuple[Any, FlowJSONIssue | None]:
    """(the decoded document, None), or (None, the INVALID_FLOW_JSON issue)."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # a str can hold what UTF-8 cannot: lone surrogates
        line, column = positions.position(text, exc.start)
        return None, _invalid("not valid Unicode text: a lone surrogate", line, column)
    if size > cat.MAX_BYTES:
        return None, _invalid("Flow JSON is larger than 10 MB", None, None)
    try:
        return json.loads(text, parse_constant=_refuse), None
    except json.JSONDecodeError as exc:
        return None, _invalid(exc.msg, exc.lineno, exc.colno)
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, too deep, too many digits
        where = positions.first_non_json(text, MAX_DEPTH)
        if where is None:
            return None, _invalid(f"not valid JSON: {exc}", None, None)
        return None, _invalid(where[1], *positions.position(text, where[0]))


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


def _too_deep(doc: Any) -> str | None:
    """The path of the first container nested past MAX_DEPTH (a cycle never ends, so it
    is one too), found without recursion. Depths first, containers only: the path is
    worked out only for a document that has one."""
    if not isinstance(doc, dict | list):
        return None
    stack: list[tuple[Any, int]] = [(doc, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, _CONTAINERS):
                if depth >= MAX_DEPTH:  # the child is one level deeper than its parent
                    return _deep_path(doc)
                push((child, depth + 1))
    return None


def _deep_path(doc: Any) -> str:
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(doc, 1, ())]
    while stack:
        node, depth, link = stack.pop()
        if isinstance(node, dict):
            children: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            children = enumerate(node)
        else:
            continue
        if depth > MAX_DEPTH:
            return _path(link)
        stack.extend((child, depth + 1, (key, link)) for key, child in children)
    return ""  # not reached: _too_deep found a node this deep


def _path(link: tuple[Any, ...]) -> str:
    steps: list[Any] = []
    while link:
        key, link = link
        steps.append(key)
    out = ""
    for key in reversed(steps):
        out += f"[{key}]" if isinstance(key, int) else f"{out and '.'}{key}"
    return out


def _invalid(message: str, line: int | None, column: int | None) -> FlowJSONIssue:
    return FlowJSONIssue("INVALID_FLOW_JSON", "error", message, "", line, column, "F1")


def _ancestors(path: str) -> list[str]:
    out = [path]
    while path:
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
        out.append(path)
    return out


def _with_positions(text: str, issues: list[FlowJSONIssue]) -> list[FlowJSONIssue]:
    wanted = {p for issue in issues for p in _ancestors(issue.path)}
    found = positions.locate(text, wanted)
    out = []
    for issue in issues:
        # A missing key has no position of its own: point at its nearest parent.
        where = next((found[p] for p in _ancestors(issue.path) if p in found), None)
        line, column = where if where else (None, None)
        out.append(
            FlowJSONIssue(
                issue.error, issue.severity, issue.message, issue.path, line, column, issue.rule
            )
        )
    return out
