"""The offline Flow JSON validator: clean documents pass, every rule F1–F35 fails alone.

Each failing case (tests/flowjson/cases/F<nn>_*.json) must produce exactly its code, at
its path, found by its rule, and — given as text — at the line and column of that path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.flowjson import FlowJSON, validate_flow_json

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.json"))
VALID = sorted((HERE / "valid").glob("*.json"))
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _resolve(doc: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of a validator path in a document."""
    node = doc
    for key, index in _STEP.findall(path):
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                return False, None
            node = node[int(index)]
        else:
            if not isinstance(node, dict) or key not in node:
                return False, None
            node = node[key]
    return True, node


def test_there_is_a_case_for_every_rule() -> None:
    rules = {_load(p)["rule"] for p in CASES}
    assert rules >= {f"F{n}" for n in range(1, 36)}


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_documented_flows_validate_clean(path: Path) -> None:
    case = _load(path)
    for source in (case["flow"], json.dumps(case["flow"], indent=2)):
        errors = [
            i for i in validate_flow_json(source, purpose=case["purpose"]) if i.severity == "error"
        ]
        assert errors == []


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_models_round_trip_documented_flows(path: Path) -> None:
    flow = _load(path)["flow"]
    assert FlowJSON.model_validate(flow).to_json_dict() == flow


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_each_rule_reports_exactly_its_code(path: Path) -> None:
    case = _load(path)
    if "text" in case:
        text = case["text"]
        issues = validate_flow_json(text, purpose=case.get("purpose", "publish"))
        assert [(i.error, i.line, i.column) for i in issues] == [
            (case["error"], case["line"], case["column"])
        ]
        return
    text = json.dumps(case["flow"], indent=2)
    issues = validate_flow_json(text, purpose=case["purpose"])
    wanted = case.get("severity", "error")
    matching = [i for i in issues if i.severity == wanted]
    assert {i.error for i in matching} == {case["error"]}, issues
    assert any(i.path == case["path"] and i.rule == case["rule"] for i in matching), matching
    if wanted == "warning":
        assert [i for i in issues if i.severity == "error"] == []
    issue = next(i for i in matching if i.path == case["path"])
    _assert_points_at(text, case["flow"], issue.path, issue.line, issue.column)


def _assert_points_at(text: str, doc: Any, path: str, line: int | None, column: int | None) -> None:
    """line/column land on the path's key (object member) or value (array element)."""
    assert line is not None
    assert column is not None
    here = text.splitlines()[line - 1][column - 1 :]
    found, value = _resolve(doc, path)
    while not found:  # a missing key: the validator points at the nearest parent
        shorter = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", path)
        path = "" if shorter == path else shorter
        found, value = _resolve(doc, path)
    if not path:
        assert (line, column) == (1, 1)
    elif path.endswith("]"):
        assert here.startswith(json.dumps(value, indent=2).splitlines()[0])
    else:
        assert here.startswith(json.dumps(path.rsplit(".", 1)[-1]))
