"""``validate_flow_json``: Meta's Flow JSON rules, offline, in Meta's terms (contract)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from gateway.flowjson import catalogue as cat
from gateway.flowjson.issues import FlowJSONIssue
from gateway.flowjson.positions import locate
from gateway.flowjson.routing import RoutingRules

Purpose = Literal["publish", "send"]


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
    for bad input: malformed JSON is an ``INVALID_FLOW_JSON`` issue.
    """
    text: str | None = None
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [_invalid(f"not UTF-8 text: {exc.reason} at byte {exc.start}", None, None)]
    if isinstance(source, str):
        text = source
        if len(text.encode("utf-8")) > cat.MAX_BYTES:
            return [_invalid("Flow JSON is larger than 10 MB", None, None)]
        try:
            doc: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            return [_invalid(exc.msg, exc.lineno, exc.colno)]
    else:
        doc = source
    if not isinstance(doc, dict):
        return [_invalid("Flow JSON must be an object", 1 if text else None, 1 if text else None)]
    issues = _Validator(dict(doc), purpose).run()
    if text is not None and issues:
        issues = _with_positions(text, issues)
    return issues


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
    found = locate(text, wanted)
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
