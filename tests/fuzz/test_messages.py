"""``FlowMessage`` → ``build_send`` for every provider, fuzzed.

The documented send inputs with fields replaced by any text (lone surrogates, controls,
100 KB), values of the wrong type, or ``data`` holding what JSON cannot carry (NaN,
infinities, 10**400, deep nesting). Construction either succeeds or raises pydantic's
ValidationError; a message that was accepted then builds, on every provider, a request a
provider can read (strict UTF-8 JSON equal to ``request.json``), or raises
UnsupportedFeature / ConfigError. Nothing else escapes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway import ConfigError, FlowMessage, UnsupportedFeature
from gateway.http import HttpRequest
from providers import get_adapter
from tests.conftest import PROVIDERS
from tests.fuzz.strategies import deep_objects, default_stack, fixtures, json_values, more, texts

NAMES = sorted(PROVIDERS)
INPUTS = [c["input"] for p in NAMES for c in fixtures(p, "outbound") if c["kind"] == "send"]
FIELDS = sorted(set(FlowMessage.model_fields) | {"template.name", "template.language",
                "template.button_index", "template.body_parameters", "sinch.correlation_id",
                "sinch.message_metadata", "sinch.contact_id"})  # fmt: skip
ADAPTERS = [get_adapter(p, **PROVIDERS[p]) for p in NAMES]


VALUES = st.one_of(
    texts(),
    st.sampled_from(["+14155550100", "US.13491208655302741918", "navigate", "draft"]),
    json_values(),
    st.lists(texts(), max_size=3),
    st.builds(lambda v: {"k": v}, json_values()),  # a non-empty ``data`` of any content
    deep_objects(),
)


@st.composite
def _kwargs(draw: st.DrawFn) -> dict[str, Any]:
    kwargs: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(INPUTS)))
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(FIELDS))
        parent, _, child = name.rpartition(".")
        target = kwargs
        if parent:
            if not isinstance(kwargs.get(parent), dict):
                continue
            target = kwargs[parent]
        if draw(st.integers(0, 5)) == 0:
            target.pop(child or name, None)
        else:
            target[child or name] = draw(VALUES)
    return kwargs


def _check_request(req: HttpRequest) -> None:
    assert isinstance(req, HttpRequest)
    if req.json is None:
        return
    text = req.content.decode("utf-8")  # a provider reads UTF-8: no encoded surrogates
    sent = json.loads(text, parse_constant=_not_json)
    assert sent == req.json


def _not_json(name: str) -> Any:
    raise AssertionError(f"the request body holds {name}, which no provider can parse")


def _construct_and_build(kwargs: dict[str, Any]) -> None:
    """The property: a ValidationError, or on every provider a readable request or
    UnsupportedFeature / ConfigError."""
    outcomes: list[HttpRequest | Exception] = []
    with default_stack():
        try:
            msg = FlowMessage(**kwargs)
        except ValidationError as exc:
            outcomes.append(exc)
        else:
            for adapter in ADAPTERS:
                try:
                    outcomes.append(adapter.build_send(msg))
                except (UnsupportedFeature, ConfigError) as exc:
                    outcomes.append(exc)
    for outcome in outcomes:
        if isinstance(outcome, ValidationError):
            assert outcome.errors()
        if isinstance(outcome, Exception):
            assert str(outcome)
        else:
            _check_request(outcome)


@more(2)
@given(kwargs=_kwargs())
def test_flow_message_builds_on_every_provider_or_says_why(kwargs: dict[str, Any]) -> None:
    _construct_and_build(kwargs)


BASE = {"to": "+14155550100", "flow_id": "1", "flow_cta": "Go", "body": "b", "screen": "S"}


@pytest.mark.parametrize("field", ["to", "flow_cta", "body", "header", "footer", "flow_token"])
@given(text=texts(1500))
def test_any_text_in_a_field(field: str, text: str) -> None:
    """Arbitrary text where the fixtures have text: the rules decide, never a crash."""
    _construct_and_build({**BASE, field: text})


DATA = st.one_of(
    st.dictionaries(texts(10), json_values(), min_size=1, max_size=4),
    deep_objects(),
)


@pytest.mark.parametrize("kind", ["interactive", "template"])
@given(data=DATA, params=st.lists(texts(), max_size=3))
def test_any_data_and_parameters(kind: str, data: dict[str, Any], params: list[str]) -> None:
    """``data`` (and a template's body parameters) of any content: refused at
    construction, or sent as JSON a provider can read."""
    if kind == "interactive":
        _construct_and_build({**BASE, "data": data, "flow_token": "tok"})
    else:
        template = {"name": "t", "language": "en_US", "body_parameters": params}
        _construct_and_build({"to": BASE["to"], "template": template, "data": data})
