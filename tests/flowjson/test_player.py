"""The Flow player: Meta's published Flows walked to completion, and every finding kind.

Requests go through a real ``FlowEndpoint``, sealed by the player as the client seals
them; the endpoint's decryption is the check that they are (tests/endpoint/whatsapp.py
is the independent oracle the endpoint itself is tested against). The small Flow
``player/greet.json`` is ours; Meta's Flows are read in place (tests/realworld.py).
"""

from __future__ import annotations

import copy
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.cli import main
from gateway.core import GatewayCore
from gateway.endpoint import FlowEndpoint, FlowRequest, FlowTokenInvalid, next_screen
from gateway.flowjson.player import ExchangeError, PlayResult, play
from gateway.flowjson.player_exchange import endpoint_exchange, http_exchange
from tests.flowjson.player import endpoints
from tests.realworld import realworld

HERE = Path(__file__).parent / "player"
REALWORLD = realworld("flowjson")
GREET = json.loads((HERE / "greet.json").read_text())
ANSWERS = {
    "ASK": {"name": "Ann", "size": "l"},
    "GREET": {"mood": "meh"},
    "DONE": {},
}
GOOD = endpoints.GREET_DATA


def _answers(name: str) -> dict[str, Any]:
    return json.loads((HERE / f"{name}.answers.json").read_text())


def _play(answers: dict[str, Any] | None = None, flow: Any = None, **kw: Any) -> PlayResult:
    kw.setdefault("exchange", endpoint_exchange(endpoints.greeter()))
    flow = (
        {**GREET, "screens": [{**s, "data": s.get("data")} for s in GREET["screens"]]}
        if flow is None
        else flow
    )
    return play(flow, {"_data": {"heading": "Hello"}, **(answers or ANSWERS)}, **kw)


def _kinds(result: PlayResult) -> list[str]:
    return [f.kind for f in result.findings]


# -- acceptance: Meta's published Flows, to the completion --------------------------------

needs_corpus = pytest.mark.skipif(
    not REALWORLD.is_dir(), reason=f"the shared real-world Flow JSON is absent ({REALWORLD})"
)


@needs_corpus
@pytest.mark.parametrize(
    ("flow", "script", "endpoint", "reply"),
    [
        ("meta_docs_pre_approved_loan", "loan", endpoints.loan, {}),
        ("meta_docs_personalised_offer", "offer", endpoints.offer, {"selected_device": "globex_9"}),
        ("meta_tools_survey", "survey", None, {"source": "1", "return_booking": "0"}),
        (
            "meta_docs_purchase_intent",
            "purchase_intent",
            None,
            {
                "name": "Asha",
                "tos_optin": True,
                "marketing_optin": False,
                "categories": ["cameras", "headphones"],
            },
        ),
    ],
)
def test_meta_flows_complete(
    flow: str, script: str, endpoint: FlowEndpoint | None, reply: dict[str, Any]
) -> None:
    text = (REALWORLD / f"{flow}.json").read_text(encoding="utf-8")
    exchange = endpoint_exchange(endpoint) if endpoint else None
    result = play(text, _answers(script), exchange=exchange, flow_token="tok-1")
    assert result.findings == (), result.transcript()
    assert result.completion is not None
    assert result.completion["name"] == "flow"
    assert result.completion["body"] == "Sent"
    assert result.completion["response_json"]["flow_token"] == "tok-1"
    assert reply.items() <= result.completion["response_json"].items()
    assert "COMPLETED" in result.transcript()


