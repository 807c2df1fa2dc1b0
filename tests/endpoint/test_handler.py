"""FlowEndpoint: every action and every status code path, requests built as WhatsApp does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import jwt
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
from gateway.endpoint.app import endpoint_app
from tests.endpoint.whatsapp import (
    APP_SECRET,
    decrypt_response,
    encrypt_request,
    private_key,
    signed,
)

KEY = private_key()


def make_endpoint(**kwargs: Any) -> FlowEndpoint:
    endpoint = FlowEndpoint(KEY, app_secrets=[APP_SECRET], **kwargs)

    @endpoint.on_init
    def init(req: FlowRequest) -> dict[str, Any]:
        return next_screen("APPOINTMENT", {"departments": ["dental"], "token": req.flow_token})

    @endpoint.on_back("CONFIRM")
    def back(req: FlowRequest) -> dict[str, Any]:
        return next_screen("APPOINTMENT", {"back": True})

    @endpoint.on_data_exchange("APPOINTMENT")
    def choose(req: FlowRequest) -> dict[str, Any]:
        if req.data.get("slot") == "taken":
            raise ScreenError("That slot was just taken")
        return next_screen("CONFIRM", {"slot": req.data["slot"]})

    @endpoint.on_data_exchange("CONFIRM")
    def confirm(req: FlowRequest) -> dict[str, Any]:
        if req.flow_token == "expired":
            raise FlowTokenInvalid("This booking link has expired")
        return complete(req.flow_token, booking_id="B-42")

    @endpoint.on_data_exchange("BROKEN")
    def broken(req: FlowRequest) -> dict[str, Any]:
        raise RuntimeError("database down")

    return endpoint


def call(
    endpoint: FlowEndpoint, payload: dict[str, Any] | bytes, **kw: Any
) -> tuple[EndpointResponse, Any]:
    body, aes_key, iv = encrypt_request(payload, KEY.public_key())
    raw = json.dumps(body).encode()
    resp = endpoint.handle(raw, kw.get("headers", signed(raw)))
    decoded = decrypt_response(resp.body, aes_key, iv) if resp.status == 200 else None
    return resp, decoded


def test_ping_is_answered_by_the_endpoint_itself() -> None:
    resp, data = call(make_endpoint(), {"version": "3.0", "action": "ping"})
    assert (resp.status, resp.content_type) == (200, "text/plain")
    assert data == {"data": {"status": "active"}}


def test_init_back_and_data_exchange_are_routed_per_screen() -> None:
    endpoint = make_endpoint()
    _, init = call(endpoint, {"version": "3.0", "action": "INIT", "flow_token": "tok-1"})
    assert init == {
        "version": "3.0",
        "screen": "APPOINTMENT",
        "data": {"departments": ["dental"], "token": "tok-1"},
    }
    _, back = call(
        endpoint, {"version": "3.0", "action": "BACK", "screen": "CONFIRM", "flow_token": "t"}
    )
    assert back["data"] == {"back": True}
    _, nxt = call(endpoint, {"version": "3.0", "action": "data_exchange", "screen": "APPOINTMENT",
                             "data": {"slot": "10:30"}, "flow_token": "t"})  # fmt: skip
    assert nxt == {"version": "3.0", "screen": "CONFIRM", "data": {"slot": "10:30"}}
    _, done = call(endpoint, {"version": "3.0", "action": "data_exchange", "screen": "CONFIRM",
                              "data": {}, "flow_token": "tok-9"})  # fmt: skip
    assert done["screen"] == "SUCCESS"
    assert done["data"]["extension_message_response"]["params"] == {
        "flow_token": "tok-9",
        "booking_id": "B-42",
    }


def test_screen_error_shows_a_message_on_the_current_screen() -> None:
    payload = {"version": "3.0", "action": "data_exchange", "screen": "APPOINTMENT"}
    _, data = call(make_endpoint(), {**payload, "data": {"slot": "taken"}})
    assert data == {
        "version": "3.0",
        "screen": "APPOINTMENT",
        "data": {"error_message": "That slot was just taken"},
    }


def test_invalid_flow_token_is_427() -> None:
    payload = {
        "version": "3.0",
        "action": "data_exchange",
        "screen": "CONFIRM",
        "flow_token": "expired",
    }
    resp, _ = call(make_endpoint(), payload)
    assert (resp.status, json.loads(resp.body)) == (
        427,
        {"error_msg": "This booking link has expired"},
    )
    body, aes_key, iv = encrypt_request(payload, KEY.public_key())
    raw = json.dumps(body).encode()
    encrypted = make_endpoint(encrypt_427=True).handle(raw, signed(raw))
    assert encrypted.status == 427
    assert decrypt_response(encrypted.body, aes_key, iv) == {
        "error_msg": "This booking link has expired"
    }
    validated = make_endpoint(token_validator=lambda token: token == "good")
    assert (
        call(validated, {"version": "3.0", "action": "INIT", "flow_token": "bad"})[0].status == 427
    )
    assert (
        call(validated, {"version": "3.0", "action": "INIT", "flow_token": "good"})[0].status == 200
    )


def test_error_notifications_are_acknowledged_and_reported() -> None:
    endpoint = make_endpoint()
    seen: list[FlowRequest] = []
    endpoint.on_error(seen.append)
    error = {"error": "invalid-screen-transition", "error_message": "bad route"}
    payload = {"version": "3.0", "action": "data_exchange", "screen": "APPOINTMENT", "data": error}
    resp, data = call(endpoint, payload)
    assert (resp.status, data) == (200, {"data": {"acknowledged": True}})
    assert seen[0].data["error"] == "invalid-screen-transition"
    failing = make_endpoint()
    failing.on_error(lambda req: 1 / 0)
    assert call(failing, {**payload, "data": {"error_key": "x"}})[1] == {
        "data": {"acknowledged": True}
    }


def test_signature_432_and_rotation_of_app_secrets() -> None:
    body, _, _ = encrypt_request({"action": "ping"}, KEY.public_key())
    raw = json.dumps(body).encode()
    assert make_endpoint().handle(raw, signed(raw, "wrong")).status == 432
    assert make_endpoint().handle(raw, {}).status == 432
    assert make_endpoint().handle(raw + b" ", signed(raw)).status == 432
    rotating = FlowEndpoint(KEY, app_secrets=["new-secret", APP_SECRET])
    assert rotating.handle(raw, signed(raw)).status == 200
    unsigned = FlowEndpoint(KEY)  # no app secret (e.g. a BSP-owned app): no check
    assert unsigned.handle(raw, {}).status == 200


def test_undecryptable_is_421_and_key_rotation_works() -> None:
    other = private_key("rotated.pem")
    body, aes_key, iv = encrypt_request({"version": "3.0", "action": "ping"}, other.public_key())
    raw = json.dumps(body).encode()
    assert make_endpoint().handle(raw, signed(raw)).status == 421
    both = FlowEndpoint([KEY, other], app_secrets=[APP_SECRET])
    resp = both.handle(raw, signed(raw))
    assert decrypt_response(resp.body, aes_key, iv) == {"data": {"status": "active"}}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "object"),
        (b'{"encrypted_flow_data": "x"}', "needs"),
        (b"{}", "needs"),
    ],
)
def test_malformed_bodies_are_400(raw: bytes, fragment: str) -> None:
    resp = make_endpoint().handle(raw, signed(raw))
    assert resp.status == 400
    assert fragment in json.loads(resp.body)["error"]


def test_payload_problems_are_400_and_handler_bugs_500() -> None:
    assert call(make_endpoint(), {"version": "3.0"})[0].status == 400  # no action
    assert (
        call(make_endpoint(), {"version": "3.0", "action": "data_exchange", "screen": "NOWHERE"})[
            0
        ].status
        == 400
    )
    assert (
        call(make_endpoint(), {"version": "3.0", "action": "data_exchange", "screen": "BROKEN"})[
            0
        ].status
        == 500
    )


def test_plaintext_json_forwarded_by_a_bsp() -> None:
    endpoint = make_endpoint(accept_plaintext=True)
    raw = json.dumps({"version": "3.0", "action": "INIT", "flow_token": "p"}).encode()
    resp = endpoint.handle(raw, signed(raw))
    assert (resp.status, resp.content_type) == (200, "application/json")
    assert json.loads(resp.body)["screen"] == "APPOINTMENT"
    assert make_endpoint().handle(raw, signed(raw)).status == 400  # off by default


def test_flow_token_signature_data_api_4() -> None:
    endpoint = make_endpoint()
    good = jwt.encode({"flow_token": "tok-1"}, APP_SECRET, algorithm="HS256")
    forged = jwt.encode({"flow_token": "tok-1"}, "f" * 32, algorithm="HS256")
    other = jwt.encode({"flow_token": "tok-2"}, APP_SECRET, algorithm="HS256")
    base = {"version": "4.0", "action": "INIT", "flow_token": "tok-1"}
    assert call(endpoint, {**base, "flow_token_signature": good})[0].status == 200
    assert call(endpoint, {**base, "flow_token_signature": forged})[0].status == 427
    assert call(endpoint, {**base, "flow_token_signature": other})[0].status == 427
    assert call(endpoint, {**base, "flow_token_signature": "garbage"})[0].status == 427


def test_async_handlers_and_the_asgi_app() -> None:
    endpoint = FlowEndpoint(KEY, app_secrets=[APP_SECRET])

    @endpoint.on_init
    async def init(req: FlowRequest) -> dict[str, Any]:
        await asyncio.sleep(0)
        return next_screen("START", {"n": 1})

    body, aes_key, iv = encrypt_request({"version": "3.0", "action": "INIT"}, KEY.public_key())
    raw = json.dumps(body).encode()
    assert endpoint.handle(raw, signed(raw)).status == 500  # sync entry point, async handler

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=endpoint_app(endpoint, "/flow"))
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint") as client:
            return await client.post("/flow", content=raw, headers=signed(raw))

    resp = asyncio.run(go())
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert decrypt_response(resp.text, aes_key, iv) == {
        "version": "3.0",
        "screen": "START",
        "data": {"n": 1},
    }


def test_unknown_action_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="action must be"):
        make_endpoint().on("COMPLETE")
