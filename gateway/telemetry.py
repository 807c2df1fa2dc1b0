"""OpenTelemetry spans and metrics, and the Prometheus text of ``/metrics`` (extra ``otel``).

The one module that imports ``opentelemetry``. Without it installed, :data:`ENABLED` is
False and the callers skip every hook behind that one module-level check, so a send pays
nothing. With it, spans and metrics go to the application's global providers (set them
with ``opentelemetry.trace.set_tracer_provider`` / ``metrics.set_meter_provider``), or to
those given to :func:`use`; unset, the API's no-ops cost a few microseconds a send.

Spans (each a child of the span current where the call was made):

- ``flowgateway.send`` per attempt, ``flowgateway.manage`` per management attempt
  (``flowgateway.op``): provider, sender, attempt, outcome class, will_retry;
- ``flowgateway.webhook`` per callback: provider, events, new, duplicates, outcome;
- ``flowgateway.handler`` per handler run: handler, event type, outcome, dead;
- ``flowgateway.outbox.send`` per outbox send: sender, status;
- ``flowgateway.endpoint`` per data-exchange request: action, HTTP status.

Attributes hold names, counts and class names only: never a phone number, a message's
text, a payload or a secret (``tests/unit/test_telemetry.py`` checks it).
https://opentelemetry.io/docs/languages/python/
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from gateway.extras import missing

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
    from opentelemetry.trace import Status, StatusCode
except ImportError:  # the extra is absent: every hook is skipped by the callers
    ENABLED = False
else:
    ENABLED = True

_NAME = "flowgateway"
_tracer: Any = None
_meter: Any = None
_i: dict[str, Any] = {}  # instruments by short name
_chosen = False  # use() was given a meter provider: /metrics's exporter leaves it alone
_prometheus: Any = None  # the MeterProvider export_prometheus() made for /metrics


def use(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Send flowgateway's spans and metrics to these providers (None: the global ones,
    as set by the application at any time). Tests give in-memory ones."""
    global _tracer, _meter, _chosen
    if not ENABLED:
        return
    _tracer = (tracer_provider or _trace.get_tracer_provider()).get_tracer(_NAME)
    _meter = (meter_provider or _metrics.get_meter_provider()).get_meter(_NAME)
    _chosen = meter_provider is not None
    m = _meter
    _i.update(
        sends=m.create_counter(
            "flowgateway.sends", description="sends by provider, sender, outcome class"
        ),
        send_duration=m.create_histogram(
            "flowgateway.send.duration", unit="s", description="one send attempt's latency"
        ),
        retries=m.create_counter("flowgateway.send.retries", description="attempts retried"),
        manage=m.create_counter(
            "flowgateway.manage.calls", description="management calls by op and outcome"
        ),
        limiter_wait=m.create_histogram(
            "flowgateway.limiter.wait", unit="s", description="time waited for a send's slot"
        ),
        webhook_events=m.create_counter(
            "flowgateway.webhook.events", description="webhook events received, by kind"
        ),
        handler_failures=m.create_counter(
            "flowgateway.handler.failures", description="handler runs that raised"
        ),
        dead_letters=m.create_counter(
            "flowgateway.handler.dead_letters", description="jobs given up on (dead)"
        ),
        outbox_sends=m.create_counter(
            "flowgateway.outbox.sends", description="outbox sends by status"
        ),
    )


if ENABLED:
    use()


def _span(name: str, started: float, attributes: dict[str, Any], error: bool) -> None:
    """Record a finished span that began ``started`` (``perf_counter``) ago: made at the
    end in one call, so a flow holds no span across its yields."""
    now = time.time_ns()
    start = now - int((time.perf_counter() - started) * 1e9)
    span = _tracer.start_span(name, start_time=start, attributes=attributes)
    if error:
        span.set_status(Status(StatusCode.ERROR))
    span.end(end_time=now)


def attempt(
    op: str,
    sender: str,
    provider: str,
    number: int,
    started: float,
    outcome: str,
    *,
    will_retry: bool = False,
) -> None:
    """One attempt of ``op`` ended: ``outcome`` "ok" or the error's class name."""
    attrs = {"flowgateway.provider": provider, "flowgateway.sender": sender}
    seconds = time.perf_counter() - started
    if op == "send":
        name = "flowgateway.send"
        _i["send_duration"].record(seconds, attrs)
        if will_retry:
            _i["retries"].add(1, attrs)
        else:
            _i["sends"].add(1, {**attrs, "flowgateway.outcome": outcome})
    else:
        name = "flowgateway.manage"
        attrs["flowgateway.op"] = op
        if not will_retry:
            _i["manage"].add(1, {**attrs, "flowgateway.outcome": outcome})
    span_attrs = {
        **attrs,
        "flowgateway.attempt": number,
        "flowgateway.outcome": outcome,
        "flowgateway.will_retry": will_retry,
    }
    _span(name, started, span_attrs, outcome != "ok")


