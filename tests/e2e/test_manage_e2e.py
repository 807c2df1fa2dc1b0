"""End to end: managing a Flow through Meta's Graph API, over HTTP to the emulator.

``flows.deploy`` (sync and async) creates, leaves alone, updates and publishes a Flow in
the emulator's Meta simulator; the simulator posts its ``flows`` FLOW_STATUS_CHANGE
webhooks (signed like Meta's) to a real webhook receiver, which hands them to a handler
as :class:`FlowStatusChanged` in order. And the CLI: ``flowgateway flows deploy``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.config import parse_config
from gateway.emulator.server import LoopbackServer
from gateway.emulator.sims.meta_cloud import MetaSim
from gateway.events import FlowStatus, FlowStatusChanged
from gateway.pytest_plugin import EmulatorFixture
from tests.contract.meta_cloud.kit import META_SETTINGS
from tests.flows import CHANGED, FLOW, TEXT
from tests.kits import kit_config_toml

SENDER = "meta_cloud"  # the kit config names each sender after its provider
LIFECYCLE = [
    (None, FlowStatus.DRAFT),  # created
    (FlowStatus.DRAFT, FlowStatus.PUBLISHED),  # published
    (FlowStatus.PUBLISHED, FlowStatus.DRAFT),  # the changed JSON uploaded
    (FlowStatus.DRAFT, FlowStatus.PUBLISHED),  # published again
    (FlowStatus.PUBLISHED, FlowStatus.DEPRECATED),
]


@pytest.fixture(scope="module")
def flowgateway_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("manage-e2e") / "gateway.toml"
    path.write_text(kit_config_toml(), encoding="utf-8")
    return path


class Received:
    """What the receiver's handler got, with a wait for more."""

    def __init__(self) -> None:
        self.events: list[FlowStatusChanged] = []
        self._cond = threading.Condition()

    def add(self, event: FlowStatusChanged) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[FlowStatusChanged]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < n and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return list(self.events)


@pytest.fixture
def received(emulator: EmulatorFixture, tmp_path: Path) -> Iterator[Received]:
    """A webhook receiver over HTTP for the Meta sender; the emulator posts to it."""
    from gateway.receiver import WebhookReceiver

    senders = {SENDER: {"provider": SENDER, **META_SETTINGS}}
    config = parse_config(
        {"senders": senders, "receiver": {"inbox": str(tmp_path / "inbox.db")}}, env={}
    )
    receiver = WebhookReceiver(config)
    got = Received()
    receiver.on(FlowStatusChanged, name="lifecycle")(got.add)
    server = LoopbackServer()
    server.start_thread(receiver.asgi)
    emulator.emulator.set_webhook(SENDER, f"{server.url}/webhooks/{SENDER}")
    try:
        yield got
    finally:
        server.stop_thread()


def _sim(emulator: EmulatorFixture) -> MetaSim:
    sim = emulator.emulator.sims[SENDER]
    assert isinstance(sim, MetaSim)
    return sim


def _uploads(sim: MetaSim) -> int:
    return sum(
        1 for method, path in sim.management_calls if (method, path[-7:]) == ("POST", "/assets")
    )


def _posted(sim: MetaSim) -> list[tuple[str | None, str]]:
    """(old, new) of every FLOW_STATUS_CHANGE the simulator posted, in order."""
    out = []
    for call in sim.account_webhooks:
        value = json.loads(call.body)["entry"][0]["changes"][0]["value"]
        out.append((value.get("old_status"), value["new_status"]))
    return out


def _check_lifecycle(received: Received, sim: MetaSim, flow_id: str) -> None:
    assert _posted(sim) == LIFECYCLE  # what Meta's simulator sent, in order
    # Every move, the second DRAFT→PUBLISHED included: the receiver's dedup key for
    # account events carries the envelope's time, so a re-publish is not a redelivery.
    events = received.wait_for(len(LIFECYCLE))
    time.sleep(0.2)  # and nothing more arrives
    events = received.wait_for(len(LIFECYCLE) + 1, timeout=0.1)
    assert [(e.old_status, e.new_status) for e in events] == LIFECYCLE
    assert {e.flow_id for e in events} == {flow_id}
    assert {(e.provider, e.sender, e.business_id) for e in events} == {
        (SENDER, SENDER, META_SETTINGS["waba_id"])
    }


