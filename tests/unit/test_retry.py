"""Retry behaviour through both gateways: what is retried, how long it waits, what is not."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
import respx

from gateway import FlowMessage, RetryPolicy, RetrySettings
from gateway.errors import (
    InvalidRequest,
    OutcomeUnknown,
    ProviderUnavailable,
    RateLimited,
    ServiceWindowClosed,
)
from tests.conftest import GRAPH

URL = f"{GRAPH}/1234567890/messages"
MSG = FlowMessage(to="+16505551234", flow_id="1", flow_cta="Open", body="Hi", screen="S")
OK = httpx.Response(
    200,
    json={
        "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": "wamid.OK"}],
    },
)


def _graph(code: int, status: int = 400, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, json={"error": {"message": f"(#{code})", "code": code}}
    )


def test_429_honours_retry_after(make_driver: Any) -> None:
    d = make_driver()
    with respx.mock() as mock:
        route = mock.post(URL).mock(side_effect=[_graph(130429, 429, **{"Retry-After": "2"}), OK])
        assert d.send(MSG).message_id == "wamid.OK"
    assert route.call_count == 2
    assert d.sleeps.calls == [2.0]


def test_retry_after_is_capped(make_driver: Any) -> None:
    d = make_driver(retry_after_cap=5.0)
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=[_graph(130429, 429, **{"Retry-After": "3600"}), OK])
        d.send(MSG)
    assert d.sleeps.calls == [5.0]


def test_5xx_retried_with_backoff_then_gives_up(make_driver: Any) -> None:
    d = make_driver(max_attempts=4, initial_backoff=1.0, max_backoff=3.0)
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(503, text="unavailable"))
        with pytest.raises(ProviderUnavailable) as info:
            d.send(MSG)
    assert route.call_count == 4
    assert info.value.status_code == 503
    # Full jitter under an exponential ceiling: 1, 2, then capped at 3.
    assert len(d.sleeps.calls) == 3
    for wait, ceiling in zip(d.sleeps.calls, [1.0, 2.0, 3.0], strict=True):
        assert 0 <= wait <= ceiling


def test_connect_error_is_retried(make_driver: Any) -> None:
    d = make_driver()
    with respx.mock() as mock:
        route = mock.post(URL).mock(side_effect=[httpx.ConnectError("refused"), OK])
        assert d.send(MSG).message_id == "wamid.OK"
    assert route.call_count == 2


def test_connect_errors_exhaust_as_provider_unavailable(make_driver: Any) -> None:
    d = make_driver(max_attempts=2)
    with respx.mock() as mock:
        route = mock.post(URL).mock(side_effect=httpx.ConnectTimeout("slow"))
        with pytest.raises(ProviderUnavailable) as info:
            d.send(MSG)
    assert route.call_count == 2
    assert info.value.provider == "meta_cloud"
    assert info.value.status_code is None


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("late"), httpx.RemoteProtocolError("dropped"), httpx.ReadError("x")],
)
def test_ambiguous_failure_is_not_retried_by_default(make_driver: Any, failure: Exception) -> None:
    d = make_driver()
    with respx.mock() as mock:
        route = mock.post(URL).mock(side_effect=[failure, OK])
        with pytest.raises(OutcomeUnknown) as info:
            d.send(MSG)
    assert route.call_count == 1
    assert info.value.retryable is False
    assert d.sleeps.calls == []


def test_ambiguous_failure_retried_when_allowed(make_driver: Any) -> None:
    d = make_driver(retry_ambiguous=True)
    with respx.mock() as mock:
        route = mock.post(URL).mock(side_effect=[httpx.ReadTimeout("late"), OK])
        assert d.send(MSG).message_id == "wamid.OK"
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [(131047, 400, ServiceWindowClosed), (100, 400, InvalidRequest)],
)
def test_permanent_errors_are_not_retried(
    make_driver: Any, code: int, status: int, cls: type
) -> None:
    d = make_driver()
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=_graph(code, status))
        with pytest.raises(cls):
            d.send(MSG)
    assert route.call_count == 1


def test_transient_flag_makes_unknown_code_retryable(make_driver: Any) -> None:
    d = make_driver()
    transient = httpx.Response(
        400, json={"error": {"message": "x", "code": 99999, "is_transient": True}}
    )
    with respx.mock() as mock:
        route = mock.post(URL).mock(side_effect=[transient, OK])
        d.send(MSG)
    assert route.call_count == 2


def test_rate_limit_without_retry_after_uses_backoff(make_driver: Any) -> None:
    d = make_driver(initial_backoff=0.25)
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=[_graph(131056), OK])
        d.send(MSG)
    assert len(d.sleeps.calls) == 1
    assert 0 <= d.sleeps.calls[0] <= 0.25


def test_max_wait_refuses_a_longer_retry_after(make_driver: Any) -> None:
    d = make_driver()
    with respx.mock() as mock:
        route = mock.post(URL).mock(side_effect=[_graph(130429, 429, **{"Retry-After": "30"}), OK])
        with pytest.raises(RateLimited) as info:
            d._run(d.gw.send(MSG, max_wait=5))
    assert route.call_count == 1
    assert d.sleeps.calls == []
    assert info.value.retry_after == 30.0


def test_max_wait_allows_a_shorter_retry_after(make_driver: Any) -> None:
    d = make_driver()
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=[_graph(130429, 429, **{"Retry-After": "2"}), OK])
        assert d._run(d.gw.send(MSG, max_wait=5)).message_id == "wamid.OK"
    assert d.sleeps.calls == [2.0]


def test_policy_delay_is_deterministic_with_seeded_rng() -> None:
    policy = RetryPolicy(RetrySettings(initial_backoff=1, max_backoff=10), rng=random.Random(7))
    same = RetryPolicy(RetrySettings(initial_backoff=1, max_backoff=10), rng=random.Random(7))
    waits = [policy.delay(None, n) for n in range(1, 6)]
    assert waits == [same.delay(None, n) for n in range(1, 6)]
    assert all(0 <= w <= min(10, 2 ** (n - 1)) for n, w in enumerate(waits, 1))
    limited = RateLimited("slow down", retry_after=4.0)
    assert policy.delay(limited, 1) == 4.0