def endpoint(started: float, action: str | None, status: int) -> None:
    """A Flow endpoint request was answered (``action``: None when it never decoded)."""
    attrs: dict[str, Any] = {"flowgateway.status": status}
    if action is not None:
        attrs["flowgateway.action"] = action
    _span("flowgateway.endpoint", started, attrs, status >= 400)


def limiter_waited(sender: str, provider: str, seconds: float) -> None:
    _i["limiter_wait"].record(
        seconds, {"flowgateway.provider": provider, "flowgateway.sender": sender}
    )


def webhook(
    provider: str, started: float, kinds: Iterable[str], *, new: int, duplicates: int, outcome: str
) -> None:
    """A callback was answered: ``kinds`` its events' kinds, ``outcome`` "ok" or why not."""
    events = 0
    for kind in kinds:
        events += 1
        _i["webhook_events"].add(1, {"flowgateway.provider": provider, "flowgateway.kind": kind})
    attrs = {
        "flowgateway.provider": provider,
        "flowgateway.events": events,
        "flowgateway.new": new,
        "flowgateway.duplicates": duplicates,
        "flowgateway.outcome": outcome,
    }
    _span("flowgateway.webhook", started, attrs, outcome != "ok")


@contextmanager
def handler_run(handler: str, event_type: str) -> Iterator[Callable[[str | None, bool], None]]:
    """A span current while a handler runs (its own spans are children); call the
    yielded ``done(error_class, dead)`` with the error's class name, None when it ran."""
    attrs = {"flowgateway.handler": handler, "flowgateway.event_type": event_type}
    with _tracer.start_as_current_span("flowgateway.handler", attributes=attrs) as span:

        def done(error: str | None, dead: bool) -> None:
            span.set_attribute("flowgateway.outcome", error or "ok")
            span.set_attribute("flowgateway.dead", dead)
            if error is not None:
                span.set_status(Status(StatusCode.ERROR))
                _i["handler_failures"].add(1, {**attrs, "flowgateway.outcome": error})
                if dead:
                    _i["dead_letters"].add(1, attrs)

        yield done


def outbox_sent(sender: str, started: float, status: str, error: str | None) -> None:
    """An outbox send was settled as ``status`` (sent, queued, failed, unknown)."""
    attrs = {"flowgateway.sender": sender, "flowgateway.status": status}
    _i["outbox_sends"].add(1, attrs)
    span_attrs = {**attrs, "flowgateway.outcome": error or "ok"}
    _span("flowgateway.outbox.send", started, span_attrs, status != "sent")


def observe_outbox(counts: Callable[[], dict[str, int]]) -> None:
    """Report ``counts()`` (the outbox's sends per status) as the observable gauge
    ``flowgateway.outbox.depth``, read at each collection (each scrape)."""

    def observe(options: Any) -> Iterator[Any]:
        for status, n in counts().items():
            yield _metrics.Observation(n, {"flowgateway.status": status})

    _meter.create_observable_gauge(
        "flowgateway.outbox.depth", callbacks=[observe], description="outbox sends by status"
    )


# -- Prometheus --------------------------------------------------------------------


def prometheus_available() -> bool:
    """The OTel SDK and its Prometheus exporter are installed (extra ``otel``)."""
    return ENABLED and missing("otel") is None


def export_prometheus() -> bool:
    """Make flowgateway's metrics readable by :func:`prometheus_text` (once a process).

    When the application chose where metrics go (a global SDK ``MeterProvider``, or
    :func:`use`), that stays: ``/metrics`` shows what its own Prometheus reader
    registered, if any. Otherwise flowgateway's instruments get a provider of their own
    with a ``PrometheusMetricReader``. False when the extra is absent."""
    global _prometheus
    if not prometheus_available():
        return False
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider

    if _chosen or isinstance(_metrics.get_meter_provider(), MeterProvider):
        return True  # the application's own
    if _prometheus is None:  # one a process: the reader registers with the registry
        _prometheus = MeterProvider(metric_readers=[PrometheusMetricReader()])
    use(None, _prometheus)  # spans: still the global provider
    return True


def prometheus_text() -> tuple[bytes, str]:
    """Every metric of prometheus-client's default registry in its text format, and
    that format's content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve_metrics(host: str, port: int) -> None:
    """Serve :func:`prometheus_text` at ``http://host:port/metrics`` on a daemon thread
    (the worker's, which has no web app of its own).

    Raises:
        MissingExtra: the ``otel`` extra is not installed.
    """
    from gateway.extras import require

    require("otel", "the metrics endpoint")
    export_prometheus()
    from prometheus_client import start_http_server

    start_http_server(port, addr=host)
