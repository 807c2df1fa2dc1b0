"""What the Flow player reports: its findings, its steps and the result of a walk, and
the ``Exchange`` it calls (re-exported by :mod:`gateway.flowjson.player`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gateway.flowjson.player_render import render_transcript

FindingKind = Literal[
    "missing_field",
    "wrong_type",
    "outside_routing",
    "endpoint_error",
    "never_completed",
    "unfillable_required",
    "invalid_answer",
    "invalid_flow",
    "unknown_field",
]
Exchange = Callable[[dict[str, Any]], dict[str, Any]]
"""Decrypted request payload → decrypted answer; raises :class:`ExchangeError`."""
DEFAULT_TOKEN = "flow-player-token"  # noqa: S105  # a test token, no secret
MAX_STEPS = 100


class ExchangeError(Exception):
    """The endpoint did not answer 200 with a decryptable JSON object."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message, self.status_code = message, status_code


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """What the client would refuse or never reach: its kind, the screen and the path."""

    kind: FindingKind
    screen: str | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.screen}: " if self.screen else ""
        return f"{where}{self.kind}: {self.message}" + (f" (at {self.path})" if self.path else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One thing the user did on one screen, and what came back."""

    screen: str | None
    data: dict[str, Any]
    rendered: tuple[str, ...] = ()
    form: dict[str, Any] = field(default_factory=dict)
    action: str = ""
    component: str = ""
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    status_code: int | None = None
    elapsed_ms: float | None = None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayResult:
    """A walk: its steps, its findings and, when it completed, the ``nfm_reply``."""

    steps: tuple[Step, ...]
    findings: tuple[Finding, ...]
    completion: dict[str, Any] | None
    """The ``nfm_reply`` the provider would deliver: response_json, body, name."""
    unused: tuple[str, ...] = ()
    """Screens the script answers that the walk never reached."""

    @property
    def ok(self) -> bool:
        return not self.findings and self.completion is not None

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    def transcript(self) -> str:
        return render_transcript(self)
