"""Provider contracts: documented payloads in, documented payloads out.

Every JSON file under ``tests/contract/<provider>/{outbound,responses,errors,webhooks}``
(the folder of the provider's kit, tests/kits.py) is one case. Each runs against the
adapter alone and through both gateways (HTTP mocked with respx).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from gateway import errors as gw_errors
from gateway.events import (
    ErrorDetail,
    ErrorEvent,
    FlowCompleted,
    FlowHealthAlert,
    FlowStatusChanged,
    InboundEvent,
    MessageStatus,
    TemplateStatusChanged,
    UnhandledEvent,
    UserIdentityChanged,
)
from gateway.http import HttpResponse
from gateway.identity import UserRef
from gateway.model import FlowMessage, FlowTemplate
from providers import get_adapter, options_from_mapping
from providers.base import Adapter
from tests.conftest import PROVIDERS, add_token_route, authentic, forged, load_fixtures
from tests.kits import KITS, load_fixture_files

TEMPLATE_OK = {"id": "594425479261596", "status": "PENDING", "category": "MARKETING"}


def cases(kind: str) -> list[Any]:
    """``(provider, case)`` params over every provider that has fixtures of ``kind``."""
    out = []
    for provider in PROVIDERS:
        if load_fixture_files(KITS[provider], kind):
            for p in load_fixtures(provider, kind):
                out.append(pytest.param(provider, p.values[0], id=f"{provider}-{p.id}"))
    return out


def adapter_for(provider: str, case: dict[str, Any] | None = None) -> Adapter:
    extra = (case or {}).get("settings", {})
    return get_adapter(provider, **{**PROVIDERS[provider], **extra})


def http_response(case: dict[str, Any]) -> HttpResponse:
    content = (
        case["body_text"].encode() if "body_text" in case else json.dumps(case["body"]).encode()
    )
    return HttpResponse.of(case["status_code"], case.get("headers", {}), content)


def user_view(user: UserRef) -> dict[str, str]:
    """The fixtures' view of a user: the identifiers the provider gave."""
    return {k: v for k, v in asdict(user).items() if v is not None}


def event_view(event: InboundEvent) -> dict[str, Any]:
    """The fixtures' view of a normalized event (``sender`` is checked by the tests)."""

    def errors(items: tuple[ErrorDetail, ...]) -> list[dict[str, Any]]:
        return [
            {
                "code": e.code,
                "title": e.title,
                "message": e.message,
                "details": e.details,
                "category": e.category,
            }
            for e in items
        ]

    def ts(event: FlowCompleted | MessageStatus | UserIdentityChanged) -> int | None:
        return int(event.timestamp.timestamp()) if event.timestamp else None

    if isinstance(event, FlowStatusChanged | FlowHealthAlert | TemplateStatusChanged):
        # account-level events: every field the fixture names (raw and who aside)
        view = {f.name: getattr(event, f.name) for f in fields(event)}
        view["timestamp"] = int(event.timestamp.timestamp()) if event.timestamp else None
        if "errors" in view:
            view["errors"] = list(view["errors"])
        for name in ("provider", "sender", "raw"):
            view.pop(name)
        return {"type": type(event).__name__, **view}
    if isinstance(event, FlowCompleted):
        return {
            "type": "FlowCompleted",
            "message_id": event.message_id,
            "business_id": event.business_id,
            "user": user_view(event.user),
            "flow_token": event.flow_token,
            "response": event.response,
            "reply_to": event.reply_to,
            "timestamp": ts(event),
        }
    if isinstance(event, MessageStatus):
        return {
            "type": "MessageStatus",
            "message_id": event.message_id,
            "business_id": event.business_id,
            "user": user_view(event.user),
            "status": event.status,
            "timestamp": ts(event),
            "errors": errors(event.errors),
        }
    if isinstance(event, UserIdentityChanged):
        return {
            "type": "UserIdentityChanged",
            "change": event.change,
            "business_id": event.business_id,
            "user": user_view(event.user),
            "previous": user_view(event.previous),
            "message_id": event.message_id,
            "timestamp": ts(event),
        }
    if isinstance(event, ErrorEvent):
        return {
            "type": "ErrorEvent",
            "business_id": event.business_id,
            "errors": errors(event.errors),
        }
    assert isinstance(event, UnhandledEvent)
    return {"type": "UnhandledEvent", "kind": event.kind, "business_id": event.business_id}


def _model(case: dict[str, Any]) -> FlowMessage | FlowTemplate:
    if case["kind"] == "create_template":
        return FlowTemplate(**case["input"])
    fields = dict(case["input"])
    if "options" in fields:  # JSON names them by provider, as a config file would
        fields["options"] = options_from_mapping(fields["options"])
    return FlowMessage(**fields)


