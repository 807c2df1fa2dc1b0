"""Random bodies and fields into FlowEndpoint: a documented status every time, never a raise.

Seeded and bounded (a few hundred requests, about a second), so a failure replays exactly.
Each request goes to two endpoints: one with correct handlers, which must never answer 500,
and one whose handler returns what JSON cannot carry, which must answer 500 exactly when
that handler ran (the one case the protocol leaves to "other" statuses).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import string
from collections.abc import Iterator
from typing import Any

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
from tests.endpoint.whatsapp import (
    APP_SECRET,
    decrypt_response,
    encrypt_request,
    private_key,
    signed,
)
from tests.junk import paths, replaced

KEY = private_key()
STATUSES = {200, 400, 421, 427, 432}
SEED = 20_250_611
ALPHABET = string.ascii_letters + string.digits + "+/=" + "\r\n \t" + "%.é\u2028\x00\ud800"
JUNK: tuple[Any, ...] = (
    None, 0, -1, 1.5, 1e308, True, "", " ", "x", "ping", "INIT", "BACK", "data_exchange",
    "\ud800", "\udfff x", [], {}, [None], {"error": None}, {"screen": {}}, float("nan"),
)  # fmt: skip
GOOD_TOKEN = jwt.encode({"flow_token": "tok"}, APP_SECRET, algorithm="HS256")
PAYLOADS: tuple[dict[str, Any], ...] = (
    {"version": "3.0", "action": "ping"},
    {"version": "3.0", "action": "INIT", "flow_token": "tok"},
    {"version": "3.0", "action": "BACK", "screen": "B", "flow_token": "tok"},
    {"version": "3.0", "action": "data_exchange", "screen": "A",
     "data": {"slot": "10:30", "tags": ["a", 1]}, "flow_token": "tok"},
    {"version": "4.0", "action": "data_exchange", "screen": "A", "data": {"fail": "token"},
     "flow_token": "tok", "flow_token_signature": GOOD_TOKEN},
    {"version": "3.0", "action": "data_exchange", "screen": "A",
     "data": {"error": "invalid-screen-transition", "error_message": "bad"}, "flow_token": "tok"},
)  # fmt: skip


def _good(req: FlowRequest) -> dict[str, Any]:
    """Correct, and echoing only what the endpoint itself checks (token, screen, version)."""
    fail = req.data.get("fail")
    if fail == "token":
        raise FlowTokenInvalid()
    if fail is not None or req.screen == "B":
        raise ScreenError("try again")
    if req.action == "data_exchange":
        return complete(req.flow_token, n=len(req.data))
    return next_screen("A", {"token": req.flow_token, "slots": ["10:30"]})


def _endpoints() -> tuple[FlowEndpoint, FlowEndpoint, list[FlowRequest]]:
    good = FlowEndpoint([private_key("rotated.pem"), KEY], app_secrets=[APP_SECRET])
    buggy = FlowEndpoint(KEY, app_secrets=[APP_SECRET])
    ran: list[FlowRequest] = []

    def bug(req: FlowRequest) -> dict[str, Any]:
        ran.append(req)
        return next_screen("A", {"at": {req.action}})

    for action in ("INIT", "BACK", "data_exchange"):
        good.on(action)(_good)
        buggy.on(action)(bug)
    return good, buggy, ran


def _text(rng: random.Random) -> str:
    return "".join(rng.choices(ALPHABET, k=rng.randrange(48)))


def _base64(rng: random.Random) -> str:
    raw = rng.randbytes(rng.choice((0, 1, 12, 15, 16, 17, 32, 255, 256, 257)))
    text = base64.b64encode(raw).decode()
    return (
        "\n".join(text[i : i + 64] for i in range(0, len(text), 64)) if rng.random() < 0.3 else text
    )


def _junk(rng: random.Random) -> Any:
    roll = rng.random()
    return rng.choice(JUNK) if roll < 0.5 else _text(rng) if roll < 0.75 else _base64(rng)


def _sealed(payload: Any) -> tuple[bytes, bytes, bytes]:
    clear = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    body, aes_key, iv = encrypt_request(clear, KEY.public_key())
    return json.dumps(body).encode(), aes_key, iv


def _requests(rng: random.Random) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(raw body, aes key, iv): the key and IV are empty when nobody could decrypt it."""
    for _ in range(40):  # bytes that are not even JSON, or JSON of any shape
        yield rng.randbytes(rng.randrange(64)), b"", b""
        yield json.dumps(_junk(rng)).encode(), b"", b""
    envelope, _, _ = _sealed(PAYLOADS[1])
    for where in paths(json.loads(envelope)):  # each envelope field, junk in turn
        for _ in range(30):
            yield json.dumps(replaced(json.loads(envelope), where, _junk(rng))).encode(), b"", b""
    for _ in range(120):  # a well-sealed payload with one node of junk
        doc = rng.choice(PAYLOADS)
        yield _sealed(replaced(doc, rng.choice(list(paths(doc))), _junk(rng)))
    for _ in range(20):  # well-sealed bytes that are not JSON
        yield _sealed(rng.randbytes(rng.randrange(1, 40)))


def _handle(endpoint: FlowEndpoint, raw: bytes, headers: dict[str, str], twin: bool) -> Any:
    if twin:
        return asyncio.run(endpoint.handle_async(raw, headers))
    return endpoint.handle(raw, headers)


def _check(resp: EndpointResponse, aes_key: bytes, iv: bytes) -> None:
    assert resp.status in STATUSES | {500}
    if resp.status == 200 and aes_key:
        decrypt_response(resp.body, aes_key, iv)  # the client can read it
    if resp.content_type == "application/json":
        json.loads(resp.body)


@pytest.mark.parametrize("seed", [SEED, SEED + 1])
def test_random_requests_get_a_documented_status(seed: int) -> None:
    rng = random.Random(seed)
    good, buggy, ran = _endpoints()
    seen: set[int] = set()
    for n, (raw, aes_key, iv) in enumerate(_requests(rng)):
        headers = signed(raw) if rng.random() < 0.95 else signed(raw, "wrong")
        twin = n % 4 == 0  # every fourth through the async twin
        resp = _handle(good, raw, headers, twin)
        _check(resp, aes_key, iv)
        assert resp.status != 500, raw
        seen.add(resp.status)
        ran.clear()
        resp = _handle(buggy, raw, headers, twin)
        _check(resp, aes_key, iv)
        assert (resp.status == 500) == bool(ran), raw
    assert seen == STATUSES  # the junk reached every branch
