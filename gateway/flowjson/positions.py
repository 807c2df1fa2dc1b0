"""Where each JSON path sits in the source text (1-based line and column).

Only run when there is something to report: a single pass over the text that records
the position of the paths asked for — the key token for object members (what an editor
should highlight), the value for array elements. And, when the text is not one the
validator can take (NaN, nesting too deep), where the first such token is.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from collections.abc import Iterable
from contextlib import suppress
from json import decoder as _decoder

_WS = re.compile(r"[ \t\n\r]*")
scanstring = _decoder.scanstring  # type: ignore[attr-defined]  # the C-accelerated scanner
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")


class _Walker:
    def __init__(self, text: str, wanted: set[str]) -> None:
        self.text = text
        self.wanted = wanted
        self.found: dict[str, int] = {}

    def ws(self, i: int) -> int:
        m = _WS.match(self.text, i)
        return m.end() if m else i

    def value(self, i: int, path: str) -> int:
        i = self.ws(i)
        ch = self.text[i]
        if ch == "{":
            return self.obj(i + 1, path)
        if ch == "[":
            return self.arr(i + 1, path)
        if ch == '"':
            end: int = scanstring(self.text, i + 1)[1]
            return end
        for literal in ("true", "false", "null"):
            if self.text.startswith(literal, i):
                return i + len(literal)
        m = _NUMBER.match(self.text, i)
        if m is None:
            raise ValueError(f"unexpected character at {i}")
        return m.end()

    def obj(self, i: int, path: str) -> int:
        i = self.ws(i)
        if self.text[i] == "}":
            return i + 1
        while True:
            i = self.ws(i)
            key_at = i
            key, i = scanstring(self.text, i + 1)
            child = f"{path}.{key}" if path else key
            if child in self.wanted:
                self.found[child] = key_at
            i = self.ws(i)
            i = self.value(i + 1, child)  # skip ':'
            i = self.ws(i)
            if self.text[i] == "}":
                return i + 1
            i += 1  # ','

    def arr(self, i: int, path: str) -> int:
        i = self.ws(i)
        if self.text[i] == "]":
            return i + 1
        index = 0
        while True:
            i = self.ws(i)
            child = f"{path}[{index}]"
            if child in self.wanted:
                self.found[child] = i
            i = self.value(i, child)
            i = self.ws(i)
            if self.text[i] == "]":
                return i + 1
            i += 1
            index += 1


def locate(text: str, paths: Iterable[str]) -> dict[str, tuple[int, int]]:
    """``{path: (line, column)}`` for the paths found in ``text`` (valid JSON)."""
    wanted = set(paths)
    walker = _Walker(text, wanted)
    start = walker.ws(0)
    walker.found[""] = start
    with suppress(ValueError, IndexError):  # report what was found before a surprise
        walker.value(start, "")
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    out = {}
    for path, offset in walker.found.items():
        line = bisect_right(starts, offset)
        out[path] = (line, offset - starts[line - 1] + 1)
    return out


# Strings are matched whole so that brackets and words inside them are skipped.
_TOKEN = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"'  # a string, escapes included
    r"|[\[\]{}]|NaN|-?Infinity|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
)


def first_non_json(text: str, max_depth: int) -> tuple[int, str] | None:
    """Offset of the first thing a strict parser refuses and that ``json`` takes (NaN,
    Infinity) or cannot take (nesting past ``max_depth``, an integer past the
    interpreter's digit limit), and what it is. Iterative: safe at any depth."""
    depth = 0
    digits = sys.get_int_max_str_digits()
    for m in _TOKEN.finditer(text):
        token = m.group()
        first = token[0]
        if first == '"':
            continue
        if first in "[{":
            depth += 1
            if depth > max_depth:
                return m.start(), f"nested deeper than {max_depth} levels"
        elif first in "]}":
            depth -= 1
        elif token[-1].isdigit():
            if digits and token.lstrip("-").isdigit() and len(token.lstrip("-")) > digits:
                return m.start(), f"an integer longer than {digits} digits"
        else:
            return m.start(), f"{token} is not valid JSON"
    return None


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
