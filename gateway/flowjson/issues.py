"""The validator's findings and the small helpers the rule modules share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.flowjson.catalogue import Version

Severity = Literal["error", "warning"]
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


def parse_version(value: Any) -> Version | None:
    m = _VERSION.match(value) if isinstance(value, str) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def is_dynamic(value: Any) -> bool:
    return isinstance(value, str) and ("${" in value or value.startswith("`"))
