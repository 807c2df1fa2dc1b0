"""The validator's findings, how severe each is, and the helpers the rule modules share.

Severity is decided here, by code, and nowhere else. The rule: an **error** needs a
Meta error code (reference/flows.md §A9, Meta's error-codes page) *and* a Meta rule that
says "must" or shows that code; everything else is a **warning**, under a code of ours
(:data:`WARNINGS`) so that no warning can pass for one of Meta's. An error means "Meta
will refuse this"; a warning means "Meta takes this, but it will not do what it seems".
Meta's own published flows are the test of that line (tests/flowjson/test_realworld.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.flowjson.catalogue import Version

Severity = Literal["error", "warning"]

WARNINGS: dict[str, str] = {  # our code → why it is not an error
    "NOT_RECOMMENDED_FLOW_JSON_VERSION": "accepted; Meta recommends the latest",
    "NOT_RECOMMENDED_DATA_API_VERSION": "accepted; Meta recommends the latest",
    "IMAGE_TOO_LARGE": "a recommendation (300 KB), not a limit",
    "TEXT_TOO_LONG": "Meta documents truncation, and its catalogue has no too-long code; "
    "its own Sign-in template goes past the EmbeddedLink limit",
    "STATIC_TEXT_WITH_REFERENCE": "published flows show such text literally",
    "IGNORED_DATA_MODEL_KEY": "the data model is JSON Schema: unknown keywords are ignored",
    "IGNORED_INSIDE_FORM": "documented as outside-a-Form only; refused from 7.0",
    "NON_TERMINAL_LEAF_SCREEN": "Meta's own templates close such screens with Back",
}
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


@dataclass(frozen=True, slots=True)
class FlowJSONIssue:
    """One problem, in Meta's terms: ``error`` is Meta's code (e.g. MORE_THAN_ONE_FOOTER)."""

    error: str
    severity: Severity
    message: str
    path: str
    line: int | None = None
    column: int | None = None
    rule: str = ""
    """The catalogue rule (F1–F35, reference/flows.md §A10) that found it."""

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}: " if self.line is not None else ""
        at = f" (at {self.path})" if self.path else ""
        return f"{where}{self.severity}: {self.error} {self.message}{at}"


@dataclass(slots=True)
class Node:
    """A component found while walking a screen."""

    path: str
    comp: dict[str, Any]
    type: str
    if_depth: int = 0
    in_form: bool = False
    in_branch: bool = False
    parents: tuple[str, ...] = field(default_factory=tuple)


def severity_of(error: str) -> Severity:
    return "warning" if error in WARNINGS else "error"


def parse_version(value: Any) -> Version | None:
    m = _VERSION.match(value) if isinstance(value, str) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def is_dynamic(value: Any) -> bool:
    return isinstance(value, str) and ("${" in value or value.startswith("`"))
