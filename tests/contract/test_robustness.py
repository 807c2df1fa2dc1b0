"""Bad input at every entry point gives a typed error: never KeyError/TypeError.

Every node of every documented webhook and response body is replaced, one at a time, by
values of the wrong type. Parsing must then either succeed or raise the typed error of
that entry point (WebhookPayloadError for callbacks, ProviderError for responses).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway import ProviderError, WebhookPayloadError
from gateway.http import HttpResponse
from providers import get_adapter
from tests.conftest import PROVIDERS
from tests.junk import paths, replaced
from tests.kits import KITS, load_fixture_files

JUNK = (None, 7, -1.5, "x", "", [], {}, True, [None], {"id": None})


def _variants(doc: Any) -> Iterator[bytes]:
    for path in paths(doc):
        for junk in JUNK:
            yield json.dumps(replaced(doc, path, junk)).encode()


def _bodies(kind: str) -> list[Any]:
    out = []
    for provider in sorted(PROVIDERS):
        for f in load_fixture_files(KITS[provider], kind):
            case = json.loads(f.read_text())
            if "body" in case:
                out.append(pytest.param(provider, case, id=f"{provider}-{f.stem}"))
    return out


@pytest.mark.parametrize(("provider", "case"), _bodies("webhooks"))
def test_webhook_junk_never_crashes(provider: str, case: dict[str, Any]) -> None:
    adapter = get_adapter(provider, **PROVIDERS[provider])
    refusals: list[str] = []
    for body in _variants(case["body"]):
        try:
            events = adapter.parse_webhook(body, {})
        except WebhookPayloadError as exc:
            refusals.append(str(exc))
            continue
        assert isinstance(events, list)
    assert refusals  # the junk did reach the parser's checks
    assert all(refusals)


@pytest.mark.parametrize(("provider", "case"), _bodies("responses") + _bodies("errors"))
def test_response_junk_never_crashes(provider: str, case: dict[str, Any]) -> None:
    adapter = get_adapter(provider, **PROVIDERS[provider])
    refusals: list[str] = []
    for body in _variants(case["body"]):
        for status in (200, case["status_code"]):
            try:
                adapter.parse_send_response(HttpResponse.of(status, case.get("headers"), body))
            except ProviderError as exc:
                refusals.append(str(exc))
    assert refusals
    assert all(refusals)