@needs_corpus
def test_loan_walk_records_each_exchange() -> None:
    text = (REALWORLD / "meta_docs_pre_approved_loan.json").read_text(encoding="utf-8")
    result = play(text, _answers("loan"), exchange=endpoint_exchange(endpoints.loan))
    requests = [s.request for s in result.steps if s.status_code == 200]
    assert requests[0] == {"version": "3.0", "action": "INIT", "flow_token": "flow-player-token"}
    assert requests[1]["data"] == {"amount": "amount2", "tenure": "months12"}  # on-select
    assert [s.screen for s in result.steps] == [
        None,
        "LOAN",
        "LOAN",
        "DETAILS",
        "DETAILS",
        "SUMMARY",
        "COMPLETE",
    ]
    assert all(s.elapsed_ms is not None for s in result.steps if s.status_code == 200)
    details = result.steps[4]
    assert any("upi_id" in line for line in details.rendered)  # shown once is_upi is true
    assert not any("account_number" in line for line in details.rendered)


# -- what the player renders and runs -------------------------------------------------------


def test_bindings_expressions_if_switch_global_refs() -> None:
    result = _play()
    assert result.ok, result.transcript()
    greet = next(s for s in result.steps if s.screen == "GREET")
    assert "TextBody: Hi, Ann" in greet.rendered
    assert "TextBody: many" in greet.rendered
    assert "TextBody: one" not in greet.rendered
    assert "TextCaption: casual" in greet.rendered
    assert "TextCaption: VIP lounge" not in greet.rendered
    assert result.completion == {
        "response_json": {"name": "Ann", "size": "l", "flow_token": "flow-player-token"},
        "body": "Sent",
        "name": "flow",
    }
    request = result.steps[0].request
    assert request == {
        "version": "3.0",
        "action": "data_exchange",
        "screen": "ASK",
        "data": {"name": "Ann", "size": "l"},
        "flow_token": "flow-player-token",
    }


def test_update_data_and_open_url() -> None:
    script = {
        "ASK": [{"_action": "Our terms"}, {"name": "Ann"}],
        "GREET": [{"mood": "ok", "_action": "mood"}, {}],
        "DONE": {},
    }
    result = _play(script)
    assert result.ok, result.transcript()
    actions = [s.action for s in result.steps]
    assert actions[0] == "open_url"
    assert "https://example.com/terms" in result.steps[0].note
    assert "update_data" in actions
    after = [s for s in result.steps if s.screen == "GREET"][-1]
    assert "TextCaption: VIP lounge" in after.rendered


def test_back_without_and_with_refresh_on_back() -> None:
    script = {
        "ASK": [{"name": "Ann"}, {"name": "Bo"}],
        "GREET": [{"_action": "back"}, {}],
        "DONE": {},
    }
    result = _play(script)
    assert result.ok
    assert result.completion
    assert result.completion["response_json"]["name"] == "Bo"
    flow = copy.deepcopy(GREET)
    flow["screens"][1]["refresh_on_back"] = True
    result = _play(script, flow)
    assert result.ok, result.transcript()
    back = next(s for s in result.steps if s.action == "BACK")
    assert back.request == {
        "version": "3.0",
        "action": "BACK",
        "screen": "GREET",
        "data": {},
        "flow_token": "flow-player-token",
    }
    assert back.response
    assert back.response["data"] == {"heading": "Welcome back"}


# -- each finding kind ----------------------------------------------------------------------


def test_invalid_flow_is_refused() -> None:
    flow = copy.deepcopy(GREET)
    del flow["screens"][2]["terminal"]
    result = _play(flow=flow)
    assert set(_kinds(result)) == {"invalid_flow"}
    assert result.steps == ()


def test_missing_field_the_next_screen_binds() -> None:
    result = _play(
        exchange=endpoint_exchange(
            endpoints.greeter(next_screen("GREET", {"count": 2, "vip": False}))
        )
    )
    assert _kinds(result) == ["missing_field"]
    assert result.findings[0].screen == "GREET"
    assert result.findings[0].path == "data.greeting"


def test_wrong_type() -> None:
    answer = next_screen("GREET", {**GOOD, "count": "two"})
    result = _play(exchange=endpoint_exchange(endpoints.greeter(answer)))
    assert _kinds(result) == ["wrong_type"]
    assert result.findings[0].path == "data.count"


