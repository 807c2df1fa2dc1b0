"""``parse_send_response`` of every provider, fuzzed.

A documented response or error body (nodes replaced by hostile fragments), a text body,
or bytes of any shape, under any status and hostile headers → a SendReceipt, or a
ProviderError subclass that can be printed and whose ``retry_after`` a retry policy can
use. Nothing else escapes.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import ProviderError
from gateway.events import SendReceipt
from gateway.http import HttpResponse
from providers import get_adapter
from tests.conftest import PROVIDERS
from tests.fuzz.strategies import default_stack, fixtures, more, raw_bodies, spliced, texts

NAMES = sorted(PROVIDERS)
CASES = {p: fixtures(p, "responses", "errors") for p in NAMES}
BODIES = {
    p: st.one_of(
        spliced([c["body"] for c in CASES[p] if "body" in c]),
        raw_bodies(),
        st.sampled_from([c["body_text"].encode() for c in CASES[p] if "body_text" in c] or [b""]),
    )
    for p in NAMES
}
DATES = st.one_of(texts(), st.just("Wed, 21 Oct 2015 07:28:00 GMT"))
RETRY_AFTER = st.one_of(
    st.sampled_from(["1e999", "-1", "nan", "inf", "-inf", "0", "3", " 7 ", "1" * 5000]),
    st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "Mon, 99 Foo 0000 99:99:99 GMT"]),
    texts(),
)


@st.composite
def _responses(draw: st.DrawFn, provider: str) -> HttpResponse:
    case: dict[str, Any] = draw(st.sampled_from(CASES[provider]))
    body = draw(BODIES[provider])
    status = draw(
        st.one_of(
            st.just(case["status_code"]),
            st.sampled_from([200, 201, 202, 204, 400, 401, 403, 404, 429, 500, 503]),
            st.integers(100, 599),
        )
    )
    headers = dict(case.get("headers") or {})
    if draw(st.booleans()):
        headers["Retry-After"] = draw(RETRY_AFTER)
    if draw(st.booleans()):
        headers["Date"] = draw(DATES)
    if draw(st.booleans()):
        headers[draw(texts(20))] = draw(texts())
    return HttpResponse.of(status, headers, body)


@pytest.mark.parametrize("provider", NAMES)
@more(2)
@given(data=st.data())
def test_parse_send_response_gives_receipt_or_provider_error(
    provider: str, data: st.DataObject
) -> None:
    adapter = get_adapter(provider, **PROVIDERS[provider])
    resp = data.draw(_responses(provider), label="response")
    with default_stack():
        try:
            outcome: SendReceipt | ProviderError = adapter.parse_send_response(resp)
        except ProviderError as exc:
            outcome = exc
    if isinstance(outcome, ProviderError):
        assert type(outcome).__module__ == "gateway.errors"
        assert str(outcome)
        repr(outcome)
        if outcome.retry_after is not None:  # a retry policy can wait for it
            assert outcome.retry_after >= 0, outcome.retry_after
            assert not math.isnan(outcome.retry_after)
        return
    assert isinstance(outcome, SendReceipt)
    assert resp.ok, f"a {resp.status_code} response was read as a receipt"
    assert outcome.message_id is None or isinstance(outcome.message_id, str)
