"""What the Flow player shows: dynamic references and expressions evaluated, If/Switch
and ``visible`` applied, over the typed model (reference/flows.md §A7).

The validator only type-checks expressions (:mod:`gateway.flowjson.expressions`); this
evaluates them, on the same lexemes, the way Meta's Flow JSON page describes: ``== !=
< <= > >= && || !``, ``+ - * / %`` (division by zero yields 0), and, inside backticks,
string concatenation by juxtaposition. A reference to something not there yet (a global
forward reference, an empty form field) is ``None``, as the client leaves it empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.flowjson import model as m
from gateway.flowjson.expressions import _BINARY, _TOKEN, ExpressionError
from gateway.flowjson.refs import WHOLE_REF

if TYPE_CHECKING:
    from gateway.flowjson.player_result import PlayResult

_CONCAT = " "
_PRECEDENCE = {**_BINARY, "!": 7, "neg": 7, _CONCAT: 0, "(": -1}
INPUTS = (
    m.TextInput,
    m.TextArea,
    m.CheckboxGroup,
    m.RadioButtonsGroup,
    m.Dropdown,
    m.ChipsSelector,
    m.OptIn,
    m.DatePicker,
    m.CalendarPicker,
    m.PhotoPicker,
    m.DocumentPicker,
)
Input = (
    m.TextInput
    | m.TextArea
    | m.CheckboxGroup
    | m.RadioButtonsGroup
    | m.Dropdown
    | m.ChipsSelector
    | m.OptIn
    | m.DatePicker
    | m.CalendarPicker
    | m.PhotoPicker
    | m.DocumentPicker
)


@dataclass(slots=True)
class Scope:
    """What ``${…}`` reads on one screen: its data, its form, the other screens'."""

    data: dict[str, Any]
    form: dict[str, Any]
    screens: Mapping[str, Mapping[str, dict[str, Any]]] = field(default_factory=dict)
    """screen id → {"data": …, "form": …} as last seen (global references)."""

    def lookup(self, ref: str) -> Any:
        parts = ref.strip().split(".")
        if parts[0] == "screen" and len(parts) >= 4:
            seen = self.screens.get(parts[1], {})
            return _dig(seen.get(parts[2], {}), parts[3:])
        if parts[0] == "data":
            return _dig(self.data, parts[1:])
        if parts[0] == "form":
            return _dig(self.form, parts[1:])
        return None


