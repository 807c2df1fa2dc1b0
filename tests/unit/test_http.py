"""HTTP values: encoding, masking, Retry-After parsing, status classes."""

from __future__ import annotations

import json

import pytest

from gateway import errors
from gateway.http import HttpRequest, HttpResponse, mask_url


def test_for_json_encodes_compact_utf8() -> None:
    req = HttpRequest.for_json("POST", "https://x/y", {"text": "Olá ★", "n": 1})
    assert req.content == '{"text":"Olá ★","n":1}'.encode()
    assert json.loads(req.content) == req.json
    assert req.headers["Content-Type"] == "application/json"


def test_values_are_frozen() -> None:
    req = HttpRequest("GET", "https://x")
    with pytest.raises(AttributeError):
        req.url = "https://other"  # type: ignore[misc]


def test_mask_url_hides_credentials_only() -> None:
    url = "https://api.1msg.io/inst/sendFlow?token=abc123&chatId=1%40c.us"
    masked = mask_url(url)
    assert "abc123" not in masked
    assert "token=***" in masked
    assert "chatId=1%40c.us" in masked
    assert mask_url("https://x/y") == "https://x/y"


def test_repr_masks_headers() -> None:
    req = HttpRequest.for_json(
        "POST", "https://x?api_key=K9", {}, {"D360-API-KEY": "K1", "X-Id": "v"}
    )
    text = repr(req)
    assert "K1" not in text
    assert "K9" not in text
    assert "X-Id" in text


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "soon"}, None),
        (
            {
                "Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT",
                "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
            30.0,
        ),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT"}, None),  # no clock to compare with
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert HttpResponse.of(429, headers).retry_after() == expected


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.InvalidRequest),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDenied),
        (404, errors.InvalidRequest),
        (408, errors.ProviderUnavailable),
        (429, errors.RateLimited),
        (500, errors.ProviderUnavailable),
        (503, errors.ProviderUnavailable),
        (302, errors.ProviderError),
    ],
)
def test_class_for_status(status: int, cls: type) -> None:
    assert errors.class_for_status(status) is cls


def test_categories_match_class_names() -> None:
    for name, cls in errors.CATEGORIES.items():
        assert cls.__name__ == name
    assert errors.RateLimited("x").retryable
    assert not errors.ServiceWindowClosed("x").retryable
    assert not errors.OutcomeUnknown("x").retryable
