"""OpenTelemetry spans and metrics (extra ``otel``), read with the SDK's in-memory span
exporter and metric reader; and a scrape of the receiver's Prometheus ``/metrics``.

What is checked is what an operator sees: span names, parents, attributes; metric names,
attributes and values. No attribute may carry a phone number, message text or secret."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import FlowMessage, Gateway, RetryPolicy, RetrySettings, telemetry
from gateway.config import parse_config
from gateway.errors import ProviderUnavailable
from gateway.events import MessageStatus
from gateway.receiver import WebhookReceiver
from providers import get_adapter
from tests.conftest import CONTRACT, GRAPH, META_SETTINGS, PROVIDER_SECRETS, PROVIDERS, authentic

URL = f"{GRAPH}/1234567890/messages"
PHONE = "+16505551234"
TEXT = "Your quarterly statement is ready"
MSG = FlowMessage(to=PHONE, flow_id="1", flow_cta="Open statement", body=TEXT, screen="S")
OK = httpx.Response(
    200,
    json={"contacts": [{"input": PHONE, "wa_id": PHONE[1:]}], "messages": [{"id": "wamid.OK"}]},
)


@dataclass
class Otel:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer: Any

    def finished(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:  # nothing recorded at all
            return []
        return [
            point
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == metric
            for point in m.data.data_points
        ]

    def attribute_values(self) -> list[str]:
        values = [
            str(v) for s in self.spans.get_finished_spans() for v in (s.attributes or {}).values()
        ]
        data = self.reader.get_metrics_data()
        assert data is not None
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for point in m.data.data_points:
                        values += [str(v) for v in (point.attributes or {}).values()]
        return values


@pytest.fixture
def otel() -> Iterator[Otel]:
    """flowgateway's telemetry sent to in-memory SDK providers for one test."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    saved = (telemetry._tracer, telemetry._meter, dict(telemetry._i), telemetry._chosen)
    telemetry.use(tracer_provider, MeterProvider(metric_readers=[reader]))
    yield Otel(spans, reader, tracer_provider.get_tracer("test"))
    telemetry._tracer, telemetry._meter, _, telemetry._chosen = saved
    telemetry._i.clear()
    telemetry._i.update(saved[2])


def _gateway() -> Gateway:
    no_sleep = RetryPolicy(RetrySettings(max_attempts=3), sleep=lambda s: None)
    return Gateway({"main": get_adapter("meta_cloud", **META_SETTINGS)}, retry=no_sleep)


def test_a_send_with_a_retry_is_two_attempt_spans_under_the_callers(otel: Otel) -> None:
    with respx.mock() as mock, _gateway() as gw:
        mock.post(URL).mock(side_effect=[httpx.Response(503, text="unavailable"), OK])
        with otel.tracer.start_as_current_span("checkout") as caller:
            assert gw.send(MSG).message_id == "wamid.OK"
    first, second = otel.finished("flowgateway.send")
    for span, attempt in ((first, 1), (second, 2)):
        assert span.parent is not None
        assert span.parent.span_id == caller.get_span_context().span_id
        assert span.attributes is not None
        assert span.attributes["flowgateway.attempt"] == attempt
        assert span.attributes["flowgateway.provider"] == "meta_cloud"
        assert span.attributes["flowgateway.sender"] == "main"
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["flowgateway.outcome"] == ProviderUnavailable.category
    assert first.attributes["flowgateway.will_retry"] is True
    assert not first.status.is_ok
    assert second.attributes["flowgateway.outcome"] == "ok"
    assert second.attributes["flowgateway.will_retry"] is False

    [sends] = otel.points("flowgateway.sends")
    assert sends.value == 1
    assert dict(sends.attributes) == {
        "flowgateway.provider": "meta_cloud",
        "flowgateway.sender": "main",
        "flowgateway.outcome": "ok",
    }
    [retries] = otel.points("flowgateway.send.retries")
    assert retries.value == 1
    [latency] = otel.points("flowgateway.send.duration")
    assert latency.count == 2


def test_send_many_threads_keep_the_callers_span_as_parent(otel: Otel) -> None:
    with respx.mock() as mock, _gateway() as gw:
        mock.post(URL).mock(return_value=OK)
        with otel.tracer.start_as_current_span("campaign") as caller:
            results = gw.send_many([MSG] * 6, concurrency=3)
    assert len(results) == 6
    spans = otel.finished("flowgateway.send")
    assert len(spans) == 6
    parent = caller.get_span_context().span_id
    assert all(s.parent is not None and s.parent.span_id == parent for s in spans)
    [sends] = otel.points("flowgateway.sends")
    assert sends.value == 6


