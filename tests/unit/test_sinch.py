"""Sinch specifics: OAuth token caching and refresh, Basic auth, signed callbacks."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import respx

from gateway import AsyncGateway, AuthenticationError, FlowMessage, Gateway, SignatureError
from gateway.events import UnhandledEvent
from gateway.http import HttpRequest, HttpResponse
from gateway.transport import AsyncHttpxTransport
from providers import get_adapter
from providers.sinch import SinchAdapter
from tests.conftest import CONTRACT, PROVIDERS, SINCH_AUTH_URL
from tests.contract.sinch.kit import sinch_headers

SEND = "https://eu.conversation.api.sinch.com/v1/projects/proj-1234/messages:send"
MSG = FlowMessage(to="+46732001122", flow_id="1", flow_cta="Open", body="Hi", screen="S")
ACCEPTED = {"message_id": "01HMSG", "accepted_time": "2026-11-21T10:00:00Z"}


def _adapter(**extra: Any) -> SinchAdapter:
    adapter = get_adapter("sinch", **{**PROVIDERS["sinch"], **extra})
    assert isinstance(adapter, SinchAdapter)
    return adapter


def _token(value: str, expires_in: int = 3600) -> httpx.Response:
    return httpx.Response(200, json={"access_token": value, "expires_in": expires_in})


def test_token_request_is_client_credentials_with_basic_auth() -> None:
    req = _adapter().token_request()
    assert req is not None
    assert (req.method, req.url) == ("POST", SINCH_AUTH_URL)
    assert req.content == b"grant_type=client_credentials"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.headers["Authorization"] == "Basic a2V5LWlkLTEyMzprZXktc2VjcmV0LTQ1Ng=="
    assert "key-secret-456" not in repr(req)


class SlowSinch:
    """A transport that takes its time, so concurrent sends really overlap."""

    def __init__(self) -> None:
        self.tokens = 0
        self.sends: list[str] = []

    def _answer(self, request: HttpRequest) -> HttpResponse:
        if request.url == SINCH_AUTH_URL:
            self.tokens += 1
            body = {"access_token": f"T{self.tokens}", "expires_in": 3600}
        else:
            self.sends.append(request.headers["Authorization"])
            body = ACCEPTED
        return HttpResponse.of(200, {}, json.dumps(body).encode())

    def send(self, request: HttpRequest) -> HttpResponse:
        time.sleep(0.02)
        return self._answer(request)

    def close(self) -> None:
        return None


class AsyncSlowSinch(SlowSinch):
    async def send(self, request: HttpRequest) -> HttpResponse:  # type: ignore[override]
        await asyncio.sleep(0.02)
        return self._answer(request)

    async def aclose(self) -> None:
        return None


def test_one_token_for_concurrent_async_sends() -> None:
    transport = AsyncSlowSinch()

    async def go() -> None:
        async with AsyncGateway({"s": _adapter()}, transport=transport) as gw:
            await asyncio.gather(*(gw.send(MSG) for _ in range(25)))

    asyncio.run(go())
    assert transport.tokens == 1
    assert transport.sends == ["Bearer T1"] * 25


def test_one_token_for_concurrent_threads() -> None:
    transport = SlowSinch()
    with Gateway({"s": _adapter()}, transport=transport) as gw, ThreadPoolExecutor(8) as pool:
        receipts = list(pool.map(lambda _: gw.send(MSG), range(25)))
    assert transport.tokens == 1
    assert transport.sends == ["Bearer T1"] * 25
    assert {r.status for r in receipts} == {"queued"}


def test_token_refreshed_shortly_before_expiry() -> None:
    now = [1000.0]
    with respx.mock() as mock:
        token = mock.post(SINCH_AUTH_URL).mock(side_effect=[_token("T1", 600), _token("T2", 600)])
        send = mock.post(SEND).respond(200, json=ACCEPTED)
        with Gateway({"s": _adapter()}) as gw:
            cache = gw.senders["s"].tokens
            assert cache is not None
            cache.clock = lambda: now[0]
            gw.send(MSG)
            now[0] += 530  # still inside the lifetime minus the 60 s margin
            gw.send(MSG)
            now[0] += 20  # within the margin: refresh before it can expire in flight
            gw.send(MSG)
    assert token.call_count == 2
    assert [c.request.headers["authorization"] for c in send.calls] == [
        "Bearer T1",
        "Bearer T1",
        "Bearer T2",
    ]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_expired_401_refreshes_once_and_resends(kind: str) -> None:
    expired = httpx.Response(
        401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'},
        json={"error": {"code": 401, "message": "token expired", "status": "UNAUTHENTICATED"}},
    )
    with respx.mock() as mock:
        token = mock.post(SINCH_AUTH_URL).mock(side_effect=[_token("T1"), _token("T2")])
        send = mock.post(SEND).mock(side_effect=[expired, httpx.Response(200, json=ACCEPTED)])
        if kind == "sync":
            with Gateway({"s": _adapter()}) as gw:
                receipt = gw.send(MSG)
        else:

            async def go() -> Any:
                async with AsyncGateway({"s": _adapter()}, transport=AsyncHttpxTransport()) as agw:
                    return await agw.send(MSG)

            receipt = asyncio.run(go())
    assert receipt.message_id == "01HMSG"
    assert token.call_count == 2
    assert [c.request.headers["authorization"] for c in send.calls] == ["Bearer T1", "Bearer T2"]


def test_plain_401_is_not_refreshed() -> None:
    denied = httpx.Response(401, json={"error": {"status": "UNAUTHENTICATED", "message": "no"}})
    with respx.mock() as mock:
        token = mock.post(SINCH_AUTH_URL).mock(return_value=_token("T1"))
        send = mock.post(SEND).mock(return_value=denied)
        with Gateway({"s": _adapter()}) as gw, pytest.raises(AuthenticationError):
            gw.send(MSG)
    assert (token.call_count, send.call_count) == (1, 1)


def test_token_endpoint_failures() -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.post(SINCH_AUTH_URL).respond(401, json={"error": "invalid_client"})
        send = mock.post(SEND).respond(200, json=ACCEPTED)
        with Gateway({"s": _adapter()}) as gw, pytest.raises(AuthenticationError):
            gw.send(MSG)
    assert send.call_count == 0
    with respx.mock() as mock:
        token = mock.post(SINCH_AUTH_URL).mock(
            side_effect=[httpx.Response(503, text="busy"), _token("T1")]
        )
        mock.post(SEND).respond(200, json=ACCEPTED)
        with Gateway({"s": _adapter()}) as gw:
            assert gw.send(MSG).message_id == "01HMSG"  # the token fetch was retried
    assert token.call_count == 2
    with pytest.raises(AuthenticationError, match="no access_token"):
        _adapter().parse_token_response(HttpResponse.of(200, {}, b'{"token_type":"bearer"}'))


def test_basic_auth_needs_no_token() -> None:
    adapter = _adapter(auth="basic")
    assert adapter.token_request() is None
    with respx.mock() as mock:
        send = mock.post(SEND).respond(200, json=ACCEPTED)
        with Gateway({"s": adapter}) as gw:
            gw.send(MSG)
    assert send.calls.last.request.headers["authorization"].startswith("Basic ")


def test_region_picks_the_host_and_base_url_overrides() -> None:
    assert _adapter(region="br").build_send(MSG).url.startswith("https://br.conversation.api.")
    custom = _adapter(base_url="http://127.0.0.1:8580").build_send(MSG)
    assert custom.url == "http://127.0.0.1:8580/v1/projects/proj-1234/messages:send"


def test_sdk_signature_vector() -> None:
    vector = json.loads((CONTRACT / "sinch/signatures/sdk_vector.json").read_text())
    adapter = _adapter(webhook_secret=vector["secret"])
    adapter.clock = lambda: float(vector["timestamp"]) + 10
    headers = {
        "x-sinch-webhook-signature": vector["signature"],
        "x-sinch-webhook-signature-nonce": vector["nonce"],
        "x-sinch-webhook-signature-timestamp": vector["timestamp"],
    }
    body = vector["body"].encode()
    adapter.verify_webhook(body, headers)
    [event] = adapter.parse_webhook(body, headers)
    assert isinstance(event, UnhandledEvent)
    assert event.kind == "event:contact_create_notification"
    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify_webhook(body.replace(b"New Test", b"Old Test"), headers)


@pytest.mark.parametrize(
    ("age", "ok"), [(0, True), (299, True), (-299, True), (301, False), (-301, False)]
)
def test_timestamp_window_refuses_replays(age: float, ok: bool) -> None:
    adapter = _adapter()
    body = b'{"app_id":"x","message_submit_notification":{}}'
    headers = sinch_headers(body, age=age)
    if ok:
        adapter.verify_webhook(body, headers)
    else:
        with pytest.raises(SignatureError, match="stale or replayed"):
            adapter.verify_webhook(body, headers)


def test_window_is_configurable_and_bad_timestamps_refused() -> None:
    body = b"{}"
    _adapter(signature_max_age=7200).verify_webhook(body, sinch_headers(body, age=3600))
    headers = {**sinch_headers(body), "x-sinch-webhook-signature-timestamp": "yesterday"}
    with pytest.raises(SignatureError, match="not a number"):
        _adapter().verify_webhook(body, headers)
