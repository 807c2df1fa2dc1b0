"""If conditions and backtick expressions: syntax and types, without evaluating them.

Meta's grammar (components page, "If"; Flow JSON page, "Nested expressions"):
operands are ``${…}`` references, 'strings', numbers, true and false; operators are
``== != < <= > >= && || !``, ``+ - / %`` (and ``*``, which published flows use) and
parentheses. A backtick expression (6.0+) also joins operands by juxtaposition:
``'Hello ' ${form.name}`` is a string. An If ``condition`` is the same language without
the backticks and without juxtaposition, and must come out boolean.

The parser is a shunting-yard over a lexeme list: no recursion, so a condition of ten
thousand parentheses costs a loop, not the stack. Types flow through it as Meta names
them ("string", "number", "boolean", "array", "object") or ``None`` where a reference's
type is not known; only a known type can be wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Kind = str | None
Resolve = Callable[[str], Kind]
"""Called with the inside of each ``${…}``; reports a bad reference itself, returns its type."""

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ref>\$\{[^}]*\})
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<num>\d+(?:\.\d+)?)
      | (?P<word>true|false)\b
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!+\-*/%()])
      | (?P<bad>['"]|\S)
    )""",
    re.VERBOSE,
)
_BINARY = {  # operator → precedence; higher binds tighter
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
}
_ARITHMETIC = frozenset("+-*/%")
_CONCAT = " "  # juxtaposition, below every operator: 'Sum: ' ${a} + ${b}
_UNARY = {"!": 7, "neg": 7}
_PRECEDENCE = {**_BINARY, **_UNARY, _CONCAT: 0, "(": -1}


class ExpressionError(ValueError):
    """Why an expression does not parse or does not type-check (Meta's wording)."""


@dataclass(slots=True)
class _Value:
    kind: Kind
    literal: bool  # made of literals only: Meta refuses comparing two of them


def _number(kind: Kind) -> Kind:
    return "number" if kind == "integer" else kind


def check(text: str, resolve: Resolve, *, condition: bool) -> tuple[Kind, int]:
    """(the expression's type, how many references it holds); raises ExpressionError.

    ``condition=True`` reads an If condition, otherwise the inside of a backtick
    expression. Each reference is handed to ``resolve`` exactly once, in order.
    """
    values: list[_Value] = []
    ops: list[str] = []
    refs = 0
    expect_operand = True
    after_open = False
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        lexeme = m.group(kind) if kind else ""
        column = m.start(kind) + 1 if kind else 0
        if kind == "bad":
            if lexeme in "'\"":
                raise ExpressionError("Missing closing quote for string.")
            raise ExpressionError(f"Unexpected character '{lexeme}' found at column {column}.")
        operand = kind in ("ref", "str", "num", "word")
        if not expect_operand and (operand or lexeme in ("(", "!")):
            if condition:  # juxtaposition only concatenates inside backticks
                raise ExpressionError(f"Missing operator before '{lexeme}' at column {column}.")
            _push(values, ops, _CONCAT)
            expect_operand = True
        if operand:
            if kind == "ref":
                refs += 1
                values.append(_Value(_number(resolve(lexeme[2:-1].strip())), False))
            else:
                literal = {"str": "string", "num": "number", "word": "boolean"}[str(kind)]
                values.append(_Value(literal, True))
            expect_operand, after_open = False, False
        elif lexeme == "(":
            ops.append("(")
            after_open = True
        elif lexeme == ")":
            if expect_operand:
                problem = "Found invalid empty parentheses" if after_open else "Missing operand"
                raise ExpressionError(f"{problem} at column {column}.")
            while ops and ops[-1] != "(":
                _apply(values, ops.pop(), condition)
            if not ops:
                raise ExpressionError(
                    f"Missing opening parenthesis for the closing parenthesis at column {column}."
                )
            ops.pop()
            after_open = False
        elif expect_operand:
            if lexeme not in ("!", "-"):
                raise ExpressionError(
                    f"Wrong positioning of operator '{lexeme}' at column {column}."
                )
            ops.append("neg" if lexeme == "-" else "!")
            after_open = False
        else:
            _push(values, ops, lexeme, condition)
            expect_operand = True
    if expect_operand:
        if not values and not ops:
            raise ExpressionError("Expected at least one operand.")
        raise ExpressionError("Missing operand after the last operator.")
    while ops:
        op = ops.pop()
        if op == "(":
            raise ExpressionError("Missing closing parenthesis.")
        _apply(values, op, condition)
    result = values[-1]
    if condition:
        if refs == 0:
            raise ExpressionError(
                "A condition needs at least one dynamic value, not only literals."
            )
        if result.kind not in (None, "boolean"):
            raise ExpressionError(f"Expected the condition to be a boolean, found {result.kind}.")
    return result.kind, refs


def _push(values: list[_Value], ops: list[str], op: str, condition: bool = False) -> None:
    """Reduce what binds at least as tightly as ``op`` (left-associative), then stack it."""
    while ops and ops[-1] != "(" and _PRECEDENCE[ops[-1]] >= _PRECEDENCE[op]:
        _apply(values, ops.pop(), condition)
    ops.append(op)


def _apply(values: list[_Value], op: str, condition: bool) -> None:
    if op in _UNARY:
        value = values.pop()
        wanted = "boolean" if op == "!" else "number"
        _expect(value.kind, wanted, "!" if op == "!" else "-")
        values.append(_Value(wanted, value.literal))
        return
    right, left = values.pop(), values.pop()
    literal = left.literal and right.literal
    if op == _CONCAT:
        values.append(_Value("string", literal))
        return
    if condition and literal and op in ("==", "!=", "<", "<=", ">", ">="):
        raise ExpressionError("An operator cannot have literals on both sides.")
    if op in ("==", "!="):
        if left.kind and right.kind and left.kind != right.kind:
            raise ExpressionError(
                f"Type mismatch in an equality operation between {left.kind} and {right.kind}."
            )
        values.append(_Value("boolean", literal))
        return
    wanted = "boolean" if op in ("&&", "||") else "number"
    _expect(left.kind, wanted, op)
    _expect(right.kind, wanted, op)
    values.append(_Value("number" if op in _ARITHMETIC else "boolean", literal))


def _expect(kind: Kind, wanted: str, op: str) -> None:
    if kind is not None and kind != wanted:
        raise ExpressionError(f"Operator '{op}' takes {wanted} values, found {kind}.")
