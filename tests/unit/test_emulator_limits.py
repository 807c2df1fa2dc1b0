"""The emulator enforces the providers' sending limits (gateway.emulator.limits).

Each check is against what the provider documents (reference/management.md §7,
providers.md §1.8, §4.4) and answers in the provider's own error shape, which the
adapters must read as ``RateLimited``. Time is the emulator's injected timer: no test
here waits.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import pytest

from gateway import transport
from gateway.config import GatewayConfig
from gateway.emulator import Emulator, Limits, limits_table_markdown
from gateway.emulator.limits import FIELDS
from gateway.errors import ProviderError, RateLimited
from gateway.http import HttpRequest, HttpResponse
from providers import get_adapter
from tests.kits import KITS
from tests.unit.emulator_wire import ACCOUNTS, PHONE, request

README = Path(__file__).resolve().parents[2] / "README.md"
META_LIKE = ("meta_cloud", "dialog360_cloud", "dialog360_onprem", "onemsg")
NUMBER = {  # the business number each provider's limits are kept under
    "meta_cloud": "1234567890",
    "dialog360_cloud": "106540352242922",
    "dialog360_onprem": "100000000000360",  # the account names none (meta_hooks)
    "onemsg": "inst12345",
}
THROUGHPUT_CODE = {
    "meta_cloud": "130429",
    "dialog360_cloud": "130429",
    "dialog360_onprem": "1015",
    "onemsg": "429",
}
PAIR_CODE = {**THROUGHPUT_CODE, "meta_cloud": "131056", "dialog360_cloud": "131056"}
PAIR_CODE["onemsg"] = "131056"
HOOK = "http://127.0.0.1:9/hook"
PAIR_ONLY = {"*": {"throughput": 0}}  # a frozen instant holds 9 sends per number otherwise


class Timer:
    """The emulator's monotonic timer, moved by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def phone(i: int) -> str:
    return f"+1650555{i:04d}"


def make(timer: Timer, accounts: dict[str, Any] | None = None, **kw: Any) -> Emulator:
    return Emulator(accounts or ACCOUNTS, timer=timer, **kw)


def send(emu: Emulator, provider: str, to: str = PHONE) -> HttpResponse:
    return emu.respond(request(provider, to))


def burst(emu: Emulator, provider: str, count: int, to: Callable[[int], str] = phone) -> list[int]:
    return [send(emu, provider, to(i)).status_code for i in range(count)]


def refusal(provider: str, resp: HttpResponse) -> ProviderError:
    """What the provider's adapter makes of the answer (it must raise)."""
    adapter = get_adapter(provider, **ACCOUNTS[provider])
    with pytest.raises(ProviderError) as caught:
        adapter.parse_send_response(resp)
    return caught.value


# -- throughput ------------------------------------------------------------------------


def check_throughput_shape(provider: str, body: Any) -> None:
    if provider in ("meta_cloud", "dialog360_cloud"):  # 360dialog relays Meta's error
        error = body["error"]
        assert error["message"] == "(#130429) Rate limit hit"
        assert (error["code"], error["type"]) == (130429, "OAuthException")
        assert error["error_data"]["details"] == "Cloud API message throughput has been reached."
        assert error["fbtrace_id"]
    elif provider == "dialog360_onprem":
        assert body["errors"][0]["code"] == 1015
        assert body["errors"][0]["title"] == "Too many requests"
        assert body["meta"]["api_status"] == "stable"
    else:
        assert body == {"error": "Too many requests"}


@pytest.mark.parametrize("provider", META_LIKE)
def test_an_unpaced_burst_to_one_number_is_refused_in_the_providers_shape(provider: str) -> None:
    emu = make(Timer())
    statuses = burst(emu, provider, 200)  # 200 users, one instant
    # GCRA at 80/s with 0.1 s of tolerance: 1 + floor(80 * 0.1) at once
    assert statuses == [200] * 9 + [429] * 191
    resp = send(emu, provider, phone(500))
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "1"
    check_throughput_shape(provider, resp.json())
    exc = refusal(provider, resp)
    assert isinstance(exc, RateLimited)
    assert exc.retry_after == 1
    assert emu.refused[provider] == {NUMBER[provider]: {THROUGHPUT_CODE[provider]: 192}}
    assert len(emu.sent(provider)) == 9


