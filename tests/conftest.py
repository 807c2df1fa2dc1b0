"""Shared fixtures: a sync/async gateway driver so every gateway test runs against both."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx

from gateway import AsyncGateway, Gateway, RetryPolicy, RetrySettings
from gateway.events import InboundEvent, SendReceipt, TemplateReceipt
from gateway.model import FlowMessage, FlowTemplate
from gateway.transport import AsyncHttpxTransport

CONTRACT = Path(__file__).parent / "contract"

META_TOKEN = "EAAG-test-access-token-0123456789"
META_APP_SECRET = "meta-app-secret-abcdef123456"
META_VERIFY_TOKEN = "verify-me-please-42"
META_SETTINGS: dict[str, Any] = {
    "phone_number_id": "1234567890",
    "waba_id": "102290129340398",
    "api_version": "v24.0",
    "access_token": META_TOKEN,
    "app_secret": META_APP_SECRET,
    "verify_token": META_VERIFY_TOKEN,
}
GRAPH = "https://graph.facebook.com/v24.0"

D360_KEY = "d360-test-key-0123456789"
D360_WEBHOOK_SECRET = "Basic d2ViaG9vazpzM2NyM3Q="
ONEMSG_TOKEN = "1msg-token-abcdef0123456789"
ONEMSG_WEBHOOK_TOKEN = "1msg-webhook-url-token-42"
NAMESPACE = "c8ae5f90_307a_ca4c_b8f6_d1e2a2573574"
SINCH_KEY_SECRET = "key-secret-456"
SINCH_WEBHOOK_SECRET = "sinch-webhook-secret-789"
SINCH_ACCESS_TOKEN = "sinch-oauth-access-token-xyz"
SINCH_AUTH_URL = "https://auth.sinch.com/oauth2/token"

PROVIDERS: dict[str, dict[str, Any]] = {
    "meta_cloud": META_SETTINGS,
    "dialog360_cloud": {
        "api_key": D360_KEY,
        "webhook_auth_value": D360_WEBHOOK_SECRET,
        "phone_number_id": "106540352242922",
    },
    "dialog360_onprem": {
        "api_key": D360_KEY,
        "namespace": NAMESPACE,
        "webhook_auth_value": D360_WEBHOOK_SECRET,
        "channel_id": "onprem-channel-1",
    },
    "onemsg": {
        "instance_id": "inst12345",
        "token": ONEMSG_TOKEN,
        "namespace": NAMESPACE,
        "webhook_token": ONEMSG_WEBHOOK_TOKEN,
    },
    "sinch": {
        "project_id": "proj-1234",
        "app_id": "01HAPPID0000000000000000AB",
        "region": "eu",
        "key_id": "key-id-123",
        "key_secret": SINCH_KEY_SECRET,
        "webhook_secret": SINCH_WEBHOOK_SECRET,
    },
}
"""Settings of one sender per provider, as the contract fixtures assume."""

PROVIDER_SECRETS = (
    META_TOKEN,
    META_APP_SECRET,
    META_VERIFY_TOKEN,
    D360_KEY,
    D360_WEBHOOK_SECRET,
    ONEMSG_TOKEN,
    ONEMSG_WEBHOOK_TOKEN,
)


def load_fixtures(provider: str, kind: str) -> list[Any]:
    """``pytest.param`` per JSON file under ``tests/contract/<provider>/<kind>/``."""
    files = sorted((CONTRACT / provider / kind).glob("*.json"))
    assert files, f"no fixtures in {provider}/{kind}"
    return [pytest.param(json.loads(f.read_text()), id=f.stem) for f in files]


def hub_signature(body: bytes, secret: str = META_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sinch_headers(
    body: bytes, *, age: float = 0, secret: str = SINCH_WEBHOOK_SECRET
) -> dict[str, str]:
    """Sinch's signature headers, computed here independently of the adapter."""
    nonce, timestamp = "01FJA8B4A7BM43YGWSG9GBV067", str(int(time.time() - age))
    signed = body + b"." + nonce.encode() + b"." + timestamp.encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return {
        "x-sinch-webhook-signature": base64.b64encode(digest).decode(),
        "x-sinch-webhook-signature-nonce": nonce,
        "x-sinch-webhook-signature-timestamp": timestamp,
        "x-sinch-webhook-signature-algorithm": "HmacSHA256",
    }


