"""Regressions found by fuzzing the endpoint (issue 13): each answer is a documented
status, on the default endpoint, which anyone can reach (no ``app_secrets``)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from gateway.endpoint import EndpointResponse, FlowEndpoint, FlowRequest, next_screen
from tests.endpoint.whatsapp import (
    APP_SECRET,
    decrypt_response,
    encrypt_request,
    private_key,
    signed,
)

KEY = private_key()


def _open() -> FlowEndpoint:
    endpoint = FlowEndpoint(KEY)  # the default: no signature check
    endpoint.on_init(lambda req: next_screen("A", {"token": req.flow_token}))
    return endpoint


def _both(endpoint: FlowEndpoint, body: bytes, headers: dict[str, str]) -> EndpointResponse:
    sync = endpoint.handle(body, headers)
    twin = asyncio.run(endpoint.handle_async(body, headers))
    assert (twin.status, twin.content_type) == (sync.status, sync.content_type)
    return sync


def _sealed(clear: bytes) -> tuple[bytes, bytes, bytes]:
    body, aes_key, iv = encrypt_request(clear, KEY.public_key())
    return json.dumps(body).encode(), aes_key, iv


def test_4kb_of_brackets_is_400() -> None:
    resp = _both(_open(), b"[" * 4096, {})
    assert resp.status == 400
    assert "not JSON" in json.loads(resp.body)["error"]


@pytest.mark.parametrize("action", ["ping", "INIT"])
def test_version_with_a_lone_surrogate_is_400(action: str) -> None:
    body, _, _ = _sealed(b'{"version":"\\ud800","action":"' + action.encode() + b'"}')
    resp = _both(_open(), body, {})
    assert resp.status == 400
    assert "version" in json.loads(resp.body)["error"]


@pytest.mark.parametrize(
    "version",
    [b"[" * 900 + b"]" * 900, b'{"a":"\\ud800"}', b"[1, 2]", b"true"],
    ids=["deep list", "object", "list", "bool"],
)
def test_a_version_that_is_not_text_is_not_echoed(version: bytes) -> None:
    """Echoed, it came back as the Python repr of a structure, not a version."""
    body, aes_key, iv = _sealed(b'{"version":' + version + b',"action":"INIT","flow_token":"t"}')
    resp = _both(_open(), body, {})
    assert resp.status == 200
    assert decrypt_response(resp.body, aes_key, iv) == {"screen": "A", "data": {"token": "t"}}


def test_a_numeric_version_is_echoed_as_text() -> None:
    body, aes_key, iv = _sealed(b'{"version":3.0,"action":"INIT","flow_token":"t"}')
    assert decrypt_response(_both(_open(), body, {}).body, aes_key, iv)["version"] == "3.0"


def test_a_signature_header_no_server_sends_is_432_not_a_crash() -> None:
    endpoint = FlowEndpoint(KEY, app_secrets=[APP_SECRET])
    body, _, _ = _sealed(b'{"version":"3.0","action":"ping"}')
    for value in ("\ud800", "sha256=\udfff", signed(body)["X-Hub-Signature-256"] + "\ud800"):
        assert _both(endpoint, body, {"X-Hub-Signature-256": value}).status == 432


def test_an_error_notification_is_logged_short(caplog: pytest.LogCaptureFixture) -> None:
    """The client's ``error`` value is logged as at most 200 characters of text, never
    rendered as the structure it sent (10 MB, or 900 levels deep)."""
    seen: list[FlowRequest] = []
    endpoint = _open()
    endpoint.on_error(seen.append)
    for error in (b"[" * 900 + b"]" * 900, b'"' + b"e" * 100_000 + b'"'):
        clear = (
            b'{"version":"3.0","action":"INIT","flow_token":"t","data":{"error":' + error + b"}}"
        )
        body, aes_key, iv = _sealed(clear)
        with caplog.at_level(logging.WARNING, logger="flowgateway"):
            resp = _both(endpoint, body, {})
        assert decrypt_response(resp.body, aes_key, iv) == {"data": {"acknowledged": True}}
        lines = [r.getMessage() for r in caplog.records if "error_notification" in r.getMessage()]
        assert lines
        assert all(len(line) < 400 for line in lines), max(map(len, lines))
        caplog.clear()
    assert len(seen) == 4  # the application's handler still saw each one, whole