def _dig(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def evaluate(value: Any, scope: Scope) -> Any:
    """A property or payload with every reference and expression replaced by its value."""
    if isinstance(value, str):
        whole = WHOLE_REF.match(value)
        if whole:
            return scope.lookup(whole.group(1))
        if len(value) >= 2 and value[0] == value[-1] == "`":
            return expression(value[1:-1], scope, condition=False)
        return value
    if isinstance(value, dict):
        return {k: evaluate(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, scope) for v in value]
    return value


def truthy(value: Any, scope: Scope, default: bool) -> bool:
    """A ``visible`` / ``required`` / ``enabled`` property: static or a reference."""
    if value is None:
        return default
    got = evaluate(value, scope)
    return default if got is None else bool(got)


def expression(text: str, scope: Scope, *, condition: bool) -> Any:
    """The value of an If condition or of a backtick expression (a shunting-yard, as in
    :func:`gateway.flowjson.expressions.check`); raises ExpressionError."""
    values: list[Any] = []
    ops: list[str] = []
    expect_operand = True
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        lexeme = match.group(kind) if kind else ""
        if kind == "bad":
            raise ExpressionError(f"unexpected {lexeme!r}")
        operand = kind in ("ref", "str", "num", "word")
        if not expect_operand and (operand or lexeme in ("(", "!")):
            _push(values, ops, _CONCAT)
            expect_operand = True
        if operand:
            values.append(_literal(str(kind), lexeme, scope))
            expect_operand = False
        elif lexeme == "(":
            ops.append("(")
        elif lexeme == ")":
            while ops and ops[-1] != "(":
                _apply(values, ops.pop())
            if ops:
                ops.pop()
        elif expect_operand:
            ops.append("neg" if lexeme == "-" else "!")
        else:
            _push(values, ops, lexeme)
            expect_operand = True
    while ops:
        op = ops.pop()
        if op != "(":
            _apply(values, op)
    if len(values) != 1:
        raise ExpressionError(f"cannot evaluate {text!r}")
    return bool(values[0]) if condition else values[0]


def _literal(kind: str, lexeme: str, scope: Scope) -> Any:
    if kind == "ref":
        return scope.lookup(lexeme[2:-1])
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", lexeme[1:-1])
    if kind == "num":
        return float(lexeme) if "." in lexeme else int(lexeme)
    return lexeme == "true"


def _push(values: list[Any], ops: list[str], op: str) -> None:
    while ops and ops[-1] != "(" and _PRECEDENCE[ops[-1]] >= _PRECEDENCE[op]:
        _apply(values, ops.pop())
    ops.append(op)


def _apply(values: list[Any], op: str) -> None:
    if op in ("!", "neg"):
        value = values.pop()
        values.append(not value if op == "!" else -_num(value))
        return
    right, left = values.pop(), values.pop()
    values.append(_binary(op, left, right))


def _num(value: Any) -> float | int:
    if isinstance(value, bool) or value is None:
        return int(bool(value))
    if isinstance(value, int | float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0


def _binary(op: str, left: Any, right: Any) -> Any:
    if op == _CONCAT:
        return f"{as_text(left)}{as_text(right)}"
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "&&":
        return bool(left) and bool(right)
    if op == "||":
        return bool(left) or bool(right)
    a, b = _num(left), _num(right)
    if op in ("<", "<=", ">", ">="):
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if op in ("/", "%") and b == 0:
        return 0  # Meta: division by zero yields 0
    result = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0, "%": a % b if b else 0}[
        op
    ]
    return int(result) if isinstance(result, float) and result.is_integer() else result


def as_text(value: Any) -> str:
    """A value as the client shows it in text: empty for null, JSON's true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shown(children: list[Any], scope: Scope) -> Iterator[Any]:
    """The components the user sees, in order: Forms flattened, the If branch and Switch
    case that apply, components whose ``visible`` is false left out."""
    for comp in children:
        if isinstance(comp, m.Form):
            yield from shown(comp.children, scope)
        elif isinstance(comp, m.If):
            try:
                hold = expression(comp.condition, scope, condition=True)
            except ExpressionError:
                hold = False
            yield from shown(comp.then if hold else (comp.else_ or []), scope)
        elif isinstance(comp, m.Switch):
            key = evaluate(comp.value, scope)
            yield from shown(comp.cases.get(as_text(key), []), scope)
        elif truthy(getattr(comp, "visible", None), scope, True):
            yield comp


def items_of(source: Any, scope: Scope) -> Any:
    """A data-source or list-items as the client reads them: a reference evaluated,
    static items as JSON objects (kebab-case keys); not a list when a reference reaches
    none."""
    if isinstance(source, str):
        return evaluate(source, scope)
    return [i.model_dump(by_alias=True, exclude_none=True) for i in source or []]


def init_values(children: list[Any], scope: Scope) -> dict[str, Any]:
    """The starting form: each Form's ``init-values`` and each input's ``init-value``."""
    out: dict[str, Any] = {}
    for comp in every_component(children):
        if isinstance(comp, m.Form) and comp.init_values is not None:
            got = evaluate(comp.init_values, scope)
            if isinstance(got, dict):
                out.update({k: v for k, v in got.items() if v is not None})
        elif isinstance(comp, INPUTS):
            value = evaluate(getattr(comp, "init_value", None), scope)
            if value is None and isinstance(comp, m.OptIn):
                value = False  # an unticked box reads false, not empty
            if value is not None:
                out[comp.name] = value
    return out


def every_component(children: list[Any]) -> Iterator[Any]:
    """Every component below ``children``, shown or not (Forms, If and Switch opened)."""
    for comp in children:
        yield comp
        if isinstance(comp, m.Form):
            yield from every_component(comp.children)
        elif isinstance(comp, m.If):
            yield from every_component([*comp.then, *(comp.else_ or [])])
        elif isinstance(comp, m.Switch):
            for case in comp.cases.values():
                yield from every_component(case)


def describe(comp: Any, scope: Scope, form: Mapping[str, Any]) -> str:
    """One transcript line for a shown component."""
    kind = str(comp.type)
    if isinstance(comp, INPUTS):
        label = evaluate(getattr(comp, "label", None), scope)
        value = form.get(comp.name)
        shown_value = "" if value is None else f" = {value!r}"
        return f"{kind} {comp.name} ({as_text(label) if label else comp.name}){shown_value}"
    for prop in ("text", "label"):
        value = getattr(comp, prop, None)
        if value is not None:
            got = evaluate(value, scope)
            text = " / ".join(map(as_text, got)) if isinstance(got, list) else as_text(got)
            return f"{kind}: {text[:120]}"
    return kind


def render_transcript(result: PlayResult) -> str:
    """The walk as a person reads it: each screen, what was shown, filled and pressed."""
    lines: list[str] = []
    for n, step in enumerate(result.steps, 1):
        head = f"{n}. {step.screen or '(opening)'}"
        timing = f" [{step.elapsed_ms:.1f} ms]" if step.elapsed_ms is not None else ""
        lines.append(
            f"{head} — {step.action or 'stop'}"
            f"{f' via {step.component}' if step.component else ''}{timing}"
        )
        lines.extend(f"     | {line}" for line in step.rendered)
        if step.form:
            lines.append(f"     form: {json.dumps(step.form, ensure_ascii=False)}")
        if step.request is not None:
            lines.append(f"     → {json.dumps(step.request, ensure_ascii=False)[:400]}")
        if step.response is not None or step.status_code not in (None, 200):
            body = json.dumps(step.response, ensure_ascii=False)[:400]
            lines.append(f"     ← {step.status_code or '-'} {body}")
        if step.note:
            lines.append(f"     ({step.note})")
    for finding in result.findings:
        lines.append(f"FINDING {finding}")
    if result.completion is not None:
        reply = json.dumps(result.completion["response_json"], ensure_ascii=False)
        lines.append(f"COMPLETED nfm_reply response_json={reply}")
    if result.unused:
        lines.append(
            f"NOTE the walk never reached {', '.join(result.unused)}, which the script answers"
        )
    return "\n".join(lines)