@pytest.mark.parametrize("provider", META_LIKE)
@pytest.mark.parametrize("rate", [20.0, 80.0, 1000.0])
def test_sends_paced_at_exactly_the_rate_are_never_refused(provider: str, rate: float) -> None:
    timer = Timer()
    emu = make(timer, limits={provider: {"throughput": rate}})
    start, count = timer.now, int(3 * rate)
    for i in range(count):
        timer.now = start + i / rate
        assert send(emu, provider, phone(i)).status_code == 200, i
    assert emu.refused[provider] == {}


@pytest.mark.parametrize("rate", [20.0, 80.0, 1000.0])
def test_jitter_within_the_tolerance_is_never_refused_but_a_faster_pace_is(rate: float) -> None:
    timer, rng = Timer(), random.Random(int(rate))
    emu = make(timer, limits={"meta_cloud": {"throughput": rate}})
    start, count = timer.now, int(3 * rate)
    # paced at the rate, each request delayed by up to 0.09 s on the way
    arrivals = sorted(start + i / rate + rng.uniform(0, 0.09) for i in range(count))
    for i, at in enumerate(arrivals):
        timer.now = at
        assert send(emu, "meta_cloud", phone(i)).status_code == 200, i
    # the control: 5 % over the rate, refused within the same three seconds
    timer.now += 10
    start = timer.now
    for i in range(count):
        timer.now = start + i / (1.05 * rate)
        send(emu, "meta_cloud", phone(i))
    assert emu.refused["meta_cloud"]["1234567890"]["130429"] > 0


def test_a_flood_is_held_to_the_tier_within_5_percent() -> None:
    timer = Timer()
    emu = make(timer)
    start, seconds, offered = timer.now, 10, 250.0  # 250/s offered to an 80/s number
    accepted = 0
    for i in range(int(seconds * offered)):
        timer.now = start + i / offered
        accepted += send(emu, "meta_cloud", phone(i)).status_code == 200
    assert accepted / seconds == pytest.approx(80.0, rel=0.05)


def test_sinch_refuses_past_800_requests_a_second_per_project() -> None:
    timer = Timer()
    emu = make(timer)
    statuses = burst(emu, "sinch", 1000)
    assert statuses == [200] * 81 + [429] * 919  # 1 + floor(800 * 0.1) at once
    resp = send(emu, "sinch", phone(2000))
    body = resp.json()["error"]
    assert (resp.status_code, body["status"], body["code"]) == (429, "RESOURCE_EXHAUSTED", 429)
    assert resp.headers["retry-after"] == "1"
    assert isinstance(refusal("sinch", resp), RateLimited)
    assert emu.refused["sinch"] == {"proj-1234": {"RESOURCE_EXHAUSTED": 920}}
    timer.now += 10  # then paced at 800/s: every one through
    start = timer.now
    for i in range(1600):
        timer.now = start + i / 800
        assert send(emu, "sinch", phone(i)).status_code == 200, i


def test_a_refused_request_leaves_an_injected_fault_for_the_next_send() -> None:
    timer = Timer()
    emu = make(timer, limits={"sinch": {"project_rate": 1.0}})
    assert send(emu, "sinch").status_code == 200
    emu.inject("sinch", "server_error")
    assert send(emu, "sinch").status_code == 429  # over the rate: the fault waits
    timer.now += 1
    assert send(emu, "sinch").status_code == 503


# -- the pair rate -----------------------------------------------------------------------