def test_outside_routing() -> None:
    result = _play(
        exchange=endpoint_exchange(endpoints.greeter(next_screen("DONE", {"name": "x"})))
    )
    assert _kinds(result) == ["outside_routing"]
    assert result.findings[0].screen == "ASK"
    result = _play(exchange=endpoint_exchange(endpoints.greeter(next_screen("NOWHERE", {}))))
    assert _kinds(result) == ["outside_routing"]


def test_endpoint_errors_427_421_exception_error_answer() -> None:
    endpoint = FlowEndpoint(endpoints.KEY)

    @endpoint.on_data_exchange("ASK")
    def expired(request: FlowRequest) -> dict[str, Any]:
        raise FlowTokenInvalid

    result = _play(exchange=endpoint_exchange(endpoint))
    assert _kinds(result) == ["endpoint_error"]
    assert "427" in result.findings[0].message
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    result = _play(exchange=endpoint_exchange(endpoints.greeter(), other))
    assert _kinds(result) == ["endpoint_error"]
    assert "421" in result.findings[0].message

    def broken(payload: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionResetError("reset by peer")

    result = _play(exchange=broken)
    assert _kinds(result) == ["endpoint_error"]
    assert "ConnectionResetError" in str(result.findings[0])
    result = _play(exchange=lambda payload: {"error": "boom"})
    assert _kinds(result) == ["endpoint_error"]
    result = _play(exchange=None)
    assert _kinds(result) == ["endpoint_error"]


def test_endpoint_timeout_over_http() -> None:
    with socket.socket() as server:  # accepts, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        exchange = http_exchange(url, endpoints.KEY.public_key(), timeout=0.3)
        result = _play(exchange=exchange)
    assert _kinds(result) == ["endpoint_error"]
    assert "timeout" in result.findings[0].message


def test_a_redirecting_endpoint_url_is_named_with_where_it_leads() -> None:
    """``app.mount("/flow", endpoint_app(endpoint))`` answers POST /flow with a 307 to
    /flow/: the finding says so, and the URL it names works."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from gateway.emulator.server import LoopbackServer
    from gateway.endpoint.app import endpoint_app

    server = LoopbackServer()
    server.start_thread(Starlette(routes=[Mount("/flow", endpoint_app(endpoints.greeter()))]))
    try:
        key = endpoints.KEY.public_key()
        result = _play(exchange=http_exchange(f"{server.url}/flow", key))
        assert _kinds(result) == ["endpoint_error"]
        assert f"redirects (307 to {server.url}/flow/)" in result.findings[0].message
        assert result.findings[0].message.endswith("give the final URL")
        assert _play(exchange=http_exchange(f"{server.url}/flow/", key)).ok
    finally:
        server.stop_thread()


def test_never_completed_out_of_script_and_loop_guard() -> None:
    result = _play({"ASK": {"name": "Ann"}})
    assert _kinds(result) == ["never_completed"]
    assert result.findings[0].screen == "GREET"
    looping = endpoints.greeter(next_screen("ASK", {"heading": "again"}))
    result = _play({"ASK": {"name": "Ann"}}, exchange=endpoint_exchange(looping), max_steps=5)
    assert _kinds(result) == ["never_completed"]
    assert "loop guard" in result.findings[0].message
    result = _play({"ASK": {"_action": "nothing_here"}})
    assert _kinds(result) == ["never_completed"]
    result = _play({"ASK": {"name": "Ann"}, "GRET": {}})  # a typo in a screen id
    assert result.findings[0].message.endswith("(the script names no such screen: GRET)")


def test_unfillable_required_and_invalid_answer() -> None:
    result = _play({"ASK": {}})
    assert _kinds(result) == ["unfillable_required"]
    assert result.findings[0].path == "form.name"
    result = _play({"ASK": {"name": "x" * 21}})  # max-chars 20
    assert _kinds(result) == ["unfillable_required"]
    result = _play({"ASK": {"name": "Ann", "email": "not-an-email", "size": "xl"}})
    assert _kinds(result) == ["invalid_answer", "invalid_answer"]
    assert "the footer stays disabled" in result.transcript()


# -- exchange and CLI -------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[str]:
    """The greeter endpoint behind a real HTTP server (stdlib), for --endpoint."""
    endpoint = endpoints.greeter()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = endpoint.handle(body, dict(self.headers))
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.end_headers()
            self.wfile.write(answer.body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _files(tmp_path: Path, answers: dict[str, Any]) -> tuple[str, str, str]:
    (tmp_path / "flow.json").write_text(json.dumps(GREET))
    (tmp_path / "answers.json").write_text(json.dumps({"_data": {"heading": "Hi"}, **answers}))
    (tmp_path / "public.pem").write_bytes(endpoints.PUBLIC_PEM)
    return str(tmp_path / "flow.json"), str(tmp_path / "answers.json"), str(tmp_path / "public.pem")


def test_cli_over_http(tmp_path: Path, served: str, capsys: pytest.CaptureFixture[str]) -> None:
    flow, answers, pem = _files(tmp_path, ANSWERS)
    argv = ["flows", "play", flow, "--answers", answers, "--endpoint", served, "--public-key", pem]
    assert main(argv) == 0
    assert "COMPLETED" in capsys.readouterr().out
    assert main([*argv, "--json", "--token", "T9"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["completion"]["response_json"]["flow_token"] == "T9"
    assert out["findings"] == []


def test_cli_app_findings_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow, answers, _ = _files(tmp_path, {"ASK": {}})
    app = "tests.flowjson.player.endpoints:loan"
    assert main(["flows", "play", flow, "--answers", answers, "--app", app]) == 1
    assert "unfillable_required" in capsys.readouterr().out
    assert main(["flows", "play", flow, "--answers", str(tmp_path / "none.json")]) == 2
    assert main(["flows", "play", flow, "--answers", answers, "--app", "tests:nothing"]) == 2
    assert main(["flows", "play", flow, "--answers", answers, "--endpoint", "http://x"]) == 2


def test_exchange_error_carries_the_status() -> None:
    error = ExchangeError("gone", status_code=427)
    assert error.status_code == 427
    assert error.message == "gone"


# -- with the emulator: the Flow a sent message carries, played to the provider's webhook ---


@pytest.mark.parametrize("sender", ["meta", "sinch", "onemsg"])
def test_the_emulator_plays_a_sent_flow_into_its_providers_completion_webhook(
    sender: str,
) -> None:
    from urllib.parse import parse_qsl, urlsplit

    from gateway import FlowCompleted, FlowMessage, Gateway
    from gateway.bundled import DEFAULT_CONFIG
    from gateway.config import load_config
    from gateway.emulator import Emulator, InProcessTransport

    config = load_config(DEFAULT_CONFIG)
    emulator = Emulator.from_config(config)
    msg = FlowMessage(
        to="+16505551234",
        sender=sender,
        flow_id="1",
        flow_cta="Start",
        body="Hi",
        screen="ASK",
        data={"heading": "Hello"},
        flow_token="player-42",
    )
    with Gateway(
        GatewayCore.from_config(config), transport=InProcessTransport(emulator.respond)
    ) as gw:
        receipt = gw.send(msg)
        assert receipt.message_id is not None
        flow = {**GREET, "screens": [{**s, "data": s.get("data")} for s in GREET["screens"]]}
        answers = {"_data": {"heading": "Hello"}, **ANSWERS}
        result, calls = emulator.play(
            receipt.message_id, flow, answers, endpoint=endpoints.greeter(), statuses=()
        )
        assert result.findings == ()
        [call] = calls
        query = dict(parse_qsl(urlsplit(call.url).query))
        [done] = gw.handle_webhook(sender, call.body, call.headers, query)
    assert isinstance(done, FlowCompleted)
    assert done.flow_token == "player-42"
    assert done.reply_to == receipt.message_id
    assert done.response == {
        k: v for k, v in result.completion["response_json"].items() if k != "flow_token"
    }


def test_a_flow_that_does_not_complete_posts_no_webhook() -> None:
    from gateway import FlowMessage, Gateway
    from gateway.bundled import DEFAULT_CONFIG
    from gateway.config import load_config
    from gateway.emulator import Emulator, InProcessTransport

    config = load_config(DEFAULT_CONFIG)
    emulator = Emulator.from_config(config)
    msg = FlowMessage(to="+16505551234", flow_id="1", flow_cta="Go", body="Hi", screen="ASK")
    with Gateway(
        GatewayCore.from_config(config), transport=InProcessTransport(emulator.respond)
    ) as gw:
        receipt = gw.send(msg)
    assert receipt.message_id is not None
    result, calls = emulator.play(
        receipt.message_id, GREET, {"ASK": {}}, endpoint=endpoints.greeter()
    )
    assert result.findings
    assert calls == []


def test_without_data_the_first_screen_opens_with_its_data_models_examples() -> None:
    result = play(GREET, ANSWERS, exchange=endpoint_exchange(endpoints.greeter()))
    assert result.ok
    assert result.steps[0].data == {"heading": "Hello"}  # greet.json's __example__
    assert result.steps[0].rendered[0] == "TextHeading: Hello"
    given = play(GREET, {**ANSWERS, "_data": {}}, exchange=endpoint_exchange(endpoints.greeter()))
    assert [f.kind for f in given.findings] == ["missing_field"]  # data given: as given


def test_a_name_no_input_has_is_an_unknown_field() -> None:
    result = _play({"ASK": {"name": "Ann", "nmae": "Bob"}, "GREET": {}, "DONE": {}})
    assert _kinds(result) == ["unknown_field"]
    assert result.findings[0].path == "form.nmae"
    assert str(result.findings[0]) == "ASK: unknown_field: ASK has no input 'nmae' (at form.nmae)"


def test_screens_the_walk_never_reaches_are_listed_not_found() -> None:
    result = _play({**ANSWERS, "ELSEWHERE": {}, "GREET": {"mood": "meh"}})
    assert result.ok  # a script may cover several branches
    assert result.unused == ()  # ELSEWHERE is no screen: not a branch either
    flow = {**GREET, "routing_model": {**GREET["routing_model"], "ASK": ["GREET", "DONE"]}}
    result = _play({**ANSWERS}, flow=flow)
    assert result.unused == ()
    result = _play({"ASK": {"name": "Ann"}, "GREET": {}, "DONE": {}}, flow=flow)
    assert result.unused == ()
    quick = _play({"_screen": "DONE", "_data": {"name": "Bo"}, **ANSWERS})
    assert quick.ok
    assert quick.unused == ("ASK", "GREET")
    assert quick.transcript().endswith(
        "NOTE the walk never reached ASK, GREET, which the script answers"
    )


def test_a_failed_exchange_says_why_in_the_walk() -> None:
    def down(payload: dict[str, Any]) -> dict[str, Any]:
        raise ExchangeError("cannot reach http://127.0.0.1:9/: Connection refused")

    result = _play(exchange=down)
    assert result.steps[-1].note == "failed: cannot reach http://127.0.0.1:9/: Connection refused"
    assert "(failed: cannot reach" in result.transcript()


def test_missing_data_names_where_it_came_from() -> None:
    opening = play(GREET, {"_screen": "GREET", "_data": {"count": 1, "vip": False}})
    assert opening.findings[0].message.endswith(
        "which the opening data (_data / --data) leaves out"
    )
    answer = _play(
        exchange=endpoint_exchange(
            endpoints.greeter(next_screen("GREET", {"count": 2, "vip": False}))
        )
    )
    assert answer.findings[0].message.endswith("which the endpoint's answer leaves out")
