"""Regression tests for what a chaos and fuzz run sent the adapters (issue 13): each entry
point answers hostile input with its own typed error, never an untyped exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.errors import (
    AuthenticationError,
    ConfigError,
    ProviderError,
    SignatureError,
    WebhookPayloadError,
)
from gateway.events import MessageStatus
from gateway.http import HttpResponse
from gateway.model import FlowMessage, TemplateRef
from providers import get_adapter
from providers.base import Adapter
from providers.sinch import SinchOptions
from tests.conftest import PROVIDERS
from tests.contract.sinch.kit import SINCH_WEBHOOK_SECRET, sinch_headers
from tests.kits import KITS

ALL = sorted(PROVIDERS)
DEEP = b"[" * 1000 + b"]" * 1000  # 2 KB: deeper than json.loads recurses
STATUS = {"id": "wamid.X", "status": "failed", "timestamp": "1", "recipient_id": "1650555"}


def _adapter(provider: str, **extra: Any) -> Adapter:
    return get_adapter(provider, **{**PROVIDERS[provider], **extra})


@pytest.mark.parametrize("provider", ALL)
@pytest.mark.parametrize("body", [DEEP, b'{"entry": ' + DEEP + b"}", b"\xff\xfe{}"])
def test_deep_or_undecodable_webhooks_are_payload_errors(provider: str, body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        _adapter(provider).parse_webhook(body, {})


@pytest.mark.parametrize("provider", ALL)
@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        b'{"error": {"code": Infinity, "message": "x"}}',
        b'{"error": {"code": 1e999, "message": "x"}}',
        b'{"error": {"code": NaN, "message": "x"}}',
        b'{"errors": [{"code": -1e999, "title": "x"}]}',
        b'{"meta": {"success": false, "error": "{\\"error\\": {\\"code\\": 1e999}}"}}',
        b'{"response": {"error": "' + b"[" * 3000 + b'"}}',
    ],
)
@pytest.mark.parametrize("status", [200, 400, 500])
def test_hostile_replies_are_provider_errors(provider: str, body: bytes, status: int) -> None:
    resp = HttpResponse.of(status, {"content-type": "application/json"}, body)
    with pytest.raises(ProviderError):
        _adapter(provider).parse_send_response(resp)


@pytest.mark.parametrize("code", ["Infinity", "-Infinity", "1e999", "NaN", "1.5", '"x"'])
def test_status_error_codes_that_are_not_integers_are_kept_as_written(code: str) -> None:
    errors = f'[{{"code": {code}, "title": "Re-engagement message"}}]'
    value = f'{{"statuses": [{json.dumps(STATUS)[:-1]}, "errors": {errors}}}]}}'
    doc = f'{{"entry": [{{"changes": [{{"field": "messages", "value": {value}}}]}}]}}'
    [status] = _adapter("meta_cloud").parse_webhook(doc.encode(), {})
    assert isinstance(status, MessageStatus)
    [error] = status.errors
    assert error.code is None or isinstance(error.code, str)
    assert error.category == "ServiceWindowClosed"  # the words still name the failure


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e999"])
def test_retry_after_that_is_not_a_number_of_seconds_is_ignored(value: str) -> None:
    assert HttpResponse.of(429, {"retry-after": value}, b"").retry_after() is None


@pytest.mark.parametrize("timestamp", ["nan", "NaN", "inf", "-inf", "1e999", "x"])
def test_a_sinch_signature_timestamp_must_be_a_number(timestamp: str) -> None:
    body = b'{"app_id": "a"}'
    headers = {**sinch_headers(body), "x-sinch-webhook-signature-timestamp": timestamp}
    with pytest.raises(SignatureError, match="not a number"):
        _adapter("sinch").verify_webhook(body, headers)


def test_a_valid_sinch_signature_still_verifies() -> None:
    body = b'{"app_id": "a"}'
    _adapter("sinch").verify_webhook(body, sinch_headers(body, secret=SINCH_WEBHOOK_SECRET))


@pytest.mark.parametrize("expires_in", ["Infinity", "NaN", "-5", "0"])
def test_a_token_that_never_expires_is_refused(expires_in: str) -> None:
    body = f'{{"access_token": "t0k3n", "expires_in": {expires_in}}}'.encode()
    with pytest.raises(AuthenticationError, match="expires_in"):
        _adapter("sinch").parse_token_response(HttpResponse.of(200, {}, body))


SECRETS = {name: kit.secret_settings for name, kit in KITS.items()}


@pytest.mark.parametrize(("provider", "key"), [(p, k) for p, keys in SECRETS.items() for k in keys])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_secrets_are_configuration_errors(provider: str, key: str, value: str) -> None:
    # e.g. app_secret = "${META_APP_SECRET}" with the variable set but empty: an HMAC with
    # an empty key would verify anyone's forgery.
    with pytest.raises(ConfigError) as info:
        get_adapter(provider, **{**PROVIDERS[provider], key: value})
    assert info.value.key == key
    assert "must not be empty" in str(info.value)


SURROGATE = "\ud800"
BASE: dict[str, Any] = {
    "to": "+16505551234",
    "flow_id": "1",
    "flow_cta": "Go",
    "body": "b",
    "screen": "S",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"body": f"hi {SURROGATE}"}, "body"),
        ({"header": SURROGATE}, "header"),
        ({"footer": SURROGATE}, "footer"),
        ({"flow_cta": f"Go{SURROGATE}"}, "flow_cta"),
        ({"flow_token": SURROGATE}, "flow_token"),
        ({"screen": SURROGATE}, "screen"),
        ({"flow_id": SURROGATE}, "flow_id"),
        ({"data": {"a": [SURROGATE]}}, "data"),
        ({"data": {SURROGATE: 1}}, "data"),
        ({"options": [SinchOptions(message_metadata="ok")], "data": {"x": SURROGATE}}, "data"),
    ],
)
def test_text_that_is_not_unicode_is_refused_at_construction(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        FlowMessage(**{**BASE, **change})
    [err] = info.value.errors()
    assert err["loc"][0] == field


def test_template_parameters_that_are_not_unicode_are_refused() -> None:
    with pytest.raises(ValidationError, match="lone surrogate"):
        TemplateRef(name="t", language="en_US", body_parameters=(SURROGATE,))


@pytest.mark.parametrize("provider", ALL)
def test_every_adapter_builds_any_valid_unicode(provider: str) -> None:
    msg = FlowMessage(**{**BASE, "body": "Olá 👋 — ✓ 日本語", "data": {"é": ["ü", "😀"]}})
    request = _adapter(provider).build_send(msg)
    assert "Olá 👋" in request.content.decode("utf-8")


def _deep(levels: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for _ in range(levels):
        data = {"a": data}
    return data


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        ({"x": float("nan")}, "data_not_json"),
        ({"x": [1, float("inf")]}, "data_not_json"),
        ({"x": {1, 2}}, "data_not_json"),
        ({"x": object()}, "data_not_json"),
        (_deep(5000), "data_too_deep"),
        ({"\ud800": {"\udc00": None}}, "invalid_unicode"),
    ],
)
def test_data_that_json_cannot_carry_is_refused(data: dict[str, Any], rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        FlowMessage(**{**BASE, "data": data})
    [err] = info.value.errors()  # the message itself must be valid Unicode
    assert (err["loc"], err["type"]) == (("data",), rule)


def _one_not_unicode(provider: str, body: bytes) -> list[tuple[dict[str, str], dict[str, str]]]:
    """The authentic credentials with one of them made not Unicode, each in turn."""
    kit = KITS[provider]
    headers, query = kit.authentic(body)
    out = []
    for creds in (headers, query):
        for name in [n for n in creds if n.lower() not in kit.unchecked_credentials]:
            changed = {**creds, name: creds[name] + "\ud800"}
            out.append((changed, query) if creds is headers else (headers, changed))
    return out


@pytest.mark.parametrize("provider", ALL)
def test_credentials_that_are_not_unicode_are_refused_not_crashed_on(provider: str) -> None:
    # Headers from a server are Latin-1 text; the Python API can pass anything.
    body = b"{}"
    attempts = _one_not_unicode(provider, body)
    assert attempts
    for headers, query in attempts:
        with pytest.raises(SignatureError):
            _adapter(provider).verify_webhook(body, headers, query)


@pytest.mark.parametrize(("provider", "key"), [(p, keys[0]) for p, keys in SECRETS.items()])
def test_a_configured_secret_must_be_unicode(provider: str, key: str) -> None:
    with pytest.raises(ConfigError, match="valid Unicode"):
        get_adapter(provider, **{**PROVIDERS[provider], key: "s3cr\ud800t"})
