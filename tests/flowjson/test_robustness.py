"""The validator never raises: every node of real flows replaced by junk, one at a time."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.flowjson import validate_flow_json

VALID = sorted((Path(__file__).parent / "valid").glob("*.json"))
JUNK = (None, 0, -1, 1.5, "", " ", "x", "${data.}", "`", [], {}, True, [None], {"type": None})


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_junk_anywhere_gives_issues_not_exceptions(path: Path) -> None:
    flow = json.loads(path.read_text())["flow"]
    tried = 0
    for where in _paths(flow):
        if not where:
            continue
        for junk in JUNK:
            doc = copy.deepcopy(flow)
            target = doc
            for step in where[:-1]:
                target = target[step]
            target[where[-1]] = junk
            issues = validate_flow_json(doc)
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
