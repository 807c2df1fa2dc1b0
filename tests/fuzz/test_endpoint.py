"""``FlowEndpoint.handle`` and ``handle_async`` fuzzed: never a raise, never a 500.

Requests: bytes of any shape (4 KB of ``[`` included), the encrypted envelope with its
fields replaced by hostile fragments, and well-encrypted payloads whose plaintext is a
real request with nodes replaced (deep nesting, NaN, lone surrogates, invalid UTF-8…),
signed or with junk headers. Three endpoints: the default (open: no app secret), one
that checks the signature, one that also takes plaintext. With correct handlers every
answer has a status in {200, 400, 421, 427, 432}, the twins agree, and a 200 to a
request we encrypted decrypts, as the WhatsApp client reads it, to strict JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.endpoint import (
    EndpointResponse,
    FlowEndpoint,
    FlowRequest,
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
from tests.fuzz.strategies import default_stack, more, raw_bodies, spliced, texts

KEY = private_key()
STATUSES = {200, 400, 421, 427, 432}
PAYLOADS: list[dict[str, Any]] = [
    {"version": "3.0", "action": "ping"},
    {"version": "3.0", "action": "INIT", "flow_token": "tok"},
    {"version": "3.0", "action": "BACK", "screen": "B", "flow_token": "tok"},
    {"version": "3.0", "action": "data_exchange", "screen": "A",
     "data": {"slot": "10:30", "tags": ["a", 1]}, "flow_token": "tok"},
    {"version": "3.0", "action": "data_exchange", "screen": "A",
     "data": {"error": "invalid-screen-transition", "error_message": "bad"}, "flow_token": "tok"},
]  # fmt: skip


def _good(req: FlowRequest) -> dict[str, Any]:
    """Correct: echoes only what the endpoint itself checks (the token)."""
    if req.action == "BACK":
        raise ScreenError("try again")
    if req.action == "data_exchange":
        return complete(req.flow_token, n=len(req.data))
    return next_screen("A", {"token": req.flow_token})


def _endpoint(**options: Any) -> FlowEndpoint:
    endpoint = FlowEndpoint(KEY, **options)
    for action in ("INIT", "BACK", "data_exchange"):
        endpoint.on(action)(_good)
    endpoint.on_error(lambda req: None)
    return endpoint


ENDPOINTS = {
    "open": _endpoint(),  # the default: anyone can reach it
    "signed": _endpoint(app_secrets=[APP_SECRET]),
    "plaintext": _endpoint(accept_plaintext=True),
}


def _seal(clear: bytes) -> tuple[bytes, bytes, bytes]:
    body, aes_key, iv = encrypt_request(clear, KEY.public_key())
    return json.dumps(body).encode(), aes_key, iv


ENVELOPE = json.loads(_seal(json.dumps(PAYLOADS[1]).encode())[0])


SEALED = st.one_of(spliced(PAYLOADS), raw_bodies())
PLAIN = spliced(PAYLOADS)
ENVELOPES = spliced([ENVELOPE])


@st.composite
def _requests(draw: st.DrawFn) -> tuple[bytes, bytes, bytes]:
    """(body, aes key, iv); the key is empty when nobody could decrypt the body."""
    kind = draw(st.sampled_from(["sealed", "plain", "envelope", "raw"]))
    if kind == "sealed":
        return _seal(draw(SEALED))
    if kind == "plain":
        return draw(PLAIN), b"", b""
    if kind == "envelope":
        return draw(ENVELOPES), b"", b""
    return draw(raw_bodies()), b"", b""


HEADERS = st.one_of(
    st.just("signed"), st.dictionaries(st.sampled_from(["X-Hub-Signature-256", "x"]), texts())
)


def _check(resp: EndpointResponse, aes_key: bytes, iv: bytes) -> None:
    assert isinstance(resp, EndpointResponse)
    assert resp.status in STATUSES, resp
    if resp.content_type == "application/json":
        json.loads(resp.body)
    elif resp.status == 200 and aes_key:
        decrypt_response(resp.body, aes_key, iv)  # strict JSON, as the client reads it


@more(3)
@given(request=_requests(), headers=HEADERS)
def test_any_request_gets_a_documented_status(
    request: tuple[bytes, bytes, bytes], headers: Any
) -> None:
    body, aes_key, iv = request
    if headers == "signed":
        headers = signed(body)
    for endpoint in ENDPOINTS.values():
        with default_stack():
            sync = endpoint.handle(body, headers)
            twin = asyncio.run(endpoint.handle_async(body, headers))
        _check(sync, aes_key, iv)
        assert twin.status == sync.status