def test_a_management_call_is_a_manage_span_named_by_its_op(otel: Otel) -> None:
    with respx.mock() as mock, _gateway() as gw:
        mock.post(f"{GRAPH}/1234567890/whatsapp_business_encryption").mock(
            return_value=httpx.Response(200, json={"success": True})
        )
        assert gw.register_public_key("-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----")
    [span] = otel.finished("flowgateway.manage")
    assert span.attributes is not None
    assert span.attributes["flowgateway.op"] == "register_public_key"
    assert span.attributes["flowgateway.outcome"] == "ok"
    [calls] = otel.points("flowgateway.manage.calls")
    assert calls.value == 1


def _receiver(tmp_path: Path, **receiver: Any) -> WebhookReceiver:
    config = parse_config(
        {
            "senders": {"meta_cloud": {"provider": "meta_cloud", **PROVIDERS["meta_cloud"]}},
            "receiver": {"inbox": str(tmp_path / "inbox.db"), **receiver},
        },
        env={},
    )
    return WebhookReceiver(config, autostart=False)


def _status_callback() -> bytes:
    case = json.loads((CONTRACT / "meta_cloud/webhooks/status_read.json").read_text())
    return json.dumps(case["body"]).encode()


async def _post(receiver: WebhookReceiver, body: bytes) -> httpx.Response:
    headers, query = authentic("meta_cloud", body)
    transport = httpx.ASGITransport(app=receiver.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        return await client.post(
            "/webhooks/meta_cloud", content=body, headers=headers, params=query
        )


def test_a_webhook_whose_handler_fails_into_a_dead_letter(otel: Otel, tmp_path: Path) -> None:
    receiver = _receiver(tmp_path, max_attempts=1)

    @receiver.on(MessageStatus, name="crm")
    def crm(event: MessageStatus) -> None:
        raise ValueError(f"crm rejected {event.user.phone}")  # data in the message

    async def scenario() -> None:
        body = _status_callback()
        assert (await _post(receiver, body)).status_code == 200
        assert (await _post(receiver, body)).json()["duplicates"] == 1  # a redelivery
        assert await receiver.run_due() == 1

    try:
        asyncio.run(scenario())
    finally:
        receiver.inbox.close()
    first, again = otel.finished("flowgateway.webhook")
    assert first.attributes is not None
    assert again.attributes is not None
    assert dict(first.attributes) == {
        "flowgateway.provider": "meta_cloud",
        "flowgateway.events": 1,
        "flowgateway.new": 1,
        "flowgateway.duplicates": 0,
        "flowgateway.outcome": "ok",
    }
    assert (again.attributes["flowgateway.new"], again.attributes["flowgateway.duplicates"]) == (
        0,
        1,
    )
    [handler] = otel.finished("flowgateway.handler")
    assert dict(handler.attributes or {}) == {
        "flowgateway.handler": "crm",
        "flowgateway.event_type": "MessageStatus",
        "flowgateway.outcome": "ValueError",
        "flowgateway.dead": True,
    }
    assert not handler.status.is_ok

    [events] = otel.points("flowgateway.webhook.events")
    assert (events.value, events.attributes["flowgateway.kind"]) == (2, "MessageStatus")
    [failures] = otel.points("flowgateway.handler.failures")
    assert (failures.value, failures.attributes["flowgateway.outcome"]) == (1, "ValueError")
    [dead] = otel.points("flowgateway.handler.dead_letters")
    assert dead.value == 1
    assert dict(dead.attributes) == {
        "flowgateway.handler": "crm",
        "flowgateway.event_type": "MessageStatus",
    }


def test_a_rejected_webhook_is_a_failed_span(otel: Otel, tmp_path: Path) -> None:
    receiver = _receiver(tmp_path)
    try:
        body = _status_callback()

        async def forged() -> httpx.Response:
            transport = httpx.ASGITransport(app=receiver.asgi)
            async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
                return await client.post("/webhooks/meta_cloud", content=body)

        response = asyncio.run(forged())
    finally:
        receiver.inbox.close()
    assert response.status_code == 401
    [span] = otel.finished("flowgateway.webhook")
    assert span.attributes is not None
    assert span.attributes["flowgateway.outcome"] == "http_401"
    assert span.attributes["flowgateway.events"] == 0
    assert otel.points("flowgateway.webhook.events") == []


def test_no_attribute_holds_a_phone_number_text_or_secret(otel: Otel, tmp_path: Path) -> None:
    with respx.mock() as mock, _gateway() as gw:
        mock.post(URL).mock(side_effect=[httpx.Response(503, text=f"no {PHONE}"), OK])
        gw.send(MSG)
    receiver = _receiver(tmp_path, max_attempts=1)

    @receiver.on(MessageStatus, name="crm")
    def crm(event: MessageStatus) -> None:
        raise ZeroDivisionError

    async def webhook() -> None:
        assert (await _post(receiver, _status_callback())).status_code == 200
        await receiver.run_due()

    try:
        asyncio.run(webhook())
    finally:
        receiver.inbox.close()
    values = otel.attribute_values()
    assert len(values) > 20
    forbidden = [PHONE[1:], TEXT, MSG.flow_cta, *PROVIDER_SECRETS, *META_SETTINGS.values()]
    forbidden = [f for f in forbidden if isinstance(f, str) and len(f) >= 6]
    leaks = [(f, v) for v in values for f in forbidden if f in v]
    assert leaks == []


def test_the_receiver_serves_prometheus_metrics(tmp_path: Path) -> None:
    receiver = _receiver(tmp_path)  # no provider chosen: flowgateway's own Prometheus reader

    async def scrape() -> httpx.Response:
        assert (await _post(receiver, _status_callback())).status_code == 200
        transport = httpx.ASGITransport(app=receiver.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
            return await client.get("/metrics")

    try:
        response = asyncio.run(scrape())
    finally:
        receiver.inbox.close()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    lines = response.text.splitlines()
    assert "# TYPE flowgateway_webhook_events_total counter" in lines
    counted = [  # other receivers of this process count in the same registry
        float(x.rsplit(" ", 1)[1])
        for x in lines
        if x.startswith("flowgateway_webhook_events_total{")
        and 'flowgateway_kind="MessageStatus"' in x
        and 'flowgateway_provider="meta_cloud"' in x
    ]
    assert sum(counted) >= 1


NO_OTEL = """
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed
import httpx, respx
from gateway import Gateway, FlowMessage, telemetry
from gateway.extras import missing
from providers import get_adapter
from tests.conftest import GRAPH, META_SETTINGS
assert not telemetry.ENABLED and missing("otel") == "opentelemetry"
ok = httpx.Response(200, json={"contacts": [], "messages": [{"id": "wamid.OK"}]})
with respx.mock() as mock, Gateway({"main": get_adapter("meta_cloud", **META_SETTINGS)}) as gw:
    mock.post(f"{GRAPH}/1234567890/messages").mock(return_value=ok)
    msg = FlowMessage(to="+16505551234", flow_id="1", flow_cta="Go", body="Hi", screen="S")
    print(gw.send(msg).message_id)
"""


def test_without_the_extra_sends_work_and_no_hook_runs() -> None:
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(  # noqa: S603 - this interpreter, a fixed statement
        [sys.executable, "-c", NO_OTEL], cwd=root, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "wamid.OK"


def test_outbox_sends_and_depth(otel: Otel, tmp_path: Path) -> None:
    from gateway.store import open_store
    from tests.store.test_outbox_worker import Provider, drain, enqueue

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", migrate=True)
    try:
        enqueue(store, 3)
        telemetry.observe_outbox(store.outbox_counts)
        fail: dict[str, list[Exception]] = {
            "+14155550001": [ProviderUnavailable("down", provider="meta_cloud")]
        }
        asyncio.run(drain(store, Provider(fail)))
        depth = {
            p.attributes["flowgateway.status"]: p.value
            for p in otel.points("flowgateway.outbox.depth")
        }
    finally:
        store.close()
    spans = otel.finished("flowgateway.outbox.send")
    assert sorted(str((s.attributes or {})["flowgateway.status"]) for s in spans) == [
        "queued",
        "sent",
        "sent",
        "sent",
    ]
    assert all((s.attributes or {})["flowgateway.sender"] == "meta" for s in spans)
    sends = {
        p.attributes["flowgateway.status"]: p.value for p in otel.points("flowgateway.outbox.sends")
    }
    assert sends == {"sent": 3, "queued": 1}
    assert depth["sent"] == 3


def test_the_worker_serves_prometheus_metrics_on_its_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    telemetry.serve_metrics("127.0.0.1", port)
    telemetry.attempt("send", "w1", "sinch", 1, time.perf_counter(), "ok")  # as a worker's send
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    [line] = [
        x
        for x in response.text.splitlines()
        if x.startswith("flowgateway_sends_total{") and 'flowgateway_sender="w1"' in x
    ]
    assert 'flowgateway_outcome="ok"' in line
    assert line.endswith(" 1.0")


def test_endpoint_requests_are_spans_with_their_status(otel: Otel) -> None:
    from gateway.endpoint import FlowEndpoint
    from tests.endpoint.whatsapp import private_key

    endpoint = FlowEndpoint(private_key(), accept_plaintext=True)
    ping = json.dumps({"version": "3.0", "action": "ping"}).encode()
    assert endpoint.handle(ping, {}).status == 200
    assert asyncio.run(endpoint.handle_async(b"not json", {})).status == 400
    spans = [s for s in otel.spans.get_finished_spans() if s.name == "flowgateway.endpoint"]
    assert [dict(s.attributes or {}) for s in spans] == [
        {"flowgateway.status": 200},  # a ping is answered before a handler is chosen
        {"flowgateway.status": 400},
    ]
    assert [s.status.is_ok for s in spans] == [True, False]
