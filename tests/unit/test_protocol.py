"""The send protocol stepped by hand: no transport, no sleep, no lock, no event loop.

Each test plays the driver: it takes the action the flow yields and sends back an
outcome it makes up, then checks what the flow asks for next.
"""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from gateway import FlowMessage, RetryPolicy, RetrySettings
from gateway.core import GatewayCore
from gateway.errors import (
    AuthenticationError,
    InvalidRequest,
    OutcomeUnknown,
    ProviderUnavailable,
    RateLimited,
)
from gateway.http import HttpRequest, HttpResponse
from gateway.log import configure_logging
from gateway.protocol import Action, FetchToken, Flow, Sleep, exchange
from providers import get_adapter
from tests.conftest import META_SETTINGS, META_TOKEN, PROVIDERS, SINCH_AUTH_URL

MSG = FlowMessage(to="+16505551234", flow_id="1", flow_cta="Open", body="Hi", screen="S")
SEED = 7


def _json(status: int, body: Any, **headers: str) -> HttpResponse:
    return HttpResponse.of(status, headers, json.dumps(body).encode())


META_OK = _json(200, {"messages": [{"id": "wamid.OK"}]})
SINCH_OK = _json(200, {"message_id": "01HMSG", "accepted_time": "2026-11-21T10:00:00Z"})
UNAVAILABLE = HttpResponse.of(503, {}, b"unavailable")
EXPIRED = _json(
    401,
    {"error": {"code": 401, "message": "token expired", "status": "UNAUTHENTICATED"}},
    **{"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'},
)


def _graph(code: int, status: int = 400, **headers: str) -> HttpResponse:
    return _json(status, {"error": {"message": f"(#{code})", "code": code}}, **headers)


def _token(value: str) -> HttpResponse:
    return _json(200, {"access_token": value, "expires_in": 3600})


def _core(provider: str = "meta_cloud", **retry: Any) -> GatewayCore:
    settings = META_SETTINGS if provider == "meta_cloud" else PROVIDERS[provider]
    policy = RetryPolicy(RetrySettings(**retry), rng=random.Random(SEED))
    return GatewayCore({"main": get_adapter(provider, **settings)}, retry=policy)


def _flow(core: GatewayCore, *, max_wait: float | None = None) -> Flow[Any]:
    sender, request = core.plan_send(MSG)
    parse = core.send_parser(sender, MSG)
    return exchange(core, sender, "send", request, parse, max_wait=max_wait)


def _returns(flow: Generator[Action, Any, Any], outcome: Any) -> Any:
    """Send the last outcome; the flow must end with a value."""
    with pytest.raises(StopIteration) as stop:
        flow.send(outcome)
    return stop.value.value


def _fetch(action: Action, response: HttpResponse | Exception) -> Any:
    """Play the driver of a FetchToken: step its nested flow through the token request."""
    assert isinstance(action, FetchToken)
    request = next(action.flow)
    assert isinstance(request, HttpRequest)
    assert request.url == SINCH_AUTH_URL
    return _returns(action.flow, response)


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """The gateway's structured log, one JSON event per line."""
    stream = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream)
    yield stream
    logging.getLogger("flowgateway").removeHandler(handler)


def _send_events(log: io.StringIO) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    return [e for e in events if e["event"].startswith("send.")]


# -- the first attempt -----------------------------------------------------------------


def test_the_first_attempt_goes_straight_out() -> None:
    core = _core()
    flow = _flow(core)
    action = next(flow)
    assert action == core.plan_send(MSG)[1]  # the request itself is the action
    receipt = _returns(flow, META_OK)
    assert (receipt.message_id, receipt.sender, receipt.provider) == (
        "wamid.OK",
        "main",
        "meta_cloud",
    )