def test_deploy_lifecycle_sync(emulator: EmulatorFixture, received: Received) -> None:
    sim = _sim(emulator)
    with emulator.gateway() as gw:
        first = gw.flows.deploy("e2e_signup", TEXT, categories=("SIGN_UP",), sender=SENDER)
        assert (first.action, first.published) == ("created", True)
        uploads = _uploads(sim)
        again = gw.flows.deploy("e2e_signup", TEXT, categories=("SIGN_UP",), sender=SENDER)
        assert (again.action, again.flow_id, again.published) == ("unchanged", first.flow_id, True)
        assert _uploads(sim) == uploads  # nothing uploaded, nothing published
        changed = gw.flows.deploy("e2e_signup", CHANGED, categories=("SIGN_UP",), sender=SENDER)
        assert (changed.action, changed.flow_id, changed.published) == (
            "updated", first.flow_id, True,
        )  # fmt: skip
        assert _uploads(sim) == uploads + 1
        assert first.flow_id is not None
        assert gw.flows.deprecate(first.flow_id, sender=SENDER) is True
        info = gw.flows.get(first.flow_id, sender=SENDER)
    assert info.status == FlowStatus.DEPRECATED
    assert sim.flows().get(first.flow_id).json_text == CHANGED  # the exact text, stored
    _check_lifecycle(received, sim, first.flow_id)


def test_deploy_lifecycle_async(emulator: EmulatorFixture, received: Received) -> None:
    sim = _sim(emulator)

    async def go() -> str:
        async with emulator.async_gateway() as gw:
            first = await gw.flows.deploy("e2e_async", TEXT, categories=("OTHER",), sender=SENDER)
            assert (first.action, first.published) == ("created", True)
            uploads = _uploads(sim)
            again = await gw.flows.deploy("e2e_async", TEXT, categories=("OTHER",), sender=SENDER)
            assert again.action == "unchanged"
            assert _uploads(sim) == uploads
            changed = await gw.flows.deploy(
                "e2e_async", CHANGED, categories=("OTHER",), sender=SENDER
            )
            assert (changed.action, changed.published) == ("updated", True)
            assert _uploads(sim) == uploads + 1
            assert first.flow_id is not None
            assert await gw.flows.deprecate(first.flow_id, sender=SENDER) is True
            flow_id: str = first.flow_id
            return flow_id

    flow_id = asyncio.run(go())
    _check_lifecycle(received, sim, flow_id)


def test_a_frozen_flow_is_cloned_and_the_clone_published(emulator: EmulatorFixture) -> None:
    sim = _sim(emulator)
    with emulator.gateway() as gw:
        first = gw.flows.deploy("e2e_old", TEXT, categories=("OTHER",), sender=SENDER)
        assert first.flow_id is not None
        sim.flows().get(first.flow_id).frozen = True  # an old flow Meta will not edit
        cloned = gw.flows.deploy("e2e_old", CHANGED, categories=("OTHER",), sender=SENDER)
        names = {f.name for f in gw.flows.list(sender=SENDER)}
    assert (cloned.action, cloned.published, cloned.name) == ("cloned", True, "e2e_old (1)")
    assert names == {"e2e_old", "e2e_old (1)"}


def test_the_cli_deploys_against_the_emulator(
    emulator: EmulatorFixture,
    flowgateway_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLOWGATEWAY_EMULATOR_URL", emulator.url)
    flow = tmp_path / "signup.json"
    flow.write_text(TEXT, encoding="utf-8")
    argv = ["flows", "deploy", str(flow), "--name", "cli_flow", "--sender", SENDER]
    code = main([*argv, "--config", str(flowgateway_config)])
    out = capsys.readouterr().out
    assert code == 0
    assert "cli_flow: created, published" in out
    assert main([*argv, "--config", str(flowgateway_config), "--json"]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert (shown["action"], shown["published"]) == ("unchanged", True)


def test_the_cli_stops_on_a_local_error_before_any_request(
    emulator: EmulatorFixture,
    flowgateway_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLOWGATEWAY_EMULATOR_URL", emulator.url)
    broken = dict(FLOW, screens=[{**FLOW["screens"][0], "terminal": False}])  # type: ignore[dict-item]
    flow = tmp_path / "broken.json"
    flow.write_text(json.dumps(broken, indent=2), encoding="utf-8")
    argv = ["flows", "deploy", str(flow), "--name", "bad", "--sender", SENDER]
    assert main([*argv, "--config", str(flowgateway_config)]) == 1
    err = capsys.readouterr().err
    assert f"{flow}:" in err
    assert "nothing sent" in err
    first = err.splitlines()[0]
    line, column = first.removeprefix(f"{flow}:").split(":")[:2]
    assert line.isdigit()
    assert column.isdigit()
    assert _sim(emulator).management_calls == []  # the emulator saw nothing
    assert emulator.sent() == []
