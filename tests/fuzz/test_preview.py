"""The preview's inputs from outside: whatever a page posts as a press, and whatever an
endpoint answers, the session never raises and the page always gets strict JSON.

Flows: our ``greet.json`` and its endpoint (tests/flowjson/player).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from gateway.endpoint import FlowEndpoint, FlowRequest
from gateway.flowjson.player_exchange import endpoint_exchange
from gateway.flowjson.player_session import FlowSession
from gateway.preview import encode
from tests.flowjson.player import endpoints
from tests.fuzz.strategies import json_values, more, texts

GREET = json.loads((Path(__file__).parents[1] / "flowjson/player/greet.json").read_text())
NAMES = ["name", "email", "size", "mood", "footer", "back", "Our terms", "nope"]
EXCHANGE = endpoint_exchange(endpoints.greeter())


def _strict(body: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(body.decode("ascii"), parse_constant=refuse)


presses = st.lists(
    st.tuples(
        st.dictionaries(st.one_of(st.sampled_from(NAMES), texts(8)), json_values(), max_size=4),
        st.one_of(st.sampled_from(NAMES), texts(12)),
        st.one_of(st.none(), st.sampled_from(["s", "l", "ok", "meh"]), texts(8)),
    ),
    max_size=6,
)


@more(2)
@given(presses=presses)
@example(presses=[({"name": math.nan, "email": "\ud800", "size": math.inf}, "footer", None)])
def test_any_presses_never_raise(presses: list[tuple[dict[str, Any], str, Any]]) -> None:
    session = FlowSession(GREET, exchange=EXCHANGE)
    for form, action, item in presses:
        session.press(form, action, item)
        view = _strict(encode(session.view()))
        assert view["ended"] or view["screen"]["id"] in {"ASK", "GREET", "DONE"}


@given(answer=json_values(), data=st.dictionaries(texts(8), json_values(), max_size=4))
def test_any_endpoint_answer_is_drawn_or_a_finding(answer: Any, data: dict[str, Any]) -> None:
    odd = FlowEndpoint(endpoints.KEY)

    @odd.on_data_exchange("ASK")
    def ask(request: FlowRequest) -> Any:
        return answer

    hostile = FlowEndpoint(endpoints.KEY)

    @hostile.on_data_exchange("ASK")
    def screen(request: FlowRequest) -> Any:
        return {"screen": "GREET", "data": {**endpoints.GREET_DATA, **data}}

    for endpoint in (odd, hostile):
        session = FlowSession(GREET, exchange=endpoint_exchange(endpoint))
        session.press({"name": "Ann"})
        view = _strict(encode(session.view()))
        assert view["findings"] or view["screen"]["id"] == "GREET"