def add_token_route(mock: respx.MockRouter, provider: str = "sinch") -> respx.Route | None:
    """Sinch's OAuth endpoint, when ``provider`` needs it; add it before any catch-all route."""
    if provider != "sinch":
        return None
    return mock.post(SINCH_AUTH_URL).respond(
        200,
        json={
            "access_token": SINCH_ACCESS_TOKEN,
            "expires_in": 3599,
            "scope": "",
            "token_type": "bearer",
        },
    )


def authentic(provider: str, body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query that authenticate a callback the way ``provider`` does it."""
    if provider == "sinch":
        return sinch_headers(body), {}
    if provider == "meta_cloud":
        return {"X-Hub-Signature-256": hub_signature(body)}, {}
    if provider.startswith("dialog360"):
        return {"Authorization": D360_WEBHOOK_SECRET}, {}
    return {}, {"token": ONEMSG_WEBHOOK_TOKEN}


def forged(provider: str, body: bytes) -> list[tuple[dict[str, str], dict[str, str]]]:
    """Credentials that must be refused: missing, and wrong."""
    if provider == "sinch":
        return [
            ({}, {}),
            (sinch_headers(body, secret="wrong"), {}),
            (sinch_headers(body, age=3600), {}),
        ]
    if provider == "meta_cloud":
        return [({}, {}), ({"X-Hub-Signature-256": hub_signature(body, "wrong-secret")}, {})]
    if provider.startswith("dialog360"):
        return [({}, {}), ({"Authorization": "Basic Z3Vlc3M6Z3Vlc3M="}, {})]
    return [({}, {}), ({}, {"token": "guess"})]


class Sleeps:
    """Records retry waits instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def sync(self, seconds: float) -> None:
        self.calls.append(seconds)

    async def async_(self, seconds: float) -> None:
        self.calls.append(seconds)


class Driver:
    """Drives a Gateway or an AsyncGateway through one synchronous interface."""

    def __init__(self, kind: str, senders: dict[str, Any], retry: RetrySettings) -> None:
        self.kind = kind
        self.sleeps = Sleeps()
        policy = RetryPolicy(retry, sleep=self.sleeps.sync, async_sleep=self.sleeps.async_)
        self._loop = asyncio.new_event_loop() if kind == "async" else None
        self.gw: Gateway | AsyncGateway = (
            AsyncGateway(senders, retry=policy, transport=AsyncHttpxTransport())  # respx: httpx
            if kind == "async"
            else Gateway(senders, retry=policy)
        )

    def _run(self, value: Any) -> Any:
        if self._loop is None:
            return value
        return self._loop.run_until_complete(value)

    def send(self, msg: FlowMessage) -> SendReceipt:
        result: SendReceipt = self._run(self.gw.send(msg))
        return result

    def create_template(self, tpl: FlowTemplate, sender: str | None = None) -> TemplateReceipt:
        result: TemplateReceipt = self._run(self.gw.create_template(tpl, sender=sender))
        return result

    def handle_webhook(
        self,
        sender: str,
        body: bytes,
        headers: dict[str, str],
        query: dict[str, str] | None = None,
    ) -> list[InboundEvent]:
        result: list[InboundEvent] = self._run(self.gw.handle_webhook(sender, body, headers, query))
        return result

    def verify_challenge(self, sender: str, params: dict[str, str]) -> str:
        result: str = self._run(self.gw.verify_challenge(sender, params))
        return result

    def close(self) -> None:
        self._run(self.gw.close())
        if self._loop is not None:
            self._loop.close()


@pytest.fixture(params=["sync", "async"])
def make_driver(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Factory: ``make_driver(senders, **retry_settings)`` for the sync and the async gateway."""
    made: list[Driver] = []

    def make(senders: dict[str, Any] | None = None, **retry: Any) -> Driver:
        from providers import get_adapter

        if senders is None:
            senders = {"main": get_adapter("meta_cloud", **META_SETTINGS)}
        retry.setdefault("max_attempts", 3)
        d = Driver(request.param, senders, RetrySettings(**retry))
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()
