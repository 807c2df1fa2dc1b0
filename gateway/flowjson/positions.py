"""Where each JSON path sits in the source text (1-based line and column).

Only run when there is something to report: a single pass over the text that records
the position of the paths asked for — the key token for object members (what an editor
should highlight), the value for array elements.
"""

from __future__ import annotations

import re
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