# -- outbound ---------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "case"), cases("outbound"))
def test_outbound_body_matches_documented_request(provider: str, case: dict[str, Any]) -> None:
    adapter = adapter_for(provider, case)
    model = _model(case)
    if isinstance(model, FlowTemplate):
        req = adapter.build_create_template(model)
    else:
        req = adapter.build_send(model)
    url = urlsplit(req.url)
    assert req.method == case["expected_method"]
    assert url.path == case["expected_path"]
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query == case.get("expected_query", {})
    assert json.loads(req.content) == case["expected_body"]
    assert req.json == case["expected_body"]
    assert req.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("provider", "case"), cases("outbound"))
def test_outbound_through_gateway(make_driver: Any, provider: str, case: dict[str, Any]) -> None:
    driver = make_driver({"main": adapter_for(provider, case)})
    model = _model(case)
    is_template = isinstance(model, FlowTemplate)
    with respx.mock() as mock:
        add_token_route(mock, provider)
        route = mock.post(path=case["expected_path"]).respond(
            200, json=TEMPLATE_OK if is_template else KITS[provider].ok_body
        )
        if isinstance(model, FlowTemplate):
            assert driver.create_template(model).template_id == TEMPLATE_OK["id"]
        else:
            receipt = driver.send(model)
            assert (receipt.message_id, receipt.provider, receipt.sender) == (
                "wamid.TEST",
                provider,
                "main",
            )
    assert route.call_count == 1
    assert json.loads(route.calls.last.request.content) == case["expected_body"]


# -- responses --------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "case"), cases("responses"))
def test_send_response_normalizes(provider: str, case: dict[str, Any]) -> None:
    adapter = adapter_for(provider)
    receipt = adapter.parse_send_response(http_response(case))
    expected = case["expected"]
    assert receipt.message_id == expected["message_id"]
    assert user_view(receipt.user) == expected["user"]
    assert (receipt.sender, receipt.business_id) == (None, adapter.business_id)
    assert receipt.status == expected["status"]
    assert receipt.job_id == expected.get("job_id")
    assert receipt.raw == case["body"]
    assert receipt.provider == provider


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "case"), cases("errors"))
def test_error_body_maps_to_taxonomy(provider: str, case: dict[str, Any]) -> None:
    expected = case["expected"]
    with pytest.raises(gw_errors.ProviderError) as info:
        adapter_for(provider).parse_send_response(http_response(case))
    exc = info.value
    assert type(exc) is getattr(gw_errors, expected["class"])
    assert exc.code == expected["code"]
    assert exc.retryable is expected["retryable"]
    assert exc.status_code == case["status_code"]
    assert exc.provider == provider
    if "retry_after" in expected:
        assert exc.retry_after == expected["retry_after"]
    if "message_contains" in expected:
        assert expected["message_contains"] in exc.message
    assert exc.raw == case.get("body", case.get("body_text"))
    assert str(exc)


@pytest.mark.parametrize(("provider", "case"), cases("errors"))
def test_error_through_gateway_retries_only_retryable(
    make_driver: Any, provider: str, case: dict[str, Any]
) -> None:
    driver = make_driver({"main": adapter_for(provider)}, max_attempts=3)
    expected = case["expected"]
    content = case["body_text"] if "body_text" in case else json.dumps(case["body"])
    msg = FlowMessage(to="+16505551234", flow_id="1", flow_cta="Open", body="Hi", screen="S")
    with respx.mock() as mock:
        add_token_route(mock, provider)
        route = mock.post().mock(
            return_value=httpx.Response(
                case["status_code"], headers=case.get("headers"), content=content
            )
        )
        with pytest.raises(getattr(gw_errors, expected["class"])):
            driver.send(msg)
    assert route.call_count == (3 if expected["retryable"] else 1)


# -- webhooks ---------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "case"), cases("webhooks"))
def test_webhook_normalizes(provider: str, case: dict[str, Any]) -> None:
    events = adapter_for(provider).parse_webhook(json.dumps(case["body"]).encode(), {})
    assert [event_view(e) for e in events] == case["expected"]
    for e in events:
        assert (e.provider, e.sender) == (provider, None)
        assert e.raw is not None


@pytest.mark.parametrize(("provider", "case"), cases("webhooks"))
def test_authentic_webhook_through_gateway(
    make_driver: Any, provider: str, case: dict[str, Any]
) -> None:
    driver = make_driver({"main": adapter_for(provider)})
    body = json.dumps(case["body"]).encode()
    headers, query = authentic(provider, body)
    events = driver.handle_webhook("main", body, headers, query)
    assert [event_view(e) for e in events] == case["expected"]
    assert {e.sender for e in events} <= {"main"}


@pytest.mark.parametrize(("provider", "case"), cases("webhooks"))
def test_forged_webhook_is_rejected(make_driver: Any, provider: str, case: dict[str, Any]) -> None:
    driver = make_driver({"main": adapter_for(provider)})
    body = json.dumps(case["body"]).encode()
    for headers, query in forged(provider, body):
        with pytest.raises(gw_errors.SignatureError):
            driver.handle_webhook("main", body, headers, query)
    if KITS[provider].signs_body:  # a body changed after signing
        headers, query = authentic(provider, body)
        with pytest.raises(gw_errors.SignatureError):
            driver.handle_webhook("main", body.replace(b"{", b"{ ", 1), headers, query)
