"""FlowSession: a person drives the player one press at a time (the preview page's model).

``player/greet.json`` and its endpoint are ours; Meta's pre-approved loan template is read
in place (tests/realworld.py) and walked both ways, scripted and pressed, to the same end.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.endpoint import next_screen
from gateway.flowjson.player import ExchangeError, play
from gateway.flowjson.player_exchange import endpoint_exchange
from gateway.flowjson.player_session import FlowSession
from tests.flowjson.player import endpoints
from tests.realworld import realworld

HERE = Path(__file__).parent / "player"
GREET = json.loads((HERE / "greet.json").read_text())
LOAN = realworld("flowjson") / "meta_docs_pre_approved_loan.json"


def _session(**kw: Any) -> FlowSession:
    kw.setdefault("exchange", endpoint_exchange(endpoints.greeter()))
    return FlowSession(GREET, **kw)


def _types(session: FlowSession) -> list[str]:
    return [c["type"] for c in session.view()["screen"]["components"]]


def _comp(session: FlowSession, **match: Any) -> dict[str, Any]:
    comps = session.view()["screen"]["components"]
    return next(c for c in comps if all(c.get(k) == v for k, v in match.items()))


def test_the_first_screen_opens_with_its_data_models_examples() -> None:
    view = _session().view()
    assert view["screen"]["id"] == "ASK"
    assert view["screen"]["title"] == "Your name"
    assert view["screen"]["data"] == {"heading": "Hello"}  # greet.json's __example__
    heading, name, email, size, link, footer = view["screen"]["components"]
    assert heading == {"type": "TextHeading", "text": "Hello", "font_weight": None}
    assert name["required"] is True
    assert name["max_chars"] == 20
    assert name["value"] is None
    assert email["input_type"] == "email"
    assert email["required"] is False
    assert [o["id"] for o in size["options"]] == ["s", "l"]
    assert link == {"type": "EmbeddedLink", "text": "Our terms", "press": "Our terms"}
    assert footer == {"type": "Footer", "label": "Next", "enabled": True}
    assert not view["ended"]
    assert not view["can_back"]
    assert view["findings"] == []


def test_given_data_and_screen_replace_the_examples() -> None:
    session = _session(data={"heading": "Welcome"})
    assert _comp(session, type="TextHeading")["text"] == "Welcome"
    done = _session(screen="DONE", data={"name": "Bo"})
    assert done.view()["screen"]["id"] == "DONE"
    assert _comp(done, type="TextBody")["text"] == "Bo"


def test_a_required_field_left_empty_keeps_the_screen_with_its_error() -> None:
    session = _session()
    session.press({"name": None})
    view = session.view()
    assert view["screen"]["id"] == "ASK"
    assert not view["ended"]
    assert set(view["errors"]) == {"name"}
    assert "required" in view["errors"]["name"]
    assert view["findings"] == []
    assert view["steps"] == 0
    session.press({"name": "Ann", "email": "not-an-email"})  # optional, but refused
    assert set(session.view()["errors"]) == {"email"}
    session.press({"name": "Ann", "email": "ann@example.com"})
    assert session.view()["screen"]["id"] == "GREET"
    assert session.view()["errors"] == {}


def test_a_walk_through_every_action_to_the_completion() -> None:
    session = _session()
    session.press({"name": "Ann", "size": "l"})  # data_exchange
    assert _types(session) == ["TextBody", "TextBody", "TextCaption", "RadioButtonsGroup", "Footer"]
    assert _comp(session, type="TextBody")["text"] == "Hi, Ann"  # a global ${screen.ASK…}
    assert session.view()["can_back"]
    session.press({"mood": "ok"}, "mood", "ok")  # the option's on-select update_data
    assert _comp(session, type="TextCaption", text="VIP lounge")
    assert _comp(session, type="RadioButtonsGroup")["value"] == "ok"
    session.press({"mood": "ok"})  # navigate
    session.press({})  # complete
    view = session.view()
    assert view["ended"]
    assert view["findings"] == []
    assert view["completion"]["response_json"] == {
        "name": "Ann",
        "size": "l",
        "flow_token": "flow-player-token",
    }
    steps = view["steps"]
    session.press({}, "back")  # nothing moves once completed
    assert session.view()["steps"] == steps
    assert "COMPLETED nfm_reply" in view["transcript"]


def test_back_returns_with_the_form_as_it_was_left() -> None:
    session = _session()
    session.press({"name": "Ann"})
    session.back()  # refresh_on_back false: the client goes back without the endpoint
    view = session.view()
    assert view["screen"]["id"] == "ASK"
    assert not view["can_back"]
    assert _comp(session, name="name")["value"] == "Ann"


def test_an_embedded_link_runs_its_action() -> None:
    session = _session()
    session.press({}, "Our terms")
    assert session.result().steps[-1].note == "opened https://example.com/terms"
    assert session.view()["screen"]["id"] == "ASK"


def test_a_refused_answer_keeps_the_person_on_the_screen_until_the_endpoint_is_fixed() -> None:
    answers = [next_screen("GREET", {"count": "two"}), None]  # broken, then the real one
    good = endpoint_exchange(endpoints.greeter())
    broken = endpoint_exchange(endpoints.greeter(answers[0]))

    def exchange(request: dict[str, Any]) -> dict[str, Any]:
        return broken(request) if answers.pop(0) else good(request)

    session = _session(exchange=exchange)
    session.press({"name": "Ann"})
    view = session.view()
    assert not view["ended"]
    assert view["screen"]["id"] == "ASK"
    assert {f["kind"] for f in view["findings"]} == {"missing_field", "wrong_type"}
    assert _comp(session, name="name")["value"] == "Ann"  # what was typed stays
    assert session.result().steps[-1].response is not None  # the refused answer is kept
    session.press({"name": "Ann"})  # the endpoint is fixed: press again
    assert session.view()["screen"]["id"] == "GREET"
    assert session.view()["findings"] == []
    assert [s.action for s in session.result().steps] == ["data_exchange", "data_exchange"]


def test_an_endpoint_that_is_down_is_a_finding_to_press_past() -> None:
    def down(request: dict[str, Any]) -> dict[str, Any]:
        raise ExchangeError("cannot reach http://127.0.0.1:9/flow: Connection refused")

    session = _session(exchange=down)
    session.press({"name": "Ann"})
    [finding] = session.findings
    assert finding.kind == "endpoint_error"
    assert "Connection refused" in finding.message
    assert not session.ended


def test_pressing_what_is_not_there_is_refused_not_the_end() -> None:
    session = _session()
    session.press({}, "no_such_button")
    assert not session.ended
    assert [f.kind for f in session.findings] == ["never_completed"]
    session.press({"name": "Ann", "typo": 1})
    assert [f.kind for f in session.findings] == ["unknown_field"]
    session.press({"name": "Ann"})
    assert session.view()["screen"]["id"] == "GREET"


def test_what_ends_the_walk_until_restart() -> None:
    closed = _session()
    closed.back()  # Back on the first screen closes the Flow
    assert closed.ended
    assert [f.kind for f in closed.findings] == ["never_completed"]
    closed.restart()
    assert not closed.ended
    assert closed.view()["screen"]["id"] == "ASK"
    unopened = _session(init=True, exchange=endpoint_exchange(endpoints.greeter({"x": 1})))
    assert unopened.ended  # INIT's answer cannot be shown: there is no screen to stay on
    assert unopened.view()["screen"] is None


def test_restart_reads_the_flow_again() -> None:
    docs = [
        GREET,
        {**GREET, "screens": [{**GREET["screens"][0], "title": "Edited"}, *GREET["screens"][1:]]},
    ]
    session = FlowSession(lambda: docs[0], exchange=endpoint_exchange(endpoints.greeter()))
    docs.pop(0)
    assert session.view()["screen"]["title"] == "Your name"
    session.restart()
    assert session.view()["screen"]["title"] == "Edited"


def test_an_invalid_or_unreadable_flow_is_a_finding_not_an_error(tmp_path: Path) -> None:
    bad = FlowSession({"version": "7.3", "screens": []})
    assert bad.view()["screen"] is None
    assert bad.ended
    assert {f["kind"] for f in bad.view()["findings"]} == {"invalid_flow"}
    gone = FlowSession((tmp_path / "gone.json").read_bytes)
    assert gone.view()["findings"][0]["kind"] == "invalid_flow"
    assert "gone.json" in gone.view()["findings"][0]["message"]
    gone.press({})  # no walk: nothing to press, nothing raised


def test_init_without_an_endpoint_is_an_endpoint_finding() -> None:
    session = FlowSession(GREET, init=True)
    assert [f.kind for f in session.findings] == ["endpoint_error"]


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 8).decode()
EVERY = {
    "version": "7.3",
    "screens": [
        {
            "id": "FORM",
            "title": "Every input",
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "Image", "src": PNG, "alt-text": "logo"},
                    {"type": "TextArea", "name": "note", "label": "Note", "max-length": 50},
                    {"type": "CheckboxGroup", "name": "tags", "label": "Tags",
                     "min-selected-items": 1,
                     "data-source": [{"id": "a", "title": "A"}, {"id": "b", "title": "B",
                                                                  "enabled": False}]},
                    {"type": "ChipsSelector", "name": "chips", "label": "Chips",
                     "data-source": [{"id": "x", "title": "X"}, {"id": "y", "title": "Y"}]},
                    {"type": "DatePicker", "name": "day", "label": "Day",
                     "min-date": "2026-01-01", "max-date": "2026-12-31"},
                    {"type": "CalendarPicker", "name": "stay", "mode": "range",
                     "label": {"start-date": "In", "end-date": "Out"}},
                    {"type": "OptIn", "name": "terms", "label": "I agree", "required": True,
                     "on-click-action": {"name": "navigate", "next": {"type": "screen",
                                                                      "name": "TERMS"},
                                         "payload": {}}},
                    {"type": "Footer", "label": "Send",
                     "left-caption": "1 of 2", "right-caption": "next",
                     "on-click-action": {"name": "navigate",
                                         "next": {"type": "screen", "name": "PICK"},
                                         "payload": {}}},
                ],
            },
        },
        {
            "id": "TERMS",
            "title": "Terms",
            "layout": {"type": "SingleColumnLayout",
                       "children": [{"type": "TextBody", "text": "The terms."}]},
        },
        {
            "id": "PICK",
            "title": "Pick",
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "NavigationList", "name": "menu", "list-items": [
                        {"id": "one", "main-content": {"title": "One", "description": "first"},
                         "badge": "New",
                         "on-click-action": {"name": "navigate",
                                             "next": {"type": "screen", "name": "END"},
                                             "payload": {"picked": "one"}}},
                    ]},
                ],
            },
        },
        {
            "id": "END",
            "title": "End",
            "terminal": True,
            "data": {"picked": {"type": "string", "__example__": "one"}},
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "Footer", "label": "Done", "on-click-action": {
                        "name": "complete", "payload": {"picked": "${data.picked}"}}},
                ],
            },
        },
    ],
}  # fmt: skip


def test_every_drawn_component_carries_what_the_page_needs() -> None:
    session = FlowSession(EVERY)
    assert session.findings == ()
    image, note, tags, chips, day, stay, terms, footer = session.view()["screen"]["components"]
    assert image == {"type": "Image", "src": f"data:image/png;base64,{PNG}", "alt_text": "logo"}
    assert note["max_length"] == 50
    assert tags["min_selected_items"] == 1
    assert [o["enabled"] for o in tags["options"]] == [
        True,
        False,
    ]
    assert chips["options"][0] == {
        "id": "x",
        "title": "X",
        "description": None,
        "enabled": True,
        "acts": False,
    }
    assert (day["min_date"], day["max_date"]) == ("2026-01-01", "2026-12-31")
    assert stay["mode"] == "range"
    assert stay["label"] == {"start-date": "In", "end-date": "Out"}
    assert terms["read_more"]
    assert terms["value"] is False
    assert terms["required"] is True
    assert footer["left_caption"] == "1 of 2"
    session.press({"terms": True}, "terms")  # "Read more"
    assert session.view()["screen"]["id"] == "TERMS"
    session.back()
    session.press({"terms": True, "tags": ["a"]})
    [menu] = session.view()["screen"]["components"]
    assert menu["items"] == [{"id": "one", "title": "One", "description": "first", "badge": "New"}]
    session.press({}, "menu", "one")
    session.press({})
    assert session.completion is not None
    assert session.completion["response_json"]["picked"] == "one"


@pytest.mark.skipif(
    not LOAN.is_file(), reason=f"the shared real-world Flow JSON is absent ({LOAN})"
)
def test_pressing_through_metas_loan_template_ends_where_the_script_ends() -> None:
    flow = LOAN.read_text()
    script = json.loads((HERE / "loan.answers.json").read_text())
    scripted = play(flow, script, exchange=endpoint_exchange(endpoints.loan))
    assert scripted.ok
    session = FlowSession(flow, exchange=endpoint_exchange(endpoints.loan), init=True)
    for screen, entries in script.items():
        if screen.startswith("_"):
            continue
        for entry in entries if isinstance(entries, list) else [entries]:
            assert session.view()["screen"]["id"] == screen
            form = {k: v for k, v in entry.items() if not k.startswith("_")}
            session.press(form, entry.get("_action", "footer"))
    assert session.completion == scripted.completion
    assert [s.action for s in session.result().steps] == [s.action for s in scripted.steps]
