"""If conditions and backtick expressions, against the examples Meta publishes.

Accepted: every example of the components page ("If", "Supported Operators") and of the
Flow JSON page ("Nested Expressions"). Refused: every sample of the error-codes page's
"If" table, with its reason.
"""

from __future__ import annotations

import pytest

from gateway.flowjson.expressions import ExpressionError, Kind, check
from tests.fuzz.strategies import default_stack

TYPES: dict[str, Kind] = {
    "form.opt_in": "boolean",
    "form.accept": "boolean",
    "form.subscribe": "boolean",
    "form.value1": "boolean",
    "form.city": "string",
    "form.address": "string",
    "form.first_name": "string",
    "form.last_name": "string",
    "form.age": "number",
    "form.group_size": "number",
    "data.num_value": "number",
    "data.num_value2": "number",
    "data.boolean_value": "boolean",
    "data.string_value": "string",
    "data.total": "number",
    "data.val": "boolean",
    "data.value_1": "boolean",
    "data.untyped": None,
}


def _resolve(ref: str) -> Kind:
    return TYPES[ref]


@pytest.mark.parametrize(
    "condition",
    [
        "${form.opt_in} || (${data.num_value} > 5)",
        "${form.opt_in} && (${form.address} != '')",
        "!${form.value1}",
        "${form.opt_in} == true",
        "${data.num_value} == 5",
        "${form.city} == 'London'",
        "${form.opt_in} != true",
        "${form.city} != 'London'",
        "${form.opt_in} && ${data.boolean_value}",
        "${form.opt_in} || ${data.boolean_value}",
        "!(${form.opt_in} || ${data.boolean_value})",
        "!(${data.num_value} > 5)",
        "${data.num_value} > ${data.num_value2}",
        "${data.num_value} >= 5",
        "${data.num_value} < 5",
        "${data.num_value} <= ${data.num_value2}",
        "${data.untyped}",  # unknown type: cannot be wrong
        "(${data.untyped} == 'x')",
    ],
)
def test_conditions_from_the_components_page(condition: str) -> None:
    kind, refs = check(condition, _resolve, condition=True)
    assert kind in ("boolean", None)
    assert refs >= 1


@pytest.mark.parametrize(
    ("condition", "why"),
    [
        (" ", "at least one operand"),
        ("( )", "empty parentheses"),
        ("573 == 376", "literals on both sides"),
        ("))${data.value_1}((", "Missing operand"),
        ("${data.val} ) -a", "Missing opening parenthesis"),
        ("((${data.string_value}))", "to be a boolean"),
        ("true", "at least one dynamic value"),
        ("${form.city} == 'London", "closing quote"),
        ("${form.city} ${form.address}", "Missing operator"),
        ("${form.city} == 5", "Type mismatch"),
        ("${data.num_value} > 'five'", "takes number"),
        ("${form.city} && ${form.opt_in}", "takes boolean"),
        ("${form.city} => 'x'", "Unexpected character '='"),
        ("(${form.opt_in}", "Missing closing parenthesis"),
        ("${form.opt_in} &&", "Missing operand after"),
        ("&& ${form.opt_in}", "Wrong positioning"),
    ],
)
def test_conditions_the_error_page_refuses(condition: str, why: str) -> None:
    with pytest.raises(ExpressionError, match=why):
        check(condition, _resolve, condition=True)


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        ("${form.first_name} == ${form.last_name}", "boolean"),
        ("${form.accept} != true", "boolean"),
        ("${form.age} == 18", "boolean"),
        ("${form.age} > 18", "boolean"),
        ("${form.accept} && ${form.subscribe}", "boolean"),
        ("(${form.age} > 18) && ${form.accept}", "boolean"),
        ("(${form.first_name} != '') || (${form.last_name} != '')", "boolean"),
        ("'Hello ' ${form.first_name}", "string"),
        ("${form.first_name} ' you are ' ${form.age} ' years old.'", "string"),
        ("'You were born on either ' (2024 - ${form.age}) ' or ' (2023 - ${form.age})", "string"),
        ("'The amount per person is: ' ${data.total} / ${form.group_size}", "string"),
        ("${data.total} % ${form.group_size}", "number"),
        ("'This is an example for Ana\\`s house.'", "string"),
    ],
)
def test_nested_expressions_from_the_flow_json_page(expression: str, kind: str) -> None:
    assert check(expression, _resolve, condition=False)[0] == kind


def test_references_are_resolved_once_each_in_order() -> None:
    seen: list[str] = []
    check("${form.age} > 1 && ${form.accept} || ${form.age} < 9", seen.append, condition=True)
    assert seen == ["form.age", "form.accept", "form.age"]


def test_deep_nesting_costs_a_loop_not_the_stack() -> None:
    deep = "(" * 100_000 + "!" * 100_000 + "${form.accept}" + ")" * 100_000
    with default_stack():
        assert check(deep, _resolve, condition=True) == ("boolean", 1)
        with pytest.raises(ExpressionError, match="Missing closing parenthesis"):
            check("(" + deep, _resolve, condition=True)
