"""The Flow player: a scripted user walks a Flow JSON the way the WhatsApp client does.

A pure state machine over the typed model (:mod:`gateway.flowjson.model`). The only IO
is the ``exchange`` callable — decrypted request in, decrypted answer out — which
:mod:`gateway.flowjson.player_exchange` implements in-process (a ``FlowEndpoint``) or over
HTTP, both encrypting exactly as the client does (reference/flows.md §B2).

The script (``answers``) is ``{screen_id: entry | [entry, …]}``; an entry fills the form
(``{field_name: value}``) and names what the user presses: ``"_action": "footer"`` (the
default), the ``name`` of an input whose ``on-select-action`` / ``on-click-action`` runs
(or an EmbeddedLink's text), or ``"back"``. A list is consumed one entry per visit; a
single entry serves every visit; ``"_item"`` names the list item or option pressed.
Top-level ``"_init": true`` opens the Flow with an INIT request to the endpoint,
``"_data"`` gives the first screen's data (default: its data model's ``__example__``
values, as Meta's preview) and ``"_screen"`` the first screen (as a ``navigate`` flow
message would).

Findings (:class:`Finding`), each stopping the walk where the client would stop:
``invalid_flow`` (the validator found errors), ``missing_field`` / ``wrong_type`` (an
answer against the next screen's data model: a field the screen binds is missing, a
declared field has the wrong type), ``outside_routing`` (a screen the routing model does
not lead to), ``endpoint_error`` (``error``, non-200, 421, 427, an exception, a timeout),
``never_completed`` (the script ran out, or the loop guard), ``unfillable_required`` (a
required field the script leaves empty or fills against the input's rules) and
``invalid_answer`` (an optional field filled against its rules: the client refuses it)
and ``unknown_field`` (the script fills a name no input of the screen has: a typo the
client would never send). Screens the script answers but the walk never reaches are
listed in :attr:`PlayResult.unused` (a script may cover several branches).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from gateway.flowjson import model as m
from gateway.flowjson.issues import FlowJSONIssue
from gateway.flowjson.player_render import (
    INPUTS,
    Scope,
    describe,
    evaluate,
    init_values,
    shown,
)
from gateway.flowjson.player_result import (
    DEFAULT_TOKEN,
    MAX_STEPS,
    Exchange,
    ExchangeError,
    Finding,
    FindingKind,
    PlayResult,
    Step,
)
from gateway.flowjson.player_rules import (
    check_inputs,
    data_findings,
    item_action,
    routes,
    unknown_fields,
)
from gateway.flowjson.validate import validate_flow_json

__all__ = [
    "CLOSED",
    "DEFAULT_TOKEN",
    "MAX_STEPS",
    "Exchange",
    "ExchangeError",
    "Finding",
    "FindingKind",
    "PlayResult",
    "Step",
    "examples",
    "load_flow",
    "play",
]


def play(
    flow: str | bytes | Mapping[str, Any],
    answers: Mapping[str, Any],
    *,
    exchange: Exchange | None = None,
    flow_token: str = DEFAULT_TOKEN,
    max_steps: int = MAX_STEPS,
    clock: Callable[[], float] = time.perf_counter,
) -> PlayResult:
    """Walk ``flow`` with the scripted ``answers``; never raises for a bad flow or a bad
    endpoint (they are findings)."""
    model, findings = load_flow(flow)
    if model is None:
        return PlayResult(steps=(), findings=findings, completion=None)
    walk = _Walk(model, answers, exchange, flow_token, clock)
    walk.run(max_steps)
    unused = tuple(k for k in answers if k in walk.screens and k not in walk.visits)
    return PlayResult(
        steps=tuple(walk.steps),
        findings=tuple(walk.findings),
        completion=walk.completion,
        unused=unused,
    )


def load_flow(
    flow: str | bytes | Mapping[str, Any],
) -> tuple[m.FlowJSON | None, tuple[Finding, ...]]:
    """The typed Flow, or ``None`` and the validator's errors as ``invalid_flow`` findings."""
    issues = [i for i in validate_flow_json(flow, purpose="send") if i.severity == "error"]
    if issues:
        return None, tuple(
            Finding(kind="invalid_flow", screen=None, path=i.path, message=_located(i))
            for i in issues
        )
    doc = json.loads(flow) if isinstance(flow, str | bytes) else dict(flow)
    return m.FlowJSON.model_validate(doc), ()


