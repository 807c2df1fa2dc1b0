"""Meta Cloud API contract: documented payloads in, documented payloads out.

Every JSON file under ``tests/contract/meta_cloud/`` is one case; the adapter is checked
alone and through both gateways (HTTP mocked with respx).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx

from gateway import errors as gw_errors
from gateway.events import ErrorEvent, FlowCompleted, InboundEvent, MessageStatus, UnhandledEvent
from gateway.http import HttpResponse
from gateway.model import FlowMessage, FlowTemplate
from providers import get_adapter
from providers.meta_cloud import MetaCloudAdapter
from tests.conftest import GRAPH, META_SETTINGS, hub_signature, load_fixtures

SEND_URL = f"{GRAPH}/1234567890/messages"
TEMPLATES_URL = f"{GRAPH}/102290129340398/message_templates"


@pytest.fixture
def adapter() -> MetaCloudAdapter:
    a = get_adapter("meta_cloud", **META_SETTINGS)
    assert isinstance(a, MetaCloudAdapter)
    return a


def _response(case: dict[str, Any]) -> HttpResponse:
    content = (
        case["body_text"].encode() if "body_text" in case else json.dumps(case["body"]).encode()
    )
    return HttpResponse.of(case["status_code"], case.get("headers", {}), content)


def event_view(event: InboundEvent) -> dict[str, Any]:
    """The fixture's view of a normalized event."""

    def errors(items: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [
            {"code": e.code, "title": e.title, "message": e.message, "category": e.category}
            for e in items
        ]

    if isinstance(event, FlowCompleted):
        return {
            "type": "FlowCompleted",
            "message_id": event.message_id,
            "sender": event.sender,
            "flow_token": event.flow_token,
            "response": event.response,
            "reply_to": event.reply_to,
            "timestamp": int(event.timestamp.timestamp()) if event.timestamp else None,
        }
    if isinstance(event, MessageStatus):
        return {
            "type": "MessageStatus",
            "message_id": event.message_id,
            "recipient": event.recipient,
            "status": event.status,
            "timestamp": int(event.timestamp.timestamp()) if event.timestamp else None,
            "errors": errors(event.errors),
        }
    if isinstance(event, ErrorEvent):
        return {"type": "ErrorEvent", "errors": errors(event.errors)}
    assert isinstance(event, UnhandledEvent)
    return {"type": "UnhandledEvent", "kind": event.kind}


def _model(case: dict[str, Any]) -> FlowMessage | FlowTemplate:
    return (
        FlowTemplate(**case["input"])
        if case["kind"] == "create_template"
        else FlowMessage(**case["input"])
    )


# -- outbound ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", load_fixtures("meta_cloud", "outbound"))
def test_outbound_body_matches_documented_request(
    adapter: MetaCloudAdapter, case: dict[str, Any]
) -> None:
    model = _model(case)
    if isinstance(model, FlowTemplate):
        req = adapter.build_create_template(model)
    else:
        req = adapter.build_send(model)
    assert req.method == case["expected_method"]
    assert urlsplit(req.url).path == case["expected_path"]
    assert json.loads(req.content) == case["expected_body"]
    assert req.json == case["expected_body"]
    assert req.headers["Authorization"] == f"Bearer {META_SETTINGS['access_token']}"
    assert req.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("case", load_fixtures("meta_cloud", "outbound"))
def test_outbound_through_gateway(make_driver: Any, case: dict[str, Any]) -> None:
    driver = make_driver()
    model = _model(case)
    with respx.mock(assert_all_called=True) as mock:
        if isinstance(model, FlowTemplate):
            route = mock.post(TEMPLATES_URL).respond(
                200, json={"id": "594425479261596", "status": "PENDING", "category": model.category}
            )
            receipt = driver.create_template(model)
            assert receipt.template_id == "594425479261596"
            assert receipt.status == "PENDING"
            assert receipt.name == model.name
        else:
            route = mock.post(SEND_URL).respond(
                200,
                json={
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": model.to, "wa_id": model.to.lstrip("+")}],
                    "messages": [{"id": "wamid.TEST"}],
                },
            )
            sent = driver.send(model)
            assert sent.message_id == "wamid.TEST"
            assert sent.provider == "meta_cloud"
            assert sent.sender == "main"
    assert route.call_count == 1
    assert json.loads(route.calls.last.request.content) == case["expected_body"]


# -- responses --------------------------------------------------------------------------


@pytest.mark.parametrize("case", load_fixtures("meta_cloud", "responses"))
def test_send_response_normalizes(adapter: MetaCloudAdapter, case: dict[str, Any]) -> None:
    receipt = adapter.parse_send_response(_response(case))
    assert receipt.message_id == case["expected"]["message_id"]
    assert receipt.recipient == case["expected"]["recipient"]
    assert receipt.status == case["expected"]["status"]
    assert receipt.raw == case["body"]


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", load_fixtures("meta_cloud", "errors"))
def test_error_body_maps_to_taxonomy(adapter: MetaCloudAdapter, case: dict[str, Any]) -> None:
    expected = case["expected"]
    with pytest.raises(gw_errors.ProviderError) as info:
        adapter.parse_send_response(_response(case))
    exc = info.value
    assert type(exc) is getattr(gw_errors, expected["class"])
    assert exc.code == expected["code"]
    assert exc.retryable is expected["retryable"]
    assert exc.status_code == case["status_code"]
    assert exc.provider == "meta_cloud"
    if "retry_after" in expected:
        assert exc.retry_after == expected["retry_after"]
    assert exc.raw == case.get("body", case.get("body_text"))
    assert str(exc)  # readable, never empty


@pytest.mark.parametrize("case", load_fixtures("meta_cloud", "errors"))
def test_error_through_gateway_retries_only_retryable(
    make_driver: Any, case: dict[str, Any]
) -> None:
    driver = make_driver(max_attempts=3)
    expected = case["expected"]
    content = case["body_text"] if "body_text" in case else json.dumps(case["body"])
    msg = FlowMessage(to="+16505551234", flow_id="1", flow_cta="Open", body="Hi", screen="S")
    with respx.mock() as mock:
        route = mock.post(SEND_URL).mock(
            return_value=httpx.Response(
                case["status_code"], headers=case.get("headers"), content=content
            )
        )
        with pytest.raises(getattr(gw_errors, expected["class"])):
            driver.send(msg)
    assert route.call_count == (3 if expected["retryable"] else 1)


# -- webhooks ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", load_fixtures("meta_cloud", "webhooks"))
def test_webhook_normalizes(adapter: MetaCloudAdapter, case: dict[str, Any]) -> None:
    body = json.dumps(case["body"]).encode()
    events = adapter.parse_webhook(body, {})
    assert [event_view(e) for e in events] == case["expected"]
    for e in events:
        assert e.provider == "meta_cloud"
        assert e.raw is not None


@pytest.mark.parametrize("case", load_fixtures("meta_cloud", "webhooks"))
def test_signed_webhook_through_gateway(make_driver: Any, case: dict[str, Any]) -> None:
    driver = make_driver()
    body = json.dumps(case["body"]).encode()
    events = driver.handle_webhook("main", body, {"X-Hub-Signature-256": hub_signature(body)})
    assert [event_view(e) for e in events] == case["expected"]


@pytest.mark.parametrize("case", load_fixtures("meta_cloud", "webhooks"))
def test_tampered_webhook_is_rejected(make_driver: Any, case: dict[str, Any]) -> None:
    driver = make_driver()
    body = json.dumps(case["body"]).encode()
    signature = hub_signature(body)
    tampered = body.replace(b'"entry"', b'"entry" ', 1)
    with pytest.raises(gw_errors.SignatureError):
        driver.handle_webhook("main", tampered, {"X-Hub-Signature-256": signature})
    with pytest.raises(gw_errors.SignatureError):
        driver.handle_webhook("main", body, {"X-Hub-Signature-256": hub_signature(body, "wrong")})
    with pytest.raises(gw_errors.SignatureError):
        driver.handle_webhook("main", body, {})


def test_hub_challenge_through_gateway(make_driver: Any) -> None:
    driver = make_driver()
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": META_SETTINGS["verify_token"],
        "hub.challenge": "1158201444",
    }
    assert driver.verify_challenge("main", params) == "1158201444"
    with pytest.raises(gw_errors.SignatureError):
        driver.verify_challenge("main", {**params, "hub.verify_token": "guess"})