def test_the_pair_rate_allows_a_burst_then_one_message_per_6_s() -> None:
    timer = Timer()
    emu = make(timer, limits=PAIR_ONLY)
    assert burst(emu, "meta_cloud", 11, lambda i: PHONE) == [200] * 10 + [429]
    resp = send(emu, "meta_cloud")
    error = resp.json()["error"]
    assert error["message"] == "(#131056) (Business Account, Consumer Account) pair rate limit hit"
    assert (error["code"], error["type"]) == (131056, "OAuthException")
    assert "same phone number" in error["error_data"]["details"]
    assert resp.headers["retry-after"] == "6"
    exc = refusal("meta_cloud", resp)
    assert isinstance(exc, RateLimited)
    assert exc.code == 131056
    assert send(emu, "meta_cloud", phone(1)).status_code == 200  # another user: fine
    timer.now += 5.9
    assert send(emu, "meta_cloud").headers["retry-after"] == "1"
    timer.now += 0.1
    assert [send(emu, "meta_cloud").status_code for _ in range(2)] == [200, 429]
    assert emu.refused["meta_cloud"] == {"1234567890": {"131056": 4}}


def test_a_user_is_one_pair_by_phone_or_by_bsuid() -> None:
    emu = make(Timer(), limits=PAIR_ONLY)
    user = emu.register_user(PHONE)
    assert [send(emu, "meta_cloud", PHONE).status_code for _ in range(5)] == [200] * 5
    by_id = [send(emu, "meta_cloud", user.user_id).status_code for _ in range(6)]
    assert by_id == [200] * 5 + [429]


@pytest.mark.parametrize("burst_size", [1, 3, 10])
def test_one_message_per_6_s_on_average_is_never_refused(burst_size: int) -> None:
    timer = Timer()
    emu = make(timer, limits=PAIR_ONLY)
    for _ in range(20):  # bursts of n, then n × 6 s apart: Meta's 1 per 6 s on average
        statuses = [send(emu, "meta_cloud").status_code for _ in range(burst_size)]
        assert statuses == [200] * burst_size
        timer.now += 6.0 * burst_size
    assert emu.refused["meta_cloud"] == {}


@pytest.mark.parametrize("provider", META_LIKE)
def test_the_pair_refusal_in_each_providers_shape(provider: str) -> None:
    emu = make(Timer(), limits=PAIR_ONLY)
    assert burst(emu, provider, 11, lambda i: PHONE)[-1] == 429
    resp = send(emu, provider)
    assert (resp.status_code, resp.headers["retry-after"]) == (429, "6")
    body = resp.json()
    if provider == "dialog360_onprem":  # no pair code documented: its throttling error
        assert body["errors"][0]["code"] == 1015
        assert body["errors"][0]["details"].startswith("pair rate limit hit")
    else:  # Meta's, 360dialog relaying it, 1msg nesting it
        assert body["error"]["code"] == 131056
        assert "(#131056)" in body["error"]["message"]
    exc = refusal(provider, resp)
    assert isinstance(exc, RateLimited)
    assert exc.code == (1015 if provider == "dialog360_onprem" else 131056)
    assert emu.refused[provider] == {NUMBER[provider]: {PAIR_CODE[provider]: 2}}


def test_the_pair_burst_is_a_setting_and_sinch_has_no_pair_rate() -> None:
    emu = make(Timer(), limits={"*": {"pair_burst": 45, "throughput": 0}})  # Meta's burst
    assert burst(emu, "meta_cloud", 46, lambda i: PHONE) == [200] * 45 + [429]
    assert burst(emu, "sinch", 46, lambda i: PHONE) == [200] * 46