def _located(issue: FlowJSONIssue) -> str:
    where = f" (line {issue.line}, column {issue.column})" if issue.line is not None else ""
    return f"{issue.error} {issue.message}{where}"


def examples(flow: m.FlowJSON, screen_id: str) -> dict[str, Any]:
    """A screen's data from its data model's ``__example__`` values (as Meta's preview
    opens a Flow sent without data)."""
    screen = next((s for s in flow.screens if s.id == screen_id), None)
    model = (screen.data if screen else None) or {}
    return {name: spec.example for name, spec in model.items() if spec.example is not None}


CLOSED = "the user closed the Flow with Back"
"""The ``never_completed`` message of Back pressed on the first screen."""


Checkpoint = tuple[
    dict[str, dict[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]], str, dict[str, Any], int
]


class _Stop(Exception):
    """The walk ends here (a finding or the completion is recorded)."""


class _Walk:
    def __init__(
        self,
        flow: m.FlowJSON,
        answers: Mapping[str, Any],
        exchange: Exchange | None,
        token: str,
        clock: Callable[[], float],
    ) -> None:
        self.flow, self.answers, self.exchange = flow, answers, exchange
        self.token, self.clock = token, clock
        self.screens = {s.id: s for s in flow.screens}
        self.routes = routes(flow)
        self.steps: list[Step] = []
        self.findings: list[Finding] = []
        self.completion: dict[str, Any] | None = None
        self.seen: dict[str, dict[str, dict[str, Any]]] = {}  # screen → {"data", "form"}
        self.history: list[tuple[str, dict[str, Any]]] = []
        self.visits: dict[str, int] = {}
        self.screen = ""
        self.data: dict[str, Any] = {}

    # -- the loop ----------------------------------------------------------------------

    def run(self, max_steps: int) -> None:
        try:
            self._open()
            for _ in range(max_steps):
                self._turn(self._entry())
            raise self._fail(
                "never_completed",
                self.screen,
                "",
                f"no completion after {max_steps} steps (loop guard)",
            )
        except _Stop:
            return

    def _open(self) -> None:
        first = self.answers.get("_screen") or self.flow.screens[0].id
        given = self.answers.get("_data")
        data = dict(given) if isinstance(given, Mapping) else examples(self.flow, first)
        if self.answers.get("_init"):
            request = {"version": self._api_version(), "action": "INIT", "flow_token": self.token}
            self._exchange(None, {}, request, action="INIT", origin=None)
            return
        if first not in self.screens:
            raise self._fail("outside_routing", None, "_screen", f"no screen {first!r} in the Flow")
        self._show(first, data, origin=None, where="_data")

    def _turn(self, entry: dict[str, Any]) -> None:
        """The user fills the form from ``entry`` and presses what it names."""
        screen = self.screens[self.screen]
        for name in unknown_fields(screen, entry):
            self._flag(
                "unknown_field", self.screen, f"form.{name}", f"{self.screen} has no input {name!r}"
            )
        if self.findings:
            self._record((), str(entry.get("_action", "footer")), "", note="a name no input has")
            raise _Stop
        self.form.update({k: v for k, v in entry.items() if not k.startswith("_")})
        scope = self._scope(self.form)
        comps = list(shown(screen.layout.children, scope))
        rendered = tuple(describe(c, scope, self.form) for c in comps)
        pressed = str(entry.get("_action", "footer"))
        if pressed == "back":
            self._back(rendered)
            return
        comp, action = self._pressed(comps, pressed, entry)
        if isinstance(comp, m.Footer):
            for kind, path, message in check_inputs(
                [c for c in comps if isinstance(c, INPUTS)], self.form, scope
            ):
                self._flag(kind, self.screen, path, message)
            if self.findings:
                self._record(rendered, pressed, action.name, note="the footer stays disabled")
                raise _Stop
        payload = evaluate(action.payload or {}, scope)
        payload = {k: v for k, v in payload.items() if v is not None}
        self.seen[self.screen] = {"data": self.data, "form": dict(self.form)}
        if action.name == "navigate":
            target = action.next.name if action.next else ""
            self._record(rendered, pressed, f"navigate → {target}", payload=payload)
            self._check_route(target, "on-click-action.next.name")
            self.history.append((self.screen, self.data))
            self._show(target, payload, origin=self.screen, where="payload")
        elif action.name == "data_exchange":
            request = {
                "version": self._api_version(),
                "action": "data_exchange",
                "screen": self.screen,
                "data": payload,
                "flow_token": self.token,
            }
            self._exchange(
                rendered,
                dict(self.form),
                request,
                action="data_exchange",
                origin=self.screen,
                component=pressed,
            )
        elif action.name == "update_data":
            self.data = self.seen[self.screen]["data"] = {**self.data, **payload}
            self._record(rendered, pressed, "update_data", payload=payload)
        elif action.name == "open_url":
            self._record(rendered, pressed, "open_url", note=f"opened {action.url}")
        else:  # complete
            self._record(rendered, pressed, "complete", payload=payload)
            self._complete(payload)

    # -- a turn undone (the interactive session) --------------------------------------

    def checkpoint(self) -> Checkpoint:
        """What a turn may change, to put back where the client keeps the user on the
        screen. Data dicts are only ever replaced, never changed in place: forms are."""
        seen = {k: {**v, "form": dict(v["form"])} for k, v in self.seen.items()}
        return seen, list(self.history), self.screen, self.data, len(self.steps)

    def rollback(self, point: Checkpoint, *, keep_steps: bool) -> None:
        """Back to ``point``; the turn's steps kept in the walk when ``keep_steps``."""
        self.seen, self.history, self.screen, self.data, steps = point
        if not keep_steps:
            del self.steps[steps:]
        self.findings.clear()
        self.completion = None

    # -- screens, script, actions ------------------------------------------------------

    @property
    def form(self) -> dict[str, Any]:
        return self.seen.setdefault(self.screen, {"data": {}, "form": {}})["form"]

    def _scope(self, form: dict[str, Any]) -> Scope:
        return Scope(self.data, form, self.seen)

    def _show(self, target: str, data: dict[str, Any], *, origin: str | None, where: str) -> None:
        for kind, path, message in data_findings(self.screens[target], data, where):
            self._flag(kind, target, path, message)
        if self.findings:
            raise _Stop
        again = target == self.screen  # the endpoint answered the same screen: keep its form
        self.screen, self.data = target, data
        seen = self.seen.setdefault(target, {"data": data, "form": {}})
        seen["data"] = data
        start = init_values(self.screens[target].layout.children, self._scope({}))
        seen["form"] = {**start, **seen["form"]} if again else start

    def _entry(self) -> dict[str, Any]:
        script = self.answers.get(self.screen)
        n = self.visits.get(self.screen, 0)
        self.visits[self.screen] = n + 1
        if isinstance(script, list):
            script = script[n] if n < len(script) else None
        if not isinstance(script, dict):
            had = (
                "no answers"
                if n == 0 or not isinstance(self.answers.get(self.screen), list)
                else f"only {n} answer(s)"
            )
            self._record((), "", "", note="the script stops here")
            unknown = sorted(
                k for k in self.answers if not k.startswith("_") and k not in self.screens
            )
            typo = f" (the script names no such screen: {', '.join(unknown)})" if unknown else ""
            raise self._fail(
                "never_completed",
                self.screen,
                self.screen,
                f"the script has {had} for screen {self.screen}; the Flow never completes{typo}",
            )
        return dict(script or {})

    def _pressed(
        self, comps: list[Any], pressed: str, entry: dict[str, Any]
    ) -> tuple[Any, m.Action]:
        for comp in comps:
            if pressed == "footer" and isinstance(comp, m.Footer):
                return comp, comp.on_click_action
            if getattr(comp, "name", None) == pressed or getattr(comp, "text", None) == pressed:
                action = getattr(comp, "on_click_action", None) or getattr(
                    comp, "on_select_action", None
                )
                if action is None:  # an item's own action: the one picked or the "_item"
                    action = item_action(comp, entry.get("_item", self.form.get(pressed)))
                if action is not None:
                    return comp, action
        self._record((), pressed, "", note="nothing to press")
        raise self._fail(
            "never_completed",
            self.screen,
            f"{self.screen}._action",
            f"the script presses {pressed!r}, which is not shown or has no action",
        )

    def _back(self, rendered: tuple[str, ...]) -> None:
        screen = self.screens[self.screen]
        if screen.refresh_on_back and self.flow.data_api_version:
            request = {
                "version": self._api_version(),
                "action": "BACK",
                "screen": self.screen,
                "data": {},
                "flow_token": self.token,
            }
            self.history.pop() if self.history else None
            self._exchange(rendered, dict(self.form), request, action="BACK", origin=self.screen)
            return
        if not self.history:
            self._record(rendered, "back", "close", note="back on the first screen closes the Flow")
            raise self._fail("never_completed", self.screen, "", CLOSED)
        self._record(rendered, "back", "back")
        self.screen, self.data = self.history.pop()

    def _exchange(
        self,
        rendered: tuple[str, ...] | None,
        form: dict[str, Any],
        request: dict[str, Any],
        *,
        action: str,
        origin: str | None,
        component: str = "",
    ) -> None:
        step: dict[str, Any] = {
            "screen": origin,
            "data": self.data if origin else {},
            "rendered": rendered or (),
            "form": form,
            "action": action,
            "component": component,
            "request": request,
        }
        if self.exchange is None:
            self.steps.append(Step(**step, note="no endpoint given"))
            raise self._fail(
                "endpoint_error", origin, "", f"{action} needs an endpoint; none was given"
            )
        started = self.clock()
        try:
            answer = self.exchange(request)
        except ExchangeError as exc:
            ms = (self.clock() - started) * 1000
            note = f"failed: {exc.message}"
            self.steps.append(Step(**step, status_code=exc.status_code, elapsed_ms=ms, note=note))
            code = f"HTTP {exc.status_code}: " if exc.status_code else ""
            raise self._fail(
                "endpoint_error", origin, "", f"{action}: {code}{exc.message}"
            ) from exc
        except Exception as exc:  # the endpoint's bug, a timeout, a lost connection
            ms = (self.clock() - started) * 1000
            note = f"failed: {type(exc).__name__}: {exc}"
            self.steps.append(Step(**step, elapsed_ms=ms, note=note))
            why = f"{action}: {type(exc).__name__}: {exc}"
            raise self._fail("endpoint_error", origin, "", why) from exc
        ms = (self.clock() - started) * 1000
        self.steps.append(Step(**step, response=answer, status_code=200, elapsed_ms=ms))
        self._answer(answer, origin, back=action == "BACK")

    def _answer(self, answer: Any, origin: str | None, *, back: bool = False) -> None:
        if not isinstance(answer, dict) or "error" in answer or "error_msg" in answer:
            raise self._fail("endpoint_error", origin, "", f"the endpoint answered {answer!r:.200}")
        target, data = answer.get("screen"), answer.get("data")
        if not isinstance(data, dict):
            raise self._fail("wrong_type", origin, "data", "the answer's data must be an object")
        if isinstance(target, str) and target.lower() == "success":  # the closing answer
            params = (data.get("extension_message_response") or {}).get("params")
            if not isinstance(params, dict):
                raise self._fail(
                    "missing_field",
                    origin,
                    "data.extension_message_response.params",
                    "a SUCCESS answer carries extension_message_response.params",
                )
            self._complete(params)
        if not isinstance(target, str) or target not in self.screens:
            raise self._fail(
                "outside_routing",
                origin,
                "screen",
                f"the endpoint answered screen {target!r}, which the Flow does not have",
            )
        if origin is not None:
            self._check_route(target, "screen")
        if target != origin and origin is not None and not back:
            self.history.append((origin, self.data))
        self._show(target, data, origin=origin, where="data")

    def _check_route(self, target: str, path: str) -> None:
        here = self.screen
        if (
            target == here
            or target in self.routes.get(here, ())
            or here in self.routes.get(target, ())
        ):
            return
        raise self._fail(
            "outside_routing", here, path, f"{here} → {target} is not a route of the routing model"
        )

    def _complete(self, payload: dict[str, Any]) -> None:
        self.completion = {
            "response_json": {**payload, "flow_token": payload.get("flow_token", self.token)},
            "body": "Sent",
            "name": "flow",
        }
        raise _Stop

    def _record(
        self,
        rendered: tuple[str, ...],
        component: str,
        action: str,
        *,
        payload: dict[str, Any] | None = None,
        note: str = "",
    ) -> None:
        self.steps.append(
            Step(
                screen=self.screen,
                data=self.data,
                rendered=rendered,
                form=dict(self.form) if self.screen else {},
                action=action,
                component=component,
                request=payload,
                note=note,
            )
        )

    def _flag(self, kind: FindingKind, screen: str | None, path: str, message: str) -> None:
        self.findings.append(Finding(kind=kind, screen=screen, path=path, message=message))

    def _fail(self, kind: FindingKind, screen: str | None, path: str, message: str) -> _Stop:
        """Flag, and what to raise: the walk ends here."""
        self._flag(kind, screen, path, message)
        return _Stop()

    def _api_version(self) -> str:
        return self.flow.data_api_version or "3.0"
