"""The validator never raises: every node of real flows replaced by junk, one at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.flowjson import validate_flow_json
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
