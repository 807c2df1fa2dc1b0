"""The offline Flow JSON validator: clean documents pass, every rule F1–F35 fails alone.

Each failing case (tests/flowjson/cases/F<nn>_*.json) must produce exactly its code, at
its path, found by its rule, and — given as text — at the line and column of that path.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import gateway.flowjson
import gateway.flowjson.player
from gateway.flowjson import FlowJSON, validate_flow_json
from gateway.flowjson.issues import WARNINGS

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
    """No error, and exactly the warnings the document lists ("warnings", default none)."""
    case = _load(path)
    for source in (case["flow"], json.dumps(case["flow"], indent=2)):
        issues = validate_flow_json(source, purpose=case["purpose"])
        assert [i for i in issues if i.severity == "error"] == []
        assert {i.error for i in issues} == set(case.get("warnings", ())), issues


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


def test_a_navigation_list_on_a_terminal_screen() -> None:
    """No case can hold this alone: a terminal screen needs a Footer, and a NavigationList
    must be alone on its screen. Meta's NavigationListOnTerminalScreen check (V6.2 chain,
    eudresfs/whatsapp-flows references/v703-validation-rules.md) gives INVALID_PROPERTY_KEY."""
    item = {"id": "a", "main-content": {"title": "Tea"}}
    menu = {"type": "NavigationList", "name": "menu", "list-items": [item]}
    done = {"type": "Footer", "label": "Done", "on-click-action": {"name": "complete"}}
    screen = {"id": "MENU", "terminal": True, "layout": {"type": "SingleColumnLayout",
              "children": [menu, done]}}  # fmt: skip
    issues = validate_flow_json({"version": "7.3", "screens": [screen]})
    found = {(i.error, i.message) for i in issues if i.path == "screens[0].layout.children[0]"}
    assert ("INVALID_PROPERTY_KEY", "a NavigationList cannot be on a terminal screen") in found


def test_the_model_and_the_validator_agree_on_next_and_data_fields() -> None:
    """Both refuse an unknown key in ``next`` (NEXT_KEYS come from the model); both take
    an unknown JSON Schema keyword in a data field, which the validator only warns about."""
    case = _load(HERE / "cases" / "F04_unknown_key_in_next.json")
    with pytest.raises(ValidationError, match="screen_data"):
        FlowJSON.model_validate(case["flow"])
    extra = _load(HERE / "valid" / "data_model_extra_keys_72.json")["flow"]
    assert FlowJSON.model_validate(extra).to_json_dict() == extra


# Meta's codes: its error-codes page (reference/flows.md §A9) and the code dictionary of
# its Flow Builder validator (eudresfs/whatsapp-flows references/v703-validation-rules.md).
META_CODES = frozenset(
    [
        "INVALID_FLOW_JSON",
        "MISSING_FLOW_JSON_VERSION",
        "INVALID_FLOW_JSON_VERSION",
        "UNSUPPORTED_FLOW_JSON_VERSION",
        "UNAVAILABLE_FLOW_JSON_VERSION",
        "NO_SUPPORTED_DATA_API_VERSION",
        "INVALID_DATA_API_VERSION",
        "INVALID_PROPERTY_KEY",
        "INVALID_PROPERTY_VALUE",
        "INVALID_PROPERTY_VALUE_FORMAT",
        "INVALID_PROPERTY_TYPE",
        "MISSING_REQUIRED_PROPERTY",
        "MIN_ITEMS_REQUIRED",
        "MAX_ITEMS_REQUIRED",
        "MIN_CHARS_REQUIRED",
        "MINIMUM_VALUE_REQUIRED",
        "MAXIMUM_VALUE_REQUIRED",
        "PATTERN_MISMATCH",
        "INVALID_ENUM_VALUE",
        "INVALID_DEPENDENCIES",
        "NOT_KEYWORD_SCHEMA_VALIDATION_FAILED",
        "KEYWORD_ONE_OF",
        "MISSING_REQUIRED_TYPE_PROPERTY",
        "INVALID_ROUTING_MODEL",
        "INVALID_NAVIGATE_ACTION_PAYLOAD",
        "INVALID_SCREEN_DATA",
        "INVALID_SCREEN_DYNAMIC_DATA",
        "INVALID_COMPLETE_ACTION",
        "INVALID_ON_CLICK_ACTION_PAYLOAD",
        "INVALID_NAVIGATE_ACTION_NEXT_SCREEN_NAME",
        "MAX_ALLOWED_COMPONENTS_PER_SCREEN",
        "INVALID_RICHTEXT_PLACEMENT",
        "SCREEN_ID_IS_RESERVED_KEYWORD",
        "DUPLICATE_SCREEN_IDS",
        "MISSING_TERMINAL_SCREEN",
        "MISSING_FOOTER_ON_TERMINAL_SCREEN",
        "DUPLICATE_FORM_COMPONENT_NAMES",
        "MAX_SCREENS_NUMBER",
        "MIN_VALUE_GREATER_THAN_MAX",
        "COMPONENTS_OUTSIDE_FORM",
        "MISSING_FOOTER_IN_IF_ELSE_BRANCHES",
        "MISSING_FOOTER_IN_SWITCH_BRANCHES",
        "MORE_THAN_ONE_FOOTER",
        "NATIVE_COMPONENT_IN_FORM_INIT_VALUES",
        "COMPONENT_TYPE_MAX_NUMBER_PER_SCREEN",
        "MAX_EMBEDDED_LINK_PER_SCREEN",
        "MAX_FOOTER_PER_SCREEN",
        "MAX_IMAGE_PER_SCREEN",
        "MAX_OPT_IN_PER_SCREEN",
        "EMPTY_SWITCH_CASES",
        "MAXIMUM_IF_NESTING",
        "INVALID_SENSITIVE_FIELD",
        "INVALID_ACTION_PAYLOAD_PROPERTY",
        "INVALID_FOOTER_PAYLOAD_OUTSIDE_FORM",
    ]
)


def test_errors_carry_metas_codes_and_warnings_ours() -> None:
    """Every code in the validator's source is Meta's (an error) or a declared warning of
    ours, never both: callers can compare local and remote errors code for code."""
    codes = set()
    for source in (HERE.parents[1] / "gateway" / "flowjson").glob("*.py"):
        for token in tokenize.generate_tokens(io.StringIO(source.read_text()).readline):
            if token.type == tokenize.STRING and re.fullmatch(
                r'"[A-Z][A-Z0-9_]{4,}"', token.string
            ):
                codes.add(token.string.strip('"'))
    codes -= set(gateway.flowjson.__all__) | set(gateway.flowjson.player.__all__)  # names
    assert codes - WARNINGS.keys() <= META_CODES
    assert not WARNINGS.keys() & META_CODES
    cases = [_load(p) for p in CASES]
    assert {c["error"] for c in cases if c.get("severity", "error") == "error"} <= META_CODES
    assert {c["error"] for c in cases if c.get("severity") == "warning"} <= WARNINGS.keys()