def test_a_refused_send_takes_no_slot_and_leaves_a_window_closed_fault() -> None:
    # 1 + floor(100 * 0.2) = 21 sends at once
    emu = make(Timer(), limits={"meta_cloud": {"throughput": 100, "tolerance": 0.2}})
    assert burst(emu, "meta_cloud", 30, lambda i: PHONE) == [200] * 10 + [429] * 20
    assert burst(emu, "meta_cloud", 11, phone)[-1] == 200  # 20 pair refusals took nothing
    assert burst(emu, "meta_cloud", 1, lambda i: "+15550009999") == [429]  # 21 sent: full
    emu.set_limits("meta_cloud", throughput=0)  # not enforced
    emu.inject("meta_cloud", "window_closed")
    assert send(emu, "meta_cloud").status_code == 429  # the pair: refused, fault kept
    assert send(emu, "meta_cloud", phone(99)).status_code == 200
    assert emu.sent("meta_cloud")[-1].window_closed


def test_idle_pairs_are_forgotten() -> None:
    timer = Timer()
    emu = make(timer, limits=PAIR_ONLY)
    burst(emu, "meta_cloud", 100)
    pairs = emu.sims["meta_cloud"].limits._pairs
    assert len(pairs) == 100
    timer.now += 61 + 6 * 10  # past the sweep, and every bucket full again
    send(emu, "meta_cloud", phone(500))
    assert len(emu.sims["meta_cloud"].limits._pairs) == 1


# -- Sinch's app queue ---------------------------------------------------------------------


class Recorder:
    """Stands in for deliver()'s transport: no callback leaves the process."""

    posted: ClassVar[list[str]] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.posted.append(request.url)
        return HttpResponse.of(200)

    async def aclose(self) -> None:
        return None


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(Recorder, "posted", [])
    monkeypatch.setattr(transport, "AsyncHttpxTransport", Recorder)
    return Recorder.posted


def test_a_full_sinch_app_queue_refuses_and_drains_at_its_rate() -> None:
    timer = Timer()
    emu = make(timer, limits={"sinch": {"queue_size": 5}})
    assert burst(emu, "sinch", 6) == [200] * 5 + [429]
    resp = send(emu, "sinch", phone(7))
    assert resp.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert resp.headers["retry-after"] == "1"
    assert emu.limits["sinch"]["queued"] == {"01HAPPID0000000000000000AB": 5}
    timer.now += 1 / 20  # one message left the queue: room for one
    assert burst(emu, "sinch", 2, lambda i: phone(10 + i)) == [200, 429]
    assert emu.refused["sinch"] == {"01HAPPID0000000000000000AB": {"RESOURCE_EXHAUSTED": 3}}


