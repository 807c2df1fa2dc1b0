"""send_many on both gateways, and the ``flowgateway send-many`` command."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import cli
from gateway.cli_send_many import Progress
from gateway.core import GatewayCore
from gateway.errors import (
    ConfigError,
    GatewayError,
    LimitExceeded,
    RateLimited,
    RecipientUnreachable,
)
from gateway.events import SendReceipt
from gateway.model import FlowMessage
from gateway.protocol import MAX_CONCURRENCY, MIN_CONCURRENCY, Batch, default_concurrency
from tests.unit.test_pacing import (
    MSG,
    Twin,
    every,
    graph,
    meta,
    most_in_one_second,
    msg_to,
    ok,
)

pytest_plugins = ["tests.unit.twin_fixture"]  # the sync/async ``twin`` fixture, shared

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config/gateway.toml")


def unreachable_every_fifth(request: httpx.Request) -> httpx.Response:
    to = json.loads(request.content)["to"]
    return graph(131026) if int(to[-4:]) % 5 == 0 else ok(request)


# -- results ------------------------------------------------------------------------------


def test_results_keep_the_order_and_failures_stay_in_place(twin: Callable[..., Twin]) -> None:
    t = twin(unreachable_every_fifth, senders={"main": meta(flow_cta_max_length=10)})
    messages = [msg_to(i) for i in range(1, 31)]
    messages[7] = messages[7].model_copy(update={"sender": "nope"})  # no such sender
    messages[12] = messages[12].model_copy(update={"flow_cta": "Open it right now"})  # > 10
    results = t.send_many(messages, concurrency=6)
    assert len(results) == 30
    for i, (msg, result) in enumerate(zip(messages, results, strict=True), start=1):
        if i == 8:
            assert isinstance(result, ConfigError)
        elif i == 13:
            assert isinstance(result, LimitExceeded)  # an UnsupportedFeature: nothing sent
        elif i % 5 == 0:
            assert isinstance(result, RecipientUnreachable)
            assert result.provider == "meta_cloud"
        else:
            assert isinstance(result, SendReceipt)
            assert result.message_id == f"wamid.{msg.to}"
    assert len(t.requests) == 28  # the two that cannot be sent made no request


def test_every_result_is_reported_as_it_comes(twin: Callable[..., Twin]) -> None:
    t = twin(unreachable_every_fifth, paced=False)
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def on_result(index: int, result: SendReceipt | GatewayError) -> None:
        with lock:
            seen.append((index, type(result).__name__))

    results = t.send_many([msg_to(i) for i in range(1, 11)], on_result=on_result)
    assert sorted(seen) == [(i, type(r).__name__) for i, r in enumerate(results)]


def test_nothing_to_send(twin: Callable[..., Twin]) -> None:
    assert twin().send_many([]) == []


def test_a_failure_that_is_no_send_stops_the_batch(twin: Callable[..., Twin]) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["to"].endswith("0004"):
            raise RuntimeError("a bug, not a refusal")
        return ok(request)

    t = twin(broken, paced=False)
    with pytest.raises(RuntimeError):
        t.send_many([msg_to(i) for i in range(1, 20)], concurrency=1)
    assert len(t.requests) == 4  # none started after it


def test_max_wait_is_per_message(twin: Callable[..., Twin]) -> None:
    t = twin(senders={"main": meta(throughput=every(10))})  # a slot every 10 s
    results = t.send_many([msg_to(i) for i in range(1, 4)], concurrency=1, max_wait=5)
    assert isinstance(results[0], SendReceipt)
    assert [type(r) for r in results[1:]] == [RateLimited, RateLimited]
    assert len(t.requests) == 1


def test_sends_are_paced_per_number(twin: Callable[..., Twin]) -> None:
    t = twin(senders={"main": meta(throughput=80)})
    # Threads sleeping on one fake clock add their sleeps up: one thread, on threads.
    width = 8 if t.kind == "async" else 1
    results = t.send_many([msg_to(i) for i in range(200)], concurrency=width)
    assert all(isinstance(r, SendReceipt) for r in results)
    assert most_in_one_second(t.times) <= 80


# -- concurrency ----------------------------------------------------------------------------


def test_concurrency_is_reached_and_never_passed(twin: Callable[..., Twin]) -> None:
    width = 4
    in_flight = peak = 0
    count = threading.Lock()

    def enter() -> None:
        nonlocal in_flight, peak
        with count:
            in_flight += 1
            peak = max(peak, in_flight)

    def leave() -> None:
        nonlocal in_flight
        with count:
            in_flight -= 1

    sync_gate = threading.Barrier(width, timeout=10)
    async_gate: asyncio.Barrier | None = None

    def respond_sync(request: httpx.Request) -> httpx.Response:
        enter()
        try:
            sync_gate.wait()  # only passes when `width` requests are in flight at once
            return ok(request)
        finally:
            leave()

    async def respond_async(request: httpx.Request) -> httpx.Response:
        nonlocal async_gate
        async_gate = async_gate or asyncio.Barrier(width)
        enter()
        try:
            await asyncio.wait_for(async_gate.wait(), 10)
            return ok(request)
        finally:
            leave()

    def respond(request: httpx.Request) -> Any:
        return respond_async(request) if t.kind == "async" else respond_sync(request)

    t = twin(respond, paced=False)
    results = t.send_many([msg_to(i) for i in range(3 * width)], concurrency=width)
    assert all(isinstance(r, SendReceipt) for r in results)
    assert peak == width


def _core(tiers: list[float]) -> GatewayCore:
    senders = {f"s{i}": meta(phone_number_id=f"10{i}", throughput=t) for i, t in enumerate(tiers)}
    return GatewayCore(senders, default_sender="s0")


def _to_each(core: GatewayCore) -> list[FlowMessage]:
    return [MSG.model_copy(update={"sender": name}) for name in core.senders] * 3


def test_default_concurrency_reaches_the_total_tier_at_100_ms() -> None:
    one = _core([80])
    assert default_concurrency(one, _to_each(one)) == 8
    twenty = _core([80] * 20)
    assert default_concurrency(twenty, _to_each(twenty)) == 160
    assert default_concurrency(twenty, _to_each(twenty)[:2]) == 16  # the numbers used
    slow = _core([10])
    assert default_concurrency(slow, _to_each(slow)) == MIN_CONCURRENCY
    big = _core([1000] * 3)
    assert default_concurrency(big, _to_each(big)) == MAX_CONCURRENCY
    nowhere = [MSG.model_copy(update={"sender": "nope"})] * 3
    assert default_concurrency(one, nowhere) == MIN_CONCURRENCY


def test_two_senders_on_one_number_count_once() -> None:
    core = GatewayCore({"a": meta(), "b": meta()}, default_sender="a")
    assert default_concurrency(core, _to_each(core)) == 8


def test_the_plan_runs_no_more_loops_than_messages() -> None:
    core = _core([80] * 20)
    plan = Batch(core, _to_each(core)[:3], concurrency=None, max_wait=None, on_result=None)
    assert plan.workers == 3
    with pytest.raises(ValueError, match="at least 1"):
        Batch(core, [], concurrency=0, max_wait=None, on_result=None)


# -- flowgateway send-many ------------------------------------------------------------------


def _jsonl(tmp_path: Path, messages: Sequence[dict[str, Any] | str]) -> str:
    path = tmp_path / "campaign.jsonl"
    lines = [m if isinstance(m, str) else json.dumps(m) for m in messages]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _message(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "to": f"+5511987650{i:03d}",
        "flow_id": "123",
        "flow_cta": "Go",
        "body": "Hi",
        "screen": "S",
        **extra,
    }


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """cli.main points the library's log at this test's (captured) stderr: put it back."""
    logger = logging.getLogger("flowgateway")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture
def served(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The packaged config's senders, served by the emulator."""
    monkeypatch.setenv("FLOWGATEWAY_EMULATOR_URL", emulator.url)
    return emulator


