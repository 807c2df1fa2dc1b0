"""``validate_flow_json`` fuzzed: it never raises, whatever it is given.

Text: a valid flow with nodes replaced by hostile fragments (deep nesting, NaN, 1e999,
lone surrogates escaped or raw, invalid UTF-8), given as bytes or as str; or any text.
Documents: a valid flow with nodes replaced by any Python JSON value, 10**400, NaN, a
structure 5000 levels deep, or the document itself (a cycle). Every answer is a list of
well-formed issues, and text that is not strict JSON gets INVALID_FLOW_JSON.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.flowjson import FlowJSONIssue, validate_flow_json
from tests.fuzz.strategies import (
    CHARS,
    deep_objects,
    default_stack,
    json_values,
    more,
    spliced,
    texts,
)
from tests.junk import paths

VALID = [
    json.loads(p.read_text())["flow"]
    for p in sorted((Path(__file__).parents[1] / "flowjson" / "valid").glob("*.json"))
]
PURPOSES = st.sampled_from(["publish", "send"])


def _check(issues: Any) -> None:
    assert isinstance(issues, list)
    for issue in issues:
        assert isinstance(issue, FlowJSONIssue)
        assert issue.error
        assert issue.severity in ("error", "warning")
        assert isinstance(issue.path, str)
        assert issue.line is None or issue.line >= 1
        assert issue.column is None or issue.column >= 1
        str(issue)


def _strict(text: bytes) -> bool:
    """Whether a strict parser (JavaScript's, Meta's) takes ``text``."""

    def refuse(name: str) -> Any:
        raise ValueError(name)

    try:
        json.loads(text.decode("utf-8"), parse_constant=refuse)
    except (ValueError, RecursionError):
        return False
    return True


@more(2)
@given(text=spliced(VALID), as_str=st.booleans(), purpose=PURPOSES)
def test_text_never_raises(text: bytes, as_str: bool, purpose: Any) -> None:
    # As str, invalid UTF-8 becomes lone surrogates: what a careless reader hands over.
    source: str | bytes = text.decode("utf-8", "surrogateescape") if as_str else text
    with default_stack():
        issues = validate_flow_json(source, purpose=purpose)
    _check(issues)
    if not _strict(text):
        assert any(i.error == "INVALID_FLOW_JSON" for i in issues), issues[:3]


@given(text=st.one_of(st.text(CHARS, max_size=200), texts()), purpose=PURPOSES)
def test_any_text_never_raises(text: str, purpose: Any) -> None:
    with default_stack():
        issues = validate_flow_json(text, purpose=purpose)
    _check(issues)


_SELF = object()
VALUES = st.one_of(json_values(), deep_objects(), st.just(_SELF))


@st.composite
def _documents(draw: st.DrawFn) -> Any:
    base = draw(st.sampled_from(VALID))
    doc = copy.deepcopy(base)  # once: a deep value put in below would overflow deepcopy
    where = [p for p in paths(base) if p]
    for _ in range(draw(st.integers(1, 3))):
        *parents, last = draw(st.sampled_from(where))
        value = draw(VALUES)
        try:
            target = doc
            for step in parents:
                target = target[step]
            target[last] = doc if value is _SELF else value  # _SELF: a cycle, as no text has
        except (KeyError, IndexError, TypeError):  # an ancestor was replaced already
            continue
    return doc


@more(2)
@given(doc=_documents(), purpose=PURPOSES)
def test_documents_never_raise(doc: Any, purpose: Any) -> None:
    with default_stack():
        issues = validate_flow_json(doc, purpose=purpose)
    _check(issues)