def test_sinch_callbacks_wait_until_the_message_leaves_the_queue(
    posted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    timer, waits = Timer(), []

    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        timer.now += seconds

    monkeypatch.setattr("gateway.emulator.app.asyncio.sleep", sleep)
    emu = make(timer, clock=lambda: 1_750_000_000.0)
    emu.set_webhook("sinch", HOOK)
    ids = [KITS["sinch"].wire_message_id(send(emu, "sinch", phone(i)).json()) for i in range(5)]
    calls = emu.callbacks(ids[-1], answers=None, statuses=["delivered"])
    assert [c.not_before for c in calls] == [pytest.approx(timer.now + 5 / 20)]
    report = json.loads(calls[0].body)
    assert report["accepted_time"] == "2025-06-15T15:06:40.000Z"
    assert report["event_time"] == "2025-06-15T15:06:40.250Z"  # when it left the queue
    assert asyncio.run(emu.deliver(calls)) == [200]
    assert posted == [HOOK]
    assert len(waits) == 1
    assert waits[0] == pytest.approx(0.25)
    # nothing held once it has left, nor for a provider without a queue
    assert emu.callbacks(ids[0], answers=None, statuses=["read"])[0].not_before == 0.0
    meta_id = KITS["meta_cloud"].wire_message_id(send(emu, "meta_cloud").json())
    assert {c.not_before for c in emu.callbacks(meta_id)} == {0.0}


def test_the_control_api_does_not_hold_a_request_for_a_long_queue(posted: list[str]) -> None:
    emu = make(Timer(), limits={"sinch": {"queue_rate": 1.0, "project_rate": 0}})
    emu.set_webhook("sinch", HOOK)
    ids = [KITS["sinch"].wire_message_id(send(emu, "sinch", phone(i)).json()) for i in range(90)]
    resp = control(emu, "POST", "complete", {"message_id": ids[-1], "answers": None})
    assert resp.status_code == 409
    assert "queued" in resp.json()["error"]
    assert posted == []


# -- settings ------------------------------------------------------------------------


def control(emu: Emulator, method: str, route: str, body: Any = None, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        asgi = httpx.ASGITransport(app=emu.asgi, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=asgi, base_url="http://emu") as client:
            if body is not None:
                kw["json"] = body
            return await client.request(method, f"/_emulator/{route}", **kw)

    return asyncio.run(go())


def test_the_defaults_are_the_documented_limits() -> None:
    limits = make(Timer()).limits
    for provider in META_LIKE:
        assert limits[provider] == {
            "enabled": True, "throughput": 80.0, "tolerance": 0.1, "pair_interval": 6.0,
            "pair_burst": 10, "numbers": {},
        }  # fmt: skip
    assert limits["sinch"] == {
        "enabled": True, "tolerance": 0.1, "project_rate": 800.0, "queue_rate": 20.0,
        "queue_size": 500_000, "numbers": {}, "queued": {},
    }  # fmt: skip


def test_an_accounts_throughput_is_its_numbers_tier() -> None:
    accounts = {
        "meta_cloud": {**ACCOUNTS["meta_cloud"], "throughput": 20},
        "sinch": {**ACCOUNTS["sinch"], "throughput": 5},  # the app queue's rate
    }
    emu = make(Timer(), accounts)
    assert emu.limits["meta_cloud"]["numbers"] == {"1234567890": 20.0}
    assert emu.limits["sinch"]["numbers"] == {"01HAPPID0000000000000000AB": 5.0}
    assert burst(emu, "meta_cloud", 30).count(200) == 3  # 1 + floor(20 * 0.1)


def test_the_limits_can_be_turned_off_for_tests_that_do_not_pace() -> None:
    emu = make(Timer(), limits={"*": {"enabled": False}})
    assert burst(emu, "meta_cloud", 200, lambda i: PHONE) == [200] * 200
    assert emu.refused["meta_cloud"] == {}


def meta_senders(second_token: str) -> GatewayConfig:
    base = {"provider": "meta_cloud", **ACCOUNTS["meta_cloud"], "base_url": "http://emu"}
    return GatewayConfig.model_validate(
        {
            "senders": {
                "a": {**base, "throughput": 20},
                "b": {**base, "phone_number_id": "222", "throughput": 1000},
                "c": {**base, "phone_number_id": "333", "access_token": second_token},
            }
        }
    )


def test_one_meta_app_serves_each_of_its_numbers_at_its_own_tier() -> None:
    emu = Emulator.from_config(meta_senders("another-apps-token"), timer=Timer())
    assert emu.limits["meta_cloud"]["numbers"] == {"1234567890": 20.0, "222": 1000.0}

    def to(number: str, i: int) -> HttpRequest:
        req = request("meta_cloud", phone(i))
        return HttpRequest(req.method, req.url.replace("1234567890", number), req.headers,
                           None, req.content)  # fmt: skip

    first = [emu.respond(to("1234567890", i)).status_code for i in range(30)]
    second = [emu.respond(to("222", i)).status_code for i in range(30)]
    assert (first.count(200), second.count(200)) == (3, 30)
    assert emu.respond(to("333", 0)).status_code == 400  # another app's number: unknown
    # the callbacks of a message say which number sent it
    sent = next(m for m in emu.sent("meta_cloud") if m.number == "222")
    [status] = emu.callbacks(sent.message_id, answers=None, statuses=["sent"])
    metadata = json.loads(status.body)["entry"][0]["changes"][0]["value"]["metadata"]
    assert metadata["phone_number_id"] == "222"


@pytest.mark.parametrize(
    ("tier", "level"), [(80, "STANDARD"), (1000, "HIGH"), (20, "NOT_APPLICABLE")]
)
def test_meta_reports_a_numbers_tier_as_its_throughput_level(tier: int, level: str) -> None:
    accounts = {"meta_cloud": {**ACCOUNTS["meta_cloud"], "throughput": tier}}
    emu = make(Timer(), accounts)
    token = ACCOUNTS["meta_cloud"]["access_token"]
    url = "http://emu/meta_cloud/v24.0/1234567890?fields=throughput"
    resp = emu.respond(HttpRequest("GET", url, {"Authorization": f"Bearer {token}"}))
    assert resp.json() == {"throughput": {"level": level}, "id": "1234567890"}


def test_limits_change_through_the_control_api() -> None:
    timer = Timer()
    emu = make(timer)
    answer = control(emu, "POST", "limits", {"provider": "meta_cloud", "throughput": 10})
    assert answer.status_code == 200
    assert answer.json()["meta_cloud"]["throughput"] == 10.0
    assert burst(emu, "meta_cloud", 20).count(200) == 2  # 1 + floor(10 * 0.1)
    number = {"provider": "meta_cloud", "number": "1234567890"}
    answer = control(emu, "POST", "limits", {**number, "throughput": 1000})
    assert answer.json()["meta_cloud"]["numbers"] == {"1234567890": 1000.0}
    timer.now += 60
    assert burst(emu, "meta_cloud", 20, lambda i: phone(100 + i)).count(200) == 20
    answer = control(emu, "POST", "limits", {**number, "throughput": None})  # dropped
    assert answer.json()["meta_cloud"]["numbers"] == {}
    answer = control(emu, "POST", "limits", {"pair_burst": 45})  # every provider with it
    assert {p: v.get("pair_burst") for p, v in answer.json().items()} == {
        **dict.fromkeys(META_LIKE, 45), "sinch": None,
    }  # fmt: skip
    assert control(emu, "POST", "limits", {"enabled": False}).status_code == 200
    assert burst(emu, "meta_cloud", 100).count(200) == 100
    assert control(emu, "GET", "limits").json() == emu.limits


BAD_LIMITS: list[tuple[dict[str, Any], str]] = [
    ({"speed": 3}, "unknown key 'speed'"),
    ({"provider": "nobody", "throughput": 3}, "no emulated provider"),
    ({"provider": "meta_cloud", "queue_size": 5}, "meta_cloud has no 'queue_size' limit"),
    ({"provider": "sinch", "pair_burst": 3}, "sinch has no 'pair_burst' limit"),
    ({"throughput": -1}, "throughput must be a number from 0"),
    ({"throughput": 1e308}, "throughput must be a number from 0 to 1e+06"),
    ({"throughput": True}, "'throughput' must be a number, not a boolean"),
    ({"throughput": "80"}, "'throughput' must be a number, not a string"),
    ({"pair_burst": 2.5}, "'pair_burst' must be an integer"),
    ({"pair_burst": 0}, "pair_burst must be an integer from 1"),
    ({"tolerance": 11}, "tolerance must be a number from 0 to 10"),
    ({"queue_size": 0}, "queue_size must be an integer from 1"),
    ({"enabled": "no"}, "'enabled' must be true or false"),
    ({"number": "1", "throughput": 5}, "a number's limit needs its provider"),
    ({"provider": "sinch", "number": "1", "throughput": 5}, "sinch takes 'queue_rate' only"),
    ({"provider": "meta_cloud", "number": "1", "pair_burst": 5}, "takes 'throughput' only"),
    ({"provider": "meta_cloud", "number": "", "throughput": 5}, "number must be 1 to 200"),
    ({"throughput": 10, "pair_burst": 0}, "pair_burst"),  # all or nothing
]


@pytest.mark.parametrize(("body", "reason"), BAD_LIMITS)
def test_bad_limits_are_a_400_naming_the_problem_and_change_nothing(
    body: dict[str, Any], reason: str
) -> None:
    emu = make(Timer())
    before = emu.limits
    resp = control(emu, "POST", "limits", body)
    assert resp.status_code == 400, resp.text
    assert reason in resp.json()["error"]
    assert emu.limits == before


def test_the_python_api_refuses_the_same() -> None:
    emu = make(Timer())
    with pytest.raises(ValueError, match="unknown limit 'speed'"):
        emu.set_limits(speed=3)
    emu.sims.pop("sinch")
    with pytest.raises(ValueError, match="no emulated provider has a 'queue_size' limit"):
        emu.set_limits(queue_size=5)
    with pytest.raises(ValueError, match="throughput must be"):
        emu.set_limits("meta_cloud", throughput=float("nan"))
    with pytest.raises(ValueError, match="throughput must be"):
        Limits(throughput=-1.0)
    with pytest.raises(ValueError, match=r"meta_cloud\.throughput"):
        Emulator({"meta_cloud": {**ACCOUNTS["meta_cloud"], "throughput": -5}})


def test_refusals_are_counted_shown_and_reset() -> None:
    emu = make(Timer(), limits={"meta_cloud": {"throughput": 0}})
    burst(emu, "meta_cloud", 12, lambda i: PHONE)  # 2 × 131056
    burst(emu, "onemsg", 21)  # 12 × 429
    counts = control(emu, "GET", "refused").json()
    assert counts == {
        "meta_cloud": {"1234567890": {"131056": 2}},
        "onemsg": {"inst12345": {"429": 12}},
        "dialog360_cloud": {}, "dialog360_onprem": {}, "sinch": {},
    }  # fmt: skip
    assert counts == emu.refused
    one = control(emu, "GET", "refused", params={"provider": "onemsg"}).json()
    assert one == {"onemsg": {"inst12345": {"429": 12}}}
    assert control(emu, "DELETE", "refused", params={"provider": "onemsg"}).json() == one
    assert emu.refused["onemsg"] == {}
    nothing: dict[str, Any] = {provider: {} for provider in emu.sims}
    assert emu.reset_refused() == {**nothing, "meta_cloud": counts["meta_cloud"]}
    assert emu.refused == nothing
    assert control(emu, "GET", "refused", params={"provider": "x"}).status_code == 400


@pytest.mark.parametrize("seed", range(3))
def test_junk_to_the_limit_routes_is_never_a_500(seed: int) -> None:
    rng = random.Random(seed)
    emu = make(Timer())
    words: list[Any] = [*FIELDS, *emu.sims, "number", "provider", "1234567890", "x", ""]
    values: list[Any] = [None, True, 0, 1, -1, 2.5, 1e308, 2**63, "80", [], {}, "\ud800"]
    for _ in range(150):
        kind = rng.randrange(4)
        if kind == 0:
            resp = control(emu, "POST", "limits", content=rng.randbytes(rng.randrange(30)))
        elif kind == 1:
            body = {rng.choice(words): rng.choice([*values, *words]) for _ in range(3)}
            content = json.dumps(body).encode("utf-8", "surrogatepass")
            resp = control(emu, "POST", "limits", content=content)
        else:
            query = quote(str(rng.choice([*values, *words])).encode("utf-8", "surrogatepass"))
            method = rng.choice(["GET", "DELETE"])
            resp = control(emu, method, f"refused?provider={query}")
        assert resp.status_code < 500, resp.text
        assert resp.headers["content-type"] == "application/json"


def test_docs_limits_table_is_the_emulators() -> None:
    testing = README.parent / "docs" / "testing.md"  # the reference lives in the docs
    assert limits_table_markdown() in testing.read_text(encoding="utf-8")