def test_send_many_sends_every_line_and_reports(
    served: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _jsonl(tmp_path, [_message(i) for i in range(5)])
    assert cli.main(["send-many", path, "--config", CONFIG]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("sent 5 of 5, failed 0, in ")
    assert "msg/s" in out.out
    assert out.err == ""  # not a terminal: no progress line
    assert len(served.sent("meta_cloud")) == 5


def test_send_many_json_report_names_each_failure(
    served: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages: list[dict[str, Any] | str] = [_message(i) for i in range(4)]
    messages.insert(2, "")  # blank lines are skipped, still counted as lines
    messages[3] = _message(9, sender="nope")  # line 4
    messages.append(_message(8, sender="nope"))  # line 6
    path = _jsonl(tmp_path, messages)
    argv = ["send-many", path, "--config", CONFIG, "--json", "--concurrency", "2"]
    assert cli.main([*argv, "--max-wait", "10"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["total"], report["sent"], report["failed"]) == (5, 3, 2)
    [(kind, entry)] = report["errors"].items()
    assert (kind, entry["count"]) == ("ConfigError", 2)
    assert (entry["example"]["index"], entry["example"]["line"]) == (2, 4)
    assert "senders.nope" in entry["example"]["message"]
    rows = report["results"]
    assert [r["line"] for r in rows] == [1, 2, 4, 5, 6]
    assert [("message_id" in r, r.get("error")) for r in rows] == [
        (True, None),
        (True, None),
        (False, "ConfigError"),
        (True, None),
        (False, "ConfigError"),
    ]
    sent = {m.message_id for m in served.sent("meta_cloud")}
    assert {r["message_id"] for r in rows if "message_id" in r} == sent


def test_send_many_text_report_groups_failures_by_class(
    served: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _jsonl(tmp_path, [_message(1), _message(2, sender="nope")])
    assert cli.main(["send-many", path, "--config", CONFIG]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("sent 1 of 2, failed 1")
    assert out[1].split()[:4] == ["ConfigError", "1", "e.g.", "line"]
    assert out[1].split()[4] == "2:"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("{not json", "campaign.jsonl:2: not JSON"),
        ('["a list"]', "campaign.jsonl:2: expected a JSON object"),
        (json.dumps({"to": "+5511987650001"}), "campaign.jsonl:2: invalid message"),
        (json.dumps(_message(1, options={"nowhere": {}})), "campaign.jsonl:2: "),
    ],
)
def test_a_bad_line_exits_2_naming_it_and_sends_nothing(
    served: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, says: str
) -> None:
    path = _jsonl(tmp_path, [_message(0), line, _message(2)])
    assert cli.main(["send-many", path, "--config", CONFIG]) == 2
    assert says in capsys.readouterr().err
    assert served.sent("meta_cloud") == []


def test_send_many_reads_stdin(
    served: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(_message(1)) + "\n"))
    assert cli.main(["send-many", "-", "--config", CONFIG]) == 0
    assert capsys.readouterr().out.startswith("sent 1 of 1")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_line(
    served: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    path = _jsonl(tmp_path, [_message(i) for i in range(3)] + [_message(7, sender="nope")])
    assert cli.main(["send-many", path, "--config", CONFIG]) == 1
    last = terminal.getvalue().split("\r")[-1]
    assert last.startswith("sent 3 · failed 1 · 4/4 · ")
    assert " msg/s · ETA 00:00" in last
    assert last.endswith("\x1b[K\n")


def test_progress_line_arithmetic() -> None:
    p = Progress(total=1000, started=100.0)
    assert p.line(now=100.0) == "sent 0 · failed 0 · 0/1000 · 0.0 msg/s · ETA --:--"
    for i in range(200):
        p(i, GatewayError("x") if i % 10 == 0 else None)  # type: ignore[arg-type]
    assert p.line(now=104.0) == "sent 180 · failed 20 · 200/1000 · 50.0 msg/s · ETA 00:16"
    assert Progress(total=10**6, started=0.0, sent=1).line(now=1.0).endswith("ETA 277:46:39")


def test_a_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _jsonl(tmp_path, [_message(1)])
    assert cli.main(["send-many", path, "--config", str(tmp_path / "none.toml")]) == 2
    assert "none.toml" in capsys.readouterr().err


def test_send_many_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["send-many", "--help"])
    text = capsys.readouterr().out
    for flag in ("--config", "--concurrency", "--json", "--max-wait"):
        assert flag in text