def test_attempts_are_logged_with_their_number_and_fate(log: io.StringIO) -> None:
    flow = _flow(_core())
    next(flow)
    assert isinstance(flow.send(_graph(130429, 429, **{"Retry-After": "1"})), Sleep)
    assert isinstance(flow.send(None), HttpRequest)
    _returns(flow, META_OK)
    failed, ok = _send_events(log)
    assert (failed["event"], failed["attempt"], failed["will_retry"]) == ("send.failed", 1, True)
    assert (failed["status_code"], failed["error"]) == (429, "RateLimited")
    assert (ok["event"], ok["attempt"], ok["message_id"]) == ("send.ok", 2, "wamid.OK")
    assert ok["latency_ms"] >= 0


def test_a_transport_failure_is_named_and_scrubbed() -> None:
    flow = _flow(_core(max_attempts=1))
    next(flow)
    with pytest.raises(ProviderUnavailable) as info:
        flow.send(ProviderUnavailable(f"could not connect with {META_TOKEN}"))
    assert info.value.provider == "meta_cloud"
    assert META_TOKEN not in str(info.value)
    assert META_TOKEN not in repr(info.value.args)


# -- tokens ------------------------------------------------------------------------------


def test_a_token_is_fetched_under_the_lock_then_cached() -> None:
    core = _core("sinch")
    flow = _flow(core)
    action = next(flow)
    assert isinstance(action, FetchToken)
    assert action.cache is core.senders["main"].tokens
    assert _fetch(action, _token("T1")) == "T1"
    send = flow.send("T1")
    assert isinstance(send, HttpRequest)
    assert send.headers["Authorization"] == "Bearer T1"
    assert _returns(flow, SINCH_OK).message_id == "01HMSG"
    again = _flow(core)
    first = next(again)  # the cached token: no FetchToken, no lock
    assert isinstance(first, HttpRequest)
    assert first.headers["Authorization"] == "Bearer T1"


def test_who_waited_for_the_lock_finds_the_token_there() -> None:
    core = _core("sinch")
    first, second = _flow(core), _flow(core)
    a, b = next(first), next(second)  # both saw an empty cache
    assert isinstance(a, FetchToken)
    assert isinstance(b, FetchToken)
    _fetch(a, _token("T1"))  # the first holder fetches
    with pytest.raises(StopIteration) as stop:
        next(b.flow)  # the second holder makes no request
    assert stop.value.value == "T1"


def test_an_expired_401_refreshes_once_and_resends() -> None:
    core = _core("sinch")
    flow = _flow(core)
    flow.send(_fetch(next(flow), _token("T1")))
    refresh = flow.send(EXPIRED)
    assert _fetch(refresh, _token("T2")) == "T2"
    resend = flow.send("T2")
    assert isinstance(resend, HttpRequest)
    assert resend.headers["Authorization"] == "Bearer T2"
    with pytest.raises(AuthenticationError):  # expired again: not refreshed twice
        flow.send(EXPIRED)


def test_a_plain_401_is_not_refreshed() -> None:
    flow = _flow(_core("sinch"))
    flow.send(_fetch(next(flow), _token("T1")))
    denied = _json(401, {"error": {"status": "UNAUTHENTICATED", "message": "no"}})
    with pytest.raises(AuthenticationError):
        flow.send(denied)


def test_a_failed_token_fetch_is_the_attempts_failure() -> None:
    flow = _flow(_core("sinch", max_attempts=2))
    failure = _fetch(next(flow), UNAVAILABLE)
    assert isinstance(failure, ProviderUnavailable)
    assert isinstance(flow.send(failure), Sleep)  # retried like any 5xx
    retry = flow.send(None)
    assert isinstance(retry, FetchToken)
    unreachable = ProviderUnavailable("could not connect to auth.sinch.com")
    assert _fetch(retry, unreachable) is unreachable
    with pytest.raises(ProviderUnavailable):
        flow.send(unreachable)


# -- retries -----------------------------------------------------------------------------


def test_429_waits_its_retry_after() -> None:
    flow = _flow(_core())
    next(flow)
    assert flow.send(_graph(130429, 429, **{"Retry-After": "2"})) == Sleep(2.0)
    assert isinstance(flow.send(None), HttpRequest)
    assert _returns(flow, META_OK).message_id == "wamid.OK"


