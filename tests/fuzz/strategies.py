"""Hypothesis strategies that aim at the places where parsers break.

A real document (a contract fixture, a valid Flow JSON) keeps its shape so the input gets
past the first checks; one to three of its nodes are then replaced by a *fragment* written
as raw bytes, because the dangerous values cannot all be produced by ``json.dumps``:
nesting deeper than the interpreter's stack, ``1e999``, ``NaN``, integers past Python's
4300-digit limit, escaped lone surrogates, invalid UTF-8.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from tests.junk import paths, replaced
from tests.kits import KITS, load_cases

# Depths around the interpreter's recursion limit (1000) are where parsers fail.
DEPTHS = st.one_of(
    st.sampled_from([1, 2, 50, 499, 500, 990, 1000, 1500, 5000]), st.integers(1, 1500)
)
DEFAULT_RECURSION_LIMIT = 1000


@contextmanager
def default_stack() -> Iterator[None]:
    """Run under the interpreter's default recursion limit, as a server does.

    Hypothesis raises the limit by 2000 while it runs a test, so without this a 1500-deep
    document would not overflow here, only in production.
    """
    raised = sys.getrecursionlimit()
    sys.setrecursionlimit(DEFAULT_RECURSION_LIMIT)
    try:
        yield
    finally:  # put back what Hypothesis set, or it warns (an error under this suite)
        sys.setrecursionlimit(raised)


def more(factor: int) -> settings:
    """``factor`` times the profile's examples, for the entry points whose input space is
    widest (the profile sets the base: bounded in ``make test``, long in ``make fuzz``)."""
    return settings(max_examples=settings.default.max_examples * factor)


# Lone surrogates are excluded from Hypothesis' default alphabet: mix them back in.
CHARS = st.one_of(st.characters(), st.characters(categories=["Cs"]))


@cache
def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any text, lone surrogates and control characters included, plus some very long."""
    return st.one_of(
        st.text(max_size=max_size),
        st.text(CHARS, max_size=max_size),
        st.sampled_from(["", " ", "\x00", "\ud800", "\udc00", "a\udfffb", "\u2028", "null"]),
        st.integers(1, 200_000).map(lambda n: "x" * n),
    )


@cache
def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Python values of every JSON type, including what strict JSON cannot carry."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([2**63, -(2**63) - 1, 10**400, -(10**400)]),
        st.floats(),
        st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0]),
        texts(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(texts(8), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def nested(depth: int, kind: str = "[") -> Any:
    """A Python value ``depth`` levels deep, built without recursion."""
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "[" else {"a": value}
    return value


class Deep(dict[str, Any]):
    """``{"k": nested(depth, kind)}``, shown short: Hypothesis' printer would overflow."""

    def __init__(self, depth: int, kind: str) -> None:
        super().__init__(k=nested(depth, kind))
        self.shown = f"Deep({depth}, {kind!r})"

    def __repr__(self) -> str:
        return self.shown

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.shown)


@cache
def deep_objects() -> st.SearchStrategy[Deep]:
    return st.builds(Deep, DEPTHS, st.sampled_from("[{"))


def _deep_text(depth: int, kind: str, closed: bool) -> bytes:
    opener, closer = ("[", "]") if kind == "[" else ('{"a":', "}")
    return (opener * depth + ("1" + closer * depth if closed else "")).encode()


_LITERALS = [
    b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity", b"-0", b"1E-999", b"0.1e99999",
    b"9" * 4301, b"-" + b"9" * 5000, b"123456789012345678901234567890",
    b'"\\ud800"', b'"\\udc00"', b'"x\\ud83d"', b'"\\udfff\\ud800"', b'"\\u0000"',
    b"true", b"null", b"[]", b"{}", b'""', b'"  "', b"0",
]  # fmt: skip
_BAD_UTF8 = [b'"\xff"', b'"\xc3("', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b"\xff", b"\x00"]


@cache
def fragments() -> st.SearchStrategy[bytes]:
    """Raw JSON text (or not quite JSON) to put where a node was."""
    return st.one_of(
        st.sampled_from(_LITERALS),
        json_values().map(lambda v: json.dumps(v).encode()),
        json_values().map(
            lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")
        ),
        st.builds(_deep_text, DEPTHS, st.sampled_from("[{"), st.booleans()),
        # The same inside a JSON string: some fields carry JSON text (response_json).
        st.one_of(
            st.sampled_from(_LITERALS), st.builds(_deep_text, DEPTHS, st.just("["), st.just(True))
        ).map(lambda b: json.dumps(b.decode()).encode()),
        st.integers(1, 200_000).map(lambda n: b'"' + b"x" * n + b'"'),
        st.sampled_from(_BAD_UTF8),
        st.binary(max_size=16),
    )


def fixtures(provider: str, *kinds: str) -> list[dict[str, Any]]:
    """Every contract case of ``provider`` under ``kinds`` (webhooks, responses, errors)."""
    out = load_cases(KITS[provider], *kinds)
    assert out, f"no fixtures for {provider} {kinds}"
    return out


_MARK = "\x00fuzz{}\x00"


def spliced(docs: Sequence[Any]) -> st.SearchStrategy[bytes]:
    """A document from ``docs`` as JSON bytes, with 0 to 3 nodes replaced by fragments.

    Build it once per test module: Hypothesis validates every new strategy object, which
    costs more than the example when done per draw.
    """
    return _spliced([(doc, list(paths(doc))) for doc in docs])


@st.composite
def _spliced(draw: st.DrawFn, docs: list[tuple[Any, list[tuple[Any, ...]]]]) -> bytes:
    doc, where = draw(st.sampled_from(docs))
    marks: list[tuple[str, bytes]] = []
    for i in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(where))
        try:
            doc = replaced(doc, path, _MARK.format(i))
        except (KeyError, IndexError, TypeError):  # an ancestor was already replaced
            continue
        marks.append((json.dumps(_MARK.format(i)), draw(fragments())))
    text = json.dumps(doc).encode()
    for mark, fragment in marks:
        text = text.replace(mark.encode(), fragment)
    return text


@cache
def raw_bodies() -> st.SearchStrategy[bytes]:
    """Bodies that are not even shaped like the document."""
    return st.one_of(
        fragments(),
        st.binary(max_size=64),
        st.integers(1, 4096).map(lambda n: b"[" * n),
        st.just(b""),
    )
