"""Shared fixtures: a sync/async gateway driver so every gateway test runs against both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx

from gateway import AsyncGateway, Gateway, RetryPolicy, RetrySettings
from gateway.events import InboundEvent, SendReceipt, TemplateReceipt
from gateway.model import FlowMessage, FlowTemplate
from gateway.transport import AsyncHttpxTransport

# Re-exported for provider-specific unit tests that read them here; Meta is also the
# default sender of make_driver().
from tests.contract.meta_cloud.kit import GRAPH as GRAPH
from tests.contract.meta_cloud.kit import META_SETTINGS as META_SETTINGS
from tests.contract.meta_cloud.kit import META_TOKEN as META_TOKEN
from tests.contract.sinch.kit import SINCH_AUTH_URL as SINCH_AUTH_URL
from tests.kits import CONTRACT as CONTRACT
from tests.kits import KITS, Credentials, load_fixture_files
from tests.services import postgres_schema_url

PROVIDERS: dict[str, dict[str, Any]] = {name: kit.settings for name, kit in KITS.items()}
"""Settings of one sender per provider, as the contract fixtures assume (from the kits)."""

PROVIDER_SECRETS = tuple(
    str(kit.settings[key]) for kit in KITS.values() for key in kit.secret_settings
)
"""Every provider's credentials: none may show in a repr, a log line or an error."""


def load_fixtures(provider: str, kind: str) -> list[Any]:
    """``pytest.param`` per JSON file under the provider's ``<kind>/`` fixtures folder."""
    files = load_fixture_files(KITS[provider], kind)
    assert files, f"no fixtures in {provider}/{kind}"
    return [pytest.param(json.loads(f.read_text()), id=f.stem) for f in files]


def add_token_route(mock: respx.MockRouter, provider: str) -> respx.Route | None:
    """The routes ``provider`` needs before its send (a token endpoint), if any; add them
    before any catch-all route."""
    return KITS[provider].mock_auth(mock)


def authentic(provider: str, body: bytes) -> Credentials:
    """Headers and query that authenticate a callback the way ``provider`` does it."""
    return KITS[provider].authentic(body)


def forged(provider: str, body: bytes) -> list[Credentials]:
    """Credentials that must be refused: missing, and wrong."""
    return KITS[provider].forged(body)


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


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store on each engine: a SQLite file, and a PostgreSQL schema of its own
    (skipped where PostgreSQL is unreachable, failed in CI: tests/services.py)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from postgres_schema_url()