def test_retry_after_is_capped() -> None:
    flow = _flow(_core(retry_after_cap=5.0))
    next(flow)
    assert flow.send(_graph(130429, 429, **{"Retry-After": "3600"})) == Sleep(5.0)


def test_5xx_backs_off_with_full_jitter_until_max_attempts() -> None:
    settings = {"max_attempts": 4, "initial_backoff": 1.0, "max_backoff": 3.0}
    flow = _flow(_core(**settings))
    twin = RetryPolicy(RetrySettings(**settings), rng=random.Random(SEED))
    next(flow)
    pauses = []
    for _ in range(3):
        pause = flow.send(UNAVAILABLE)
        assert isinstance(pause, Sleep)
        pauses.append(pause.seconds)
        assert isinstance(flow.send(None), HttpRequest)
    with pytest.raises(ProviderUnavailable) as info:
        flow.send(UNAVAILABLE)  # the fourth attempt was the last
    assert info.value.status_code == 503
    assert pauses == [twin.delay(None, n) for n in (1, 2, 3)]
    for wait, ceiling in zip(pauses, [1.0, 2.0, 3.0], strict=True):
        assert 0 <= wait <= ceiling


def test_an_ambiguous_outcome_is_not_retried_unless_allowed() -> None:
    flow = _flow(_core())
    next(flow)
    with pytest.raises(OutcomeUnknown):
        flow.send(OutcomeUnknown("sent, no answer"))
    allowed = _flow(_core(retry_ambiguous=True))
    next(allowed)
    assert isinstance(allowed.send(OutcomeUnknown("sent, no answer")), Sleep)


def test_a_permanent_error_is_not_retried() -> None:
    flow = _flow(_core())
    next(flow)
    with pytest.raises(InvalidRequest):
        flow.send(_graph(100))


# -- max_wait ----------------------------------------------------------------------------


def test_a_retry_after_past_max_wait_is_rate_limited_at_once(log: io.StringIO) -> None:
    flow = _flow(_core(), max_wait=5)
    next(flow)
    with pytest.raises(RateLimited) as info:
        flow.send(_graph(130429, 429, **{"Retry-After": "10"}))
    assert (info.value.retry_after, info.value.provider) == (10.0, "meta_cloud")
    [failed] = _send_events(log)
    assert failed["will_retry"] is False


def test_a_5xx_retry_after_past_max_wait_reads_as_rate_limited() -> None:
    flow = _flow(_core(), max_wait=5)
    next(flow)
    with pytest.raises(RateLimited) as info:
        flow.send(HttpResponse.of(503, {"Retry-After": "10"}, b"busy"))
    assert (info.value.status_code, info.value.retry_after) == (503, 10.0)
    assert info.value.provider == "meta_cloud"
    assert isinstance(info.value.__cause__, ProviderUnavailable)
    assert "max_wait" in str(info.value)


def test_max_wait_bounds_the_waits_together() -> None:
    flow = _flow(_core(), max_wait=5)
    next(flow)
    limited = _graph(130429, 429, **{"Retry-After": "3"})
    assert flow.send(limited) == Sleep(3.0)
    flow.send(None)
    with pytest.raises(RateLimited):
        flow.send(limited)  # 3 + 3 > 5


def test_a_wait_within_max_wait_is_taken() -> None:
    flow = _flow(_core(), max_wait=2)
    next(flow)
    assert flow.send(_graph(130429, 429, **{"Retry-After": "2"})) == Sleep(2.0)


def test_a_backoff_past_max_wait_raises_the_failure_itself() -> None:
    flow = _flow(_core(initial_backoff=1.0), max_wait=0)
    next(flow)
    with pytest.raises(ProviderUnavailable) as info:
        flow.send(UNAVAILABLE)
    assert not isinstance(info.value, RateLimited)
    assert info.value.status_code == 503
