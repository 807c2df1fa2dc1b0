"""Pacing (gateway.pacing) through the send protocol and both gateways, on a fake clock.

The clock only moves when a gateway sleeps, so every time below is exact: the limiter,
the pacer and the retry policy all read and advance the same :class:`Clock`.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gateway import AsyncGateway, FlowMessage, Gateway, RetryPolicy, RetrySettings
from gateway.config import GatewayConfig
from gateway.core import GatewayCore
from gateway.errors import ConfigError, ProviderUnavailable, RateLimited
from gateway.events import SendReceipt
from gateway.http import HttpRequest, HttpResponse
from gateway.limiter import MemoryLimiter, Rate, Reservation
from gateway.log import configure_logging
from gateway.pacing import (
    FLOOR,
    MARGIN,
    RECOVER_EVERY,
    SLOW_HOLD,
    Pacer,
    pair_backoff,
    recovered,
    slowed,
)
from gateway.protocol import Acquire, Penalize, Sleep, send_flow
from gateway.transport import AsyncHttpxTransport, HttpxTransport
from providers import get_adapter
from tests.conftest import GRAPH, META_SETTINGS

NUMBER = META_SETTINGS["phone_number_id"]
URL = f"{GRAPH}/{NUMBER}/messages"
USER = "+16505551234"
MSG = FlowMessage(to=USER, flow_id="1", flow_cta="Open", body="Hi", screen="S")


FULL = 1.0 - MARGIN
"""The share of its tier a number is paced at when nothing was refused."""


def every(seconds: float) -> float:
    """The throughput setting that gives a number one slot every ``seconds``."""
    return 1.0 / (seconds * FULL)


def msg_to(i: int) -> FlowMessage:
    """A message to the ``i``-th of many users (no pair slows a campaign down)."""
    return MSG.model_copy(update={"to": f"+1650555{i:04d}"})


class Clock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.now += seconds


def ok(request: httpx.Request) -> httpx.Response:
    to = json.loads(request.content)["to"]
    return httpx.Response(200, json={"messages": [{"id": f"wamid.{to}"}]})


def graph(code: int, status: int = 400, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, json={"error": {"message": f"(#{code})", "code": code}}
    )


def meta(**settings: Any) -> Any:
    return get_adapter("meta_cloud", **{**META_SETTINGS, **settings})


pytest_plugins = ["tests.unit.twin_fixture"]  # the sync/async ``twin`` fixture


class Twin:
    """A Gateway or an AsyncGateway on a fake clock and an httpx.MockTransport, driven
    through one synchronous interface; ``times`` holds the clock at each request."""

    def __init__(
        self,
        kind: str,
        respond: Callable[[httpx.Request], httpx.Response] = ok,
        *,
        senders: dict[str, Any] | None = None,
        paced: bool = True,
        max_wait: float | None = 30.0,
        **retry: Any,
    ) -> None:
        self.kind = kind
        self.clock = Clock()
        self.times: list[float] = []
        self.requests: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            self.times.append(self.clock.now)
            self.requests.append(request)
            return respond(request)

        retry.setdefault("max_attempts", 3)
        retry.setdefault("initial_backoff", 0.0)
        policy = RetryPolicy(
            RetrySettings(**retry), sleep=self.clock.sleep, async_sleep=self.clock.asleep
        )
        self.limiter = MemoryLimiter(clock=self.clock)
        self.pacer = Pacer(self.limiter, clock=self.clock) if paced else None
        core = GatewayCore(
            senders or {"main": meta()}, retry=policy, pacer=self.pacer, max_wait=max_wait
        )
        mock = httpx.MockTransport(handler)
        self.gw: Gateway | AsyncGateway = (
            AsyncGateway(core, transport=AsyncHttpxTransport(httpx.AsyncClient(transport=mock)))
            if kind == "async"
            else Gateway(core, transport=HttpxTransport(httpx.Client(transport=mock)))
        )
        self._loop = asyncio.new_event_loop() if kind == "async" else None

    def run(self, value: Any) -> Any:
        return value if self._loop is None else self._loop.run_until_complete(value)

    def send(self, msg: FlowMessage = MSG, **kwargs: Any) -> SendReceipt:
        result: SendReceipt = self.run(self.gw.send(msg, **kwargs))
        return result

    def send_many(self, messages: list[FlowMessage], **kwargs: Any) -> list[Any]:
        result: list[Any] = self.run(self.gw.send_many(messages, **kwargs))
        return result

    def take_slot(self, msg: FlowMessage = MSG, **kwargs: Any) -> float:
        result: float = self.run(self.gw._take_slot(msg, **kwargs))
        return result

    def send_unpaced_first(self, msg: FlowMessage = MSG, **kwargs: Any) -> SendReceipt:
        result: SendReceipt = self.run(self.gw._send(msg, pace_first=False, **kwargs))
        return result

    def close(self) -> None:
        self.run(self.gw.close())
        if self._loop is not None:
            self._loop.close()


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream)
    yield stream
    logging.getLogger("flowgateway").removeHandler(handler)


def events(log: io.StringIO, prefix: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in log.getvalue().splitlines()]
    return [e for e in found if e["event"].startswith(prefix)]


def most_in_one_second(times: list[float]) -> int:
    """The most requests in any half-open 1 s window (one starting at each request)."""
    ordered = sorted(times)
    return max(sum(1 for u in ordered if t <= u < t + 1.0) for t in ordered)


# -- which slots a send takes ------------------------------------------------------------


def _sender(adapter: Any, name: str = "main") -> Any:
    from gateway.senders import Sender

    return Sender(name, adapter.for_sender(name))


def test_a_send_takes_its_number_at_its_tier_and_the_pair() -> None:
    pacer = Pacer(MemoryLimiter())
    assert pacer.rates(_sender(meta()), USER) == (
        Rate(f"tp:meta_cloud:{NUMBER}", 1 / (80 * FULL), 1),  # Meta's default tier, no burst
        Rate(f"pair:meta_cloud:{NUMBER}:16505551234", 6.0, 3),
    )


def test_settings_set_the_tier_and_the_pair_rate() -> None:
    pacer = Pacer(MemoryLimiter())
    tp, pair = pacer.rates(_sender(meta(throughput=1000, pair_interval=2, pair_burst=5)), USER)
    assert (tp.interval, tp.burst, pair.interval, pair.burst) == (1 / (1000 * FULL), 1, 2.0, 5)
    [only] = pacer.rates(_sender(meta(pair_interval=0)), USER)  # 0: the pair is not paced
    assert only.key.startswith("tp:")


def test_two_senders_on_one_number_share_its_slots() -> None:
    pacer = Pacer(MemoryLimiter())
    a = pacer.rates(_sender(meta(), "a"), USER)
    b = pacer.rates(_sender(meta(), "b"), USER)
    assert a == b


def test_a_paced_client_keeps_to_its_tier_in_every_second(twin: Callable[..., Twin]) -> None:
    t = twin(senders={"main": meta(throughput=80)})
    for i in range(400):
        t.send(msg_to(i))
    assert most_in_one_second(t.times) == 79  # never 80 or more, wherever a second starts
    achieved = (len(t.times) - 1) / (t.times[-1] - t.times[0])
    assert achieved == pytest.approx(80 * FULL, rel=1e-6)  # and no slower: 0.98 of it


def test_a_user_gets_a_burst_then_one_message_per_interval(twin: Callable[..., Twin]) -> None:
    t = twin(max_wait=math.inf)
    for _ in range(5):
        t.send(MSG)
    start = t.times[0]
    slot = 1 / (80 * FULL)
    assert [x - start for x in t.times] == pytest.approx([0, slot, 2 * slot, 6.0, 12.0])


# -- max_wait: one budget for slots and pauses -------------------------------------------


def test_a_slot_past_max_wait_is_refused_without_sending_or_taking_it(
    twin: Callable[..., Twin],
) -> None:
    t = twin(senders={"main": meta(throughput=every(10))})  # a slot every 10 s
    t.send(msg_to(1))
    with pytest.raises(RateLimited) as info:
        t.send(msg_to(2), max_wait=5)
    assert info.value.retry_after == pytest.approx(10.0)
    assert info.value.status_code is None  # no provider said it: the pacing did
    assert "nothing was sent" in str(info.value)
    assert len(t.requests) == 1
    t.clock.now += 10.0 + 1e-9
    t.send(msg_to(3), max_wait=0)  # the refused send took no slot: this one's is free
    assert len(t.requests) == 2


def test_the_config_default_bounds_a_send_that_names_no_max_wait(
    twin: Callable[..., Twin],
) -> None:
    t = twin(senders={"main": meta(throughput=every(10))}, max_wait=5.0)
    t.send(msg_to(1))
    with pytest.raises(RateLimited):
        t.send(msg_to(2))
    assert t.send(msg_to(3), max_wait=math.inf).message_id == "wamid.+16505550003"
    assert t.times[-1] - t.times[0] == pytest.approx(10.0)


def test_slot_waits_and_retry_after_share_one_budget(twin: Callable[..., Twin]) -> None:
    answers = iter([ok, lambda r: graph(130429, 429, **{"Retry-After": "4"}), ok])
    t = twin(lambda r: next(answers)(r), senders={"main": meta(throughput=every(2))})  # 2 s apart
    t.send(msg_to(1))
    with pytest.raises(RateLimited) as info:
        t.send(msg_to(2), max_wait=5)  # 2 s for the slot + 4 s Retry-After > 5
    assert (info.value.retry_after, info.value.code) == (4.0, 130429)
    assert len(t.requests) == 2


def test_a_retry_after_within_the_budget_left_is_waited(twin: Callable[..., Twin]) -> None:
    answers = iter([ok, lambda r: graph(130429, 429, **{"Retry-After": "4"}), ok])
    t = twin(lambda r: next(answers)(r), senders={"main": meta(throughput=every(2))})
    t.send(msg_to(1))
    t.send(msg_to(2), max_wait=6)  # 2 + 4 ≤ 6
    assert len(t.requests) == 3


def test_a_retry_whose_slot_is_past_the_budget_is_refused(twin: Callable[..., Twin]) -> None:
    answers = iter([ok, lambda r: httpx.Response(503, text="busy"), ok])
    t = twin(lambda r: next(answers)(r), senders={"main": meta(throughput=every(4))})  # 4 s apart
    t.send(msg_to(1))
    with pytest.raises(RateLimited) as info:
        t.send(msg_to(2), max_wait=6)  # 4 s for the slot, then the retry's: 4 more
    assert isinstance(info.value.__cause__, ProviderUnavailable)
    assert len(t.requests) == 2


# -- refusals: slow down, recover, hold a pair -------------------------------------------


def test_slow_down_and_recovery_arithmetic() -> None:
    assert [slowed(f) for f in (1.0, 0.5, 0.2, 0.1)] == [0.5, 0.25, FLOOR, FLOOR]
    assert recovered(0.5, 100.0, 100.0 + RECOVER_EVERY - 0.01) == (0.5, 100.0)
    assert recovered(0.5, 100.0, 100.0 + 2.5 * RECOVER_EVERY) == pytest.approx(
        (0.7, 100.0 + 2 * RECOVER_EVERY)
    )
    assert recovered(0.5, 100.0, 1e6)[0] == 1.0
    assert [pair_backoff(n) for n in range(1, 8)] == [1, 4, 16, 64, 256, 256, 256]


def test_a_rate_limit_halves_the_pace_then_it_recovers(log: io.StringIO) -> None:
    clock = Clock()
    pacer = Pacer(MemoryLimiter(clock=clock), clock=clock)
    sender = _sender(meta())
    refusal = RateLimited("(#130429)", code=130429, status_code=429)
    pacer.refused(sender, USER, refusal)
    assert pacer.pace(sender) == 40 * FULL
    pacer.refused(sender, USER, refusal)  # in flight before the slow-down: same episode
    assert pacer.pace(sender) == 40 * FULL
    clock.now += SLOW_HOLD
    pacer.refused(sender, USER, refusal)
    assert pacer.pace(sender) == 20 * FULL
    for _ in range(3):
        clock.now += SLOW_HOLD
        pacer.refused(sender, USER, refusal)
    assert pacer.pace(sender) == pytest.approx(80 * FLOOR * FULL)  # never below 10 %
    assert pacer.rates(sender, USER)[0].interval == pytest.approx(1 / (8 * FULL))
    clock.now += RECOVER_EVERY
    assert pacer.pace(sender) == pytest.approx(16 * FULL)  # +10 % of the tier per 3 s
    clock.now += 20 * RECOVER_EVERY
    assert pacer.pace(sender) == 80 * FULL
    assert pacer.rates(sender, USER)[0].interval == 1 / (80 * FULL)
    slowed_events = events(log, "pacing.slowed")
    assert [e["rate"] for e in slowed_events] == [40, 20, 10, 8]
    assert slowed_events[0]["code"] == 130429
    assert [e["event"] for e in events(log, "pacing.recover")] == [
        "pacing.recovering",
        "pacing.recovered",
    ]


def test_a_refused_send_paces_the_next_ones_slower(twin: Callable[..., Twin]) -> None:
    answers = iter([lambda r: graph(130429, 429, **{"Retry-After": "1"}), ok, ok, ok])
    t = twin(lambda r: next(answers)(r), senders={"main": meta(throughput=every(0.1))})
    t.send(msg_to(1))
    t.send(msg_to(2))
    t.send(msg_to(3))
    gaps = [b - a for a, b in zip(t.times, t.times[1:], strict=False)]
    assert gaps == pytest.approx([1.0, 0.2, 0.2])  # Retry-After, then half the pace


def test_other_refusals_leave_the_pace_alone() -> None:
    pacer = Pacer(MemoryLimiter())
    sender = _sender(meta())
    assert pacer.refused(sender, USER, ProviderUnavailable("down")) is None
    assert pacer.pace(sender) == 80 * FULL


def test_a_pair_refusal_holds_the_pair_longer_each_time() -> None:
    pacer = Pacer(MemoryLimiter())
    sender = _sender(meta())
    pair = RateLimited("(#131056)", code=131056, status_code=400)
    key = f"pair:meta_cloud:{NUMBER}:16505551234"
    tolerance = 2 * 6.0  # the hold also covers the pair's burst: (3 - 1) slots of 6 s
    assert [pacer.refused(sender, USER, pair) for _ in range(3)] == [
        (key, 1.0 + tolerance),
        (key, 4.0 + tolerance),
        (key, 16.0 + tolerance),
    ]
    assert pacer.pace(sender) == 80 * FULL  # the number is not slowed for one user
    pacer.accepted(sender, USER)
    assert pacer.refused(sender, USER, pair) == (key, 1.0 + tolerance)  # counted afresh
    unpaced = _sender(meta(pair_interval=0))
    assert pacer.refused(unpaced, USER, pair) is None  # nothing to hold


def test_the_protocol_asks_the_driver_to_hold_the_pair() -> None:
    limiter = MemoryLimiter()
    core = GatewayCore(
        {"main": meta()}, pacer=Pacer(limiter), retry=RetryPolicy(RetrySettings(max_attempts=2))
    )
    flow = send_flow(core, MSG, max_wait=None)
    acquire = next(flow)
    assert isinstance(acquire, Acquire)
    assert acquire.limiter is limiter
    assert acquire.max_wait == 30.0  # the core's default
    assert isinstance(flow.send(Reservation(True, 0.0)), HttpRequest)  # no wait: no Sleep
    refused = HttpResponse.of(
        400, {}, json.dumps({"error": {"message": "(#131056)", "code": 131056}}).encode()
    )
    hold = flow.send(refused)
    assert hold == Penalize(limiter, f"pair:meta_cloud:{NUMBER}:16505551234", 1.0 + 2 * 6.0)
    assert isinstance(flow.send(None), Sleep)
    retry = flow.send(None)
    assert isinstance(retry, Acquire)  # the retry is paced too


def test_a_pair_refusal_delays_the_retry_to_that_user(twin: Callable[..., Twin]) -> None:
    answers = iter([lambda r: graph(131056), ok])
    t = twin(lambda r: next(answers)(r), initial_backoff=0.0)
    t.send(MSG)
    assert t.times[1] - t.times[0] == pytest.approx(1.0)  # held 4**0 s


# -- the outbox worker's way: take the slot, then send ---------------------------------


def test_take_the_slot_then_send_without_pacing_the_first_attempt(
    twin: Callable[..., Twin],
) -> None:
    t = twin(senders={"main": meta(throughput=every(1))})
    assert t.take_slot(msg_to(1)) == 0.0
    assert t.take_slot(msg_to(2)) == pytest.approx(1.0)  # waited for its slot
    t.send_unpaced_first(msg_to(2))
    assert t.times == [t.clock.now]  # at once: no second slot taken for it
    with pytest.raises(RateLimited):
        t.take_slot(msg_to(3), max_wait=0.5)


def test_unpaced_gateways_take_no_slot(twin: Callable[..., Twin]) -> None:
    t = twin(paced=False)
    for _ in range(10):
        t.send(MSG)
    assert set(t.times) == {t.clock.now}
    assert t.take_slot() == 0.0


# -- where the limiter comes from ---------------------------------------------------------


class RecordingLimiter(MemoryLimiter):
    closed = 0

    def close(self) -> None:
        RecordingLimiter.closed += 1


def _config() -> GatewayConfig:
    return GatewayConfig.model_validate(
        {"senders": {"main": {"provider": "meta_cloud", **META_SETTINGS}}}
    )


def test_a_config_paces_with_its_limiter_and_a_given_one_replaces_it() -> None:
    with Gateway(_config()) as gw:
        assert gw._core.pacer is not None
        assert gw._core.pacer.limiter.url == "memory://"
        assert gw._core.max_wait == 30.0
    given = RecordingLimiter()
    RecordingLimiter.closed = 0
    with Gateway(_config(), limiter=given) as gw:
        assert gw._core.pacer is not None
        assert gw._core.pacer.limiter is given
    assert RecordingLimiter.closed == 0  # the caller's: not closed by the gateway
    with Gateway({"main": meta()}) as bare:
        assert bare._core.pacer is None  # bare adapters: paced only when asked
    with Gateway({"main": meta()}, limiter=given) as asked:
        assert asked._core.pacer is not None


def test_a_core_brings_its_own_pacer() -> None:
    with pytest.raises(TypeError):
        Gateway(GatewayCore({"main": meta()}), limiter=MemoryLimiter())


def test_the_configured_limiter_is_closed_with_the_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gateway.client

    RecordingLimiter.closed = 0
    monkeypatch.setattr(gateway.client, "open_limiter", lambda url: RecordingLimiter())
    Gateway(_config()).close()
    assert RecordingLimiter.closed == 1

    def no_transport(self: Gateway) -> Any:
        raise ConfigError("gateway.async_backend", "broken")

    monkeypatch.setattr(Gateway, "_default_transport", no_transport)
    with pytest.raises(ConfigError):  # a failed construction closes it too
        Gateway(_config())
    assert RecordingLimiter.closed == 2
