"""The validator never raises: every node of real flows replaced by junk, one at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.flowjson import validate_flow_json
from tests.fuzz.strategies import default_stack
from tests.junk import paths, replaced

VALID = sorted((Path(__file__).parent / "valid").glob("*.json"))
JUNK = (None, 0, -1, 1.5, "", " ", "x", "${data.}", "`", [], {}, True, [None], {"type": None})


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_junk_anywhere_gives_issues_not_exceptions(path: Path) -> None:
    flow = json.loads(path.read_text())["flow"]
    tried = 0
    for where in paths(flow):
        if not where:
            continue
        for junk in JUNK:
            issues = validate_flow_json(replaced(flow, where, junk))
            assert all(i.error and i.path is not None for i in issues)
            tried += 1
    assert tried > 100


@pytest.mark.parametrize(
    "text", ["", "   ", "[]", "null", "42", '"flow"', "{", '{"version": }', "\ufeff{}", "{}"]
)
def test_malformed_or_empty_text(text: str) -> None:
    issues = validate_flow_json(text)
    assert issues
    assert all(i.line is not None for i in issues if i.error == "INVALID_FLOW_JSON")


def test_bytes_that_are_not_utf8() -> None:
    [issue] = validate_flow_json(b"\xff\xfe{}")
    assert issue.error == "INVALID_FLOW_JSON"


# -- found by fuzzing (issue 13): hostile documents are issues, never exceptions --------


def _nested_text(depth: int) -> str:
    return '{"version": "7.3", "screens": ' + "[" * depth + "]" * depth + "}"


def _nested_doc(depth: int) -> dict[str, Any]:
    inner: Any = []
    for _ in range(depth - 1):
        inner = [inner]
    return {"version": "7.3", "screens": inner}


@pytest.mark.parametrize("depth", [64, 500, 990, 1500, 100_000])
def test_deep_nesting_is_an_issue(depth: int) -> None:
    """With the root object, ``depth`` arrays are depth + 1 levels: past the limit of 64."""
    [issue] = validate_flow_json(_nested_text(depth))
    assert (issue.error, issue.rule) == ("INVALID_FLOW_JSON", "F1")
    assert "nested deeper than 64 levels" in issue.message
    assert (issue.line, issue.column) == (1, 30 + 64)  # the first bracket past the limit
    [issue] = validate_flow_json(_nested_doc(depth))
    assert issue.error == "INVALID_FLOW_JSON"
    assert issue.path == "screens" + "[0]" * 63


_IN_A_SCREEN = '{{"version": "7.3", "screens": [{{"id": "A", "layout": {{"children": {}}}}}]}}'


@pytest.mark.parametrize(
    "text",
    [
        '{"version": "7.3", "screens": [' + '{"a": ' * 500 + "1" + "}" * 500 + "]}",
        '{"version": "7.3", "screens": ' + '[{"a": ' * 250 + "[]" + "}]" * 250 + "}",
        _IN_A_SCREEN.format("[" * 500 + "]" * 500),
        "[" * 500 + "x" + "]" * 500,
        '{"a": ' * 500,
    ],
    ids=["objects", "objects-in-arrays", "inside-a-screen", "junk-inside", "unclosed"],
)
def test_a_kilobyte_nested_500_deep(text: str) -> None:
    """Issue 14: such text once raised RecursionError from the position finder."""
    with default_stack():
        issues = validate_flow_json(text)
    [issue] = issues
    assert (issue.error, issue.rule) == ("INVALID_FLOW_JSON", "F1")
    assert issue.line == 1
    assert issue.column is not None


def test_a_condition_of_100_000_parentheses() -> None:
    flow = json.loads(next(p for p in VALID if p.stem == "if_conditions_40").read_text())["flow"]
    children = flow["screens"][0]["layout"]["children"]
    children[3]["condition"] = "(" * 100_000 + "${form.animal} == 'cat'" + ")" * 100_000
    with default_stack():
        assert [i for i in validate_flow_json(flow, purpose="send") if i.severity == "error"] == []
        children[3]["condition"] = "(" * 100_000 + "${form.animal} == 'cat'"
        [issue] = validate_flow_json(flow, purpose="send")
    assert (issue.error, issue.path) == (
        "INVALID_PROPERTY_VALUE",
        "screens[0].layout.children[3].condition",
    )


def test_nesting_up_to_the_limit_is_validated() -> None:
    issues = validate_flow_json(_nested_text(63))
    assert issues
    assert all(i.error != "INVALID_FLOW_JSON" for i in issues)


def test_a_cycle_in_a_document_is_an_issue() -> None:
    flow: dict[str, Any] = {"version": "7.3"}
    flow["screens"] = [flow]
    [issue] = validate_flow_json(flow)
    assert issue.error == "INVALID_FLOW_JSON"


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ('{"version": NaN}', "NaN is not valid JSON", 13),
        ('{"version": "7.3", "x": [1, -Infinity]}', "-Infinity is not valid JSON", 29),
        ('{"version": ' + "9" * 5000 + "}", "an integer longer than 4300 digits", 13),
        ('{"version": "7.3\ud800"}', "not valid Unicode text: a lone surrogate", 17),
    ],
    ids=["NaN", "-Infinity", "5000 digits", "raw lone surrogate"],
)
def test_text_python_takes_but_json_does_not(text: str, message: str, column: int) -> None:
    [issue] = validate_flow_json(text)
    assert (issue.error, issue.message) == ("INVALID_FLOW_JSON", message)
    assert (issue.line, issue.column) == (1, column)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(" * 1000 + ")" * 1000, "groups are nested too deeply"),
        ("a{4294967296}", "a repetition count is too large"),
        ("[[a]", None),  # compiles, with a FutureWarning: not a problem
    ],
    ids=["deep groups", "huge repetition", "possible nested set"],
)
def test_text_input_patterns_that_break_the_regex_compiler(
    pattern: str, problem: str | None
) -> None:
    flow = json.loads(next(p for p in VALID if p.stem.endswith("_73")).read_text())["flow"]
    field = {"type": "TextInput", "name": "code", "label": "Code", "helper-text": "h"}
    flow["screens"][0]["layout"]["children"].insert(0, {**field, "pattern": pattern})
    found = [i.message for i in validate_flow_json(flow) if i.path.endswith(".pattern")]
    assert found == ([f"pattern is not a valid regular expression: {problem}"] if problem else [])


def test_a_routing_loop_longer_than_the_stack() -> None:
    ids = ["S" + "".join(chr(65 + int(d)) for d in str(i)) for i in range(1500)]
    screens = [{"id": s, "layout": {"type": "SingleColumnLayout", "children": []}} for s in ids]
    model = {a: [b] for a, b in zip(ids, ids[1:] + ids[:1], strict=True)}
    flow = {"version": "7.3", "data_api_version": "3.0", "routing_model": model, "screens": screens}
    loops = [i for i in validate_flow_json(flow) if i.message.startswith("Loop detected")]
    assert len(loops) == 1
    assert loops[0].message.count("→") == 1500


def test_keys_json_text_cannot_have() -> None:
    """A Mapping given directly may have any keys; every issue's path is still text."""
    issues = validate_flow_json({"version": "7.3", "screens": [], 1: None, None: 2})
    assert all(isinstance(i.path, str) for i in issues)
    assert {"1", "None"} <= {i.path for i in issues}
