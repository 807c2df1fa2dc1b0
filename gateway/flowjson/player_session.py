"""An interactive walk: a person, not a script, drives the player one press at a time.

The preview page (:mod:`gateway.preview`) holds one :class:`FlowSession`. It runs the
scripted player's own machine, so a page and a script can never disagree: a press is a
one-entry script for the current screen. Where the client keeps the person on the screen,
so does the session, with what they typed: a form the client refuses (a required field
left empty, a value against an input's rules) shows its errors by the fields, and an
endpoint that fails or answers what the next screen cannot show is reported as a finding
the person can press past once the endpoint is fixed (the failed request stays in the
walk). Only a completion, Back on the first screen, or a Flow that cannot open ends the
walk, until :meth:`FlowSession.restart`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from gateway.flowjson.player import (
    CLOSED,
    DEFAULT_TOKEN,
    Exchange,
    Finding,
    PlayResult,
    _Stop,
    _Walk,
    load_flow,
)
from gateway.flowjson.player_view import screen_view

_FORM = frozenset({"unfillable_required", "invalid_answer"})
"""Findings a person fixes on the same screen: the client only keeps the footer disabled."""

FlowSource = Callable[[], str | bytes | Mapping[str, Any]]


class FlowSession:
    """One person's walk through a Flow.

    ``flow`` is the Flow JSON, or a callable that reads it (the preview re-reads the file
    at each :meth:`restart`, so an edited Flow is played at once). Without ``data`` the
    first screen opens with its data model's ``__example__`` values, as Meta's preview
    does; ``init=True`` opens it with an INIT request to the endpoint instead (a message
    sent with ``flow_action: data_exchange``).
    """

    def __init__(
        self,
        flow: str | bytes | Mapping[str, Any] | FlowSource,
        *,
        exchange: Exchange | None = None,
        flow_token: str = DEFAULT_TOKEN,
        data: Mapping[str, Any] | None = None,
        screen: str | None = None,
        init: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._source: FlowSource = flow if callable(flow) else (lambda: flow)
        self.exchange, self.flow_token, self.clock = exchange, flow_token, clock
        self.data, self.screen, self.init = data, screen, init
        self.errors: dict[str, str] = {}
        self.refused: tuple[Finding, ...] = ()
        """The last press's findings the person stays on the screen with."""
        self._walk: _Walk | None = None
        self._invalid: tuple[Finding, ...] = ()
        self.restart()

    def restart(self) -> None:
        """Open the Flow again from its first screen (re-reading it), forgetting the walk."""
        self.errors, self.refused = {}, ()
        self._walk = None
        try:
            model, self._invalid = load_flow(self._source())
        except (OSError, ValueError) as exc:  # a file gone or not JSON while editing it
            self._invalid = (Finding(kind="invalid_flow", screen=None, path="", message=str(exc)),)
            return
        if model is None:
            return
        opening: dict[str, Any] = {"_init": self.init, "_screen": self.screen}
        if self.data is not None:
            opening["_data"] = dict(self.data)
        self._walk = _Walk(model, opening, self.exchange, self.flow_token, self.clock)
        self._run(self._walk._open)

    @property
    def ended(self) -> bool:
        """Completed, closed with Back, or the Flow could not open: only :meth:`restart`
        goes on."""
        return self._walk is None or bool(self._walk.findings) or self.completion is not None

    @property
    def completion(self) -> dict[str, Any] | None:
        """The ``nfm_reply`` the provider would deliver, once the Flow completed."""
        return self._walk.completion if self._walk else None

    @property
    def findings(self) -> tuple[Finding, ...]:
        """What stopped the walk, or the last press's refused answer."""
        return self._invalid + tuple(self._walk.findings if self._walk else ()) + self.refused

    def press(
        self, form: Mapping[str, Any], action: str = "footer", item: str | None = None
    ) -> None:
        """The person fills the current screen with ``form`` and presses ``action``: the
        footer, an input or link by its ``name`` / text (its on-select or on-click action),
        or ``"back"``; ``item`` is the list item or option pressed."""
        walk = self._walk
        if walk is None or self.ended:
            return
        entry: dict[str, Any] = {**form, "_action": action}
        if item is not None:
            entry["_item"] = item
        self.errors, self.refused = {}, ()
        point = walk.checkpoint()
        self._run(lambda: walk._turn(entry))
        found = tuple(walk.findings)
        if not found or any(f.message == CLOSED for f in found):
            return  # moved on, completed, or closed with Back
        form_only = all(f.kind in _FORM for f in found)  # the footer stays disabled
        # The client stays on this screen; an endpoint's refused answer stays in the walk.
        walk.rollback(point, keep_steps=not form_only)
        walk.form.update({k: v for k, v in form.items() if not k.startswith("_")})
        if form_only:
            self.errors = {f.path.removeprefix("form."): f.message for f in found}
        else:  # the endpoint or the Flow went wrong: say so
            self.refused = found

    def back(self) -> None:
        """The header's back arrow (BACK to the endpoint where the screen refreshes)."""
        self.press({}, "back")

    def result(self) -> PlayResult:
        """The walk so far, as :func:`gateway.flowjson.player.play` reports it."""
        steps = tuple(self._walk.steps) if self._walk else ()
        return PlayResult(steps=steps, findings=self.findings, completion=self.completion)

    def view(self) -> dict[str, Any]:
        """Everything the page draws, JSON-able."""
        walk = self._walk
        current = None
        if walk is not None and walk.screen:
            current = screen_view(walk.screens[walk.screen], walk._scope(walk.form))
            current["data"] = walk.data
        return {
            "screen": current,
            "errors": self.errors,
            "findings": [asdict(f) for f in self.findings],
            "completion": self.completion,
            "ended": self.ended,
            "can_back": bool(walk and walk.history),
            "steps": len(walk.steps) if walk else 0,
            "transcript": self.result().transcript(),
        }

    @staticmethod
    def _run(turn: Callable[[], None]) -> None:
        with contextlib.suppress(_Stop):  # the walk stopped: a finding or the completion
            turn()
