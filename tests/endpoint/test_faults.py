"""Whose fault: bad input is a 400 (or 421), a handler bug a logged 500, never an exception.

Answers are read with the strict oracle in ``whatsapp.py``: what a JavaScript or Java JSON
parser on the client would refuse (NaN, encoded surrogates) counts as undeliverable.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.endpoint import (
    EndpointResponse,
    FlowEndpoint,
    FlowRequest,
    FlowTokenInvalid,
    ScreenError,
    complete,
    next_screen,
)
from gateway.log import formatter
from tests.endpoint.whatsapp import (
    APP_SECRET,
    decrypt_response,
    encrypt_request,
    private_key,
    signed,
)

KEY = private_key()
# The client's own JSON may carry an escaped lone surrogate: valid JSON, not valid Unicode.
SURROGATE = rb'{"version":"3.0","action":"data_exchange","screen":"S","data":{"s":"\ud800"}}'


_RENDER = formatter("console")


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(_RENDER.format(record))  # the event and its fields


@pytest.fixture
def errors() -> Iterator[list[str]]:
    handler = _Errors()
    logger = logging.getLogger("flowgateway")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _deep(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(depth):
        node = {"n": node}
    return node


def _cycle() -> dict[str, Any]:
    node: dict[str, Any] = {}
    node["self"] = node
    return node


def _screen_error_nan(req: FlowRequest) -> Any:
    raise ScreenError("x", data={"n": float("nan")})


def _screen_error_list(req: FlowRequest) -> Any:
    raise ScreenError("x", data=[1])  # type: ignore[arg-type]


def _token_invalid_set(req: FlowRequest) -> Any:
    raise FlowTokenInvalid({1})  # type: ignore[arg-type]


# (handler, what the log must say): answers the client could not decode, made by the handler.
HANDLER_BUGS: dict[str, tuple[Callable[[FlowRequest], Any], str]] = {
    "echoed lone surrogate": (lambda r: next_screen("S", {"s": r.data["s"]}), "surrogates"),
    "surrogate of its own": (lambda r: next_screen("S\udfff"), "surrogates"),
    "nan": (lambda r: next_screen("S", {"n": float("nan")}), "Out of range float"),
    "infinity": (lambda r: next_screen("S", {"n": float("inf")}), "Out of range float"),
    "infinity key": (lambda r: next_screen("S", {"m": {float("-inf"): 1}}), "Out of range float"),
    "set": (lambda r: next_screen("S", {"ids": {1, 2}}), "not JSON serializable"),
    "datetime": (lambda r: next_screen("S", {"at": dt.datetime.now(dt.UTC)}), "datetime"),
    "object": (lambda r: next_screen("S", {"o": object()}), "not JSON serializable"),
    "tuple key": (lambda r: next_screen("S", {"m": {("a", 1): 1}}), "keys must be"),
    "cycle": (lambda r: next_screen("S", _cycle()), "Circular reference"),
    "too deep": (lambda r: next_screen("S", _deep(100_000)), "nested too deeply"),
    "screen error nan": (_screen_error_nan, "Out of range float"),
    "screen error data": (_screen_error_list, "TypeError"),
    "427 message": (_token_invalid_set, "not JSON serializable"),
}


def _handle(endpoint: FlowEndpoint, raw: bytes, twin: str) -> EndpointResponse:
    if twin == "async":
        return asyncio.run(endpoint.handle_async(raw, signed(raw)))
    return endpoint.handle(raw, signed(raw))


def _encrypted(clear: bytes) -> tuple[bytes, bytes, bytes]:
    body, aes_key, iv = encrypt_request(clear, KEY.public_key())
    return json.dumps(body).encode(), aes_key, iv


@pytest.mark.parametrize("twin", ["sync", "async"])
@pytest.mark.parametrize("plaintext", [False, True], ids=["encrypted", "plaintext"])
@pytest.mark.parametrize("bug", sorted(HANDLER_BUGS))
def test_undeliverable_answers_are_logged_500s(
    bug: str, plaintext: bool, twin: str, errors: list[str]
) -> None:
    endpoint = FlowEndpoint(KEY, app_secrets=[APP_SECRET], accept_plaintext=plaintext)
    handler, reason = HANDLER_BUGS[bug]
    endpoint.on_data_exchange("S")(handler)
    endpoint.on_data_exchange("OK")(lambda r: next_screen("S", {"n": 1.5, "s": "é"}))
    ok = SURROGATE.replace(b'"S"', b'"OK"')
    raw, aes_key, iv = (ok, b"", b"") if plaintext else _encrypted(ok)
    control = _handle(endpoint, raw, twin)  # the same path with a good answer
    assert control.status == 200
    if not plaintext:
        assert decrypt_response(control.body, aes_key, iv)["data"] == {"n": 1.5, "s": "é"}
    raw = SURROGATE if plaintext else _encrypted(SURROGATE)[0]
    resp = _handle(endpoint, raw, twin)
    assert (resp.status, resp.body) == (500, "")
    assert len(errors) == 1
    assert "endpoint.handler_failed" in errors[0]
    assert reason in errors[0]


def test_a_failing_token_validator_is_a_logged_500(errors: list[str]) -> None:
    endpoint = FlowEndpoint(KEY, token_validator=lambda token: 1 / 0 > 0)
    endpoint.on_init(lambda r: next_screen("S"))
    raw, _, _ = _encrypted(b'{"version":"3.0","action":"INIT","flow_token":"t"}')
    assert endpoint.handle(raw, {}).status == 500
    assert "ZeroDivisionError" in errors[0]


def _echo(req: FlowRequest) -> dict[str, Any]:
    if req.data.get("fail"):
        raise ScreenError("no")  # shown on the request's own screen
    return complete(req.flow_token, echo=req.data)


@pytest.mark.parametrize(
    "clear",
    [
        # Fields the endpoint reads and echoes itself: refused on the way in.
        rb'{"version":"\ud800","action":"INIT"}',
        rb'{"version":"3.0","action":"INIT","flow_token":"\udc00"}',
        rb'{"version":"3.0","action":"INIT","flow_token":"t","flow_token_signature":"\ud800"}',
        rb'{"version":"3.0","action":"data_exchange","screen":"\ud800","data":{"fail":1}}',
        rb'{"version":"3.0","action":"\ud800"}',
        # Not JSON, though Python's parser would take it.
        b'{"version":"3.0","action":"INIT","data":{"n":NaN}}',
        b'{"version":"3.0","action":"INIT","data":{"n":-Infinity}}',
        b'{"action":"INIT","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_input_we_could_not_answer_is_400(clear: bytes) -> None:
    endpoint = FlowEndpoint(KEY, app_secrets=[APP_SECRET], accept_plaintext=True)
    endpoint.on("INIT")(_echo)
    endpoint.on("data_exchange")(_echo)
    assert _handle(endpoint, _encrypted(clear)[0], "sync").status == 400
    assert _handle(endpoint, clear, "async").status == 400  # forwarded in plaintext


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b'{"a":' * 100_000, b'{"action":"INIT","x":NaN}', b"\xff\xfe{}"],
)
def test_envelopes_that_are_not_json_are_400(raw: bytes) -> None:
    endpoint = FlowEndpoint(KEY, accept_plaintext=True)
    endpoint.on_init(_echo)
    resp = endpoint.handle(raw, {})
    assert resp.status == 400
    assert "not JSON" in json.loads(resp.body)["error"]


def test_envelope_fields_through_the_endpoint() -> None:
    """Line-broken base64 is read; a field that is not base64 is a 400, not a 421."""
    endpoint = FlowEndpoint(KEY, app_secrets=[APP_SECRET])
    endpoint.on_init(lambda r: next_screen("S"))
    body, aes_key, iv = encrypt_request({"version": "3.0", "action": "INIT"}, KEY.public_key())
    mime = {k: base64.encodebytes(base64.b64decode(v)).decode() for k, v in body.items()}
    raw = json.dumps(mime).encode()
    resp = endpoint.handle(raw, signed(raw))
    assert decrypt_response(resp.body, aes_key, iv) == {"version": "3.0", "screen": "S", "data": {}}
    for name in body:
        raw = json.dumps({**body, name: "**not base64**"}).encode()
        resp = endpoint.handle(raw, signed(raw))
        assert resp.status == 400
        assert name in json.loads(resp.body)["error"]
