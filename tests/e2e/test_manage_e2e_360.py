"""End to end: 360dialog Flows management over real HTTP to the emulator, sync and async.

``deploy`` a new flow (create on the Partner API, upload, publish), the same file again
(unchanged: no upload), a changed text (upload + publish), then ``deprecate``. 360dialog
relaying Meta's ``flows`` webhooks is [unconfirmed]: the emulator models it (Meta's
envelope on the channel webhook, ``D360Manage.flow_callbacks``), and the receiver must
read those as :class:`FlowStatusChanged` in order.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from gateway.emulator.d360_manage import D360Manage
from gateway.events import FlowStatusChanged, InboundEvent
from gateway.manage import DeployResult
from gateway.pytest_plugin import EmulatorFixture
from tests.kits import kit_config_toml
from tests.unit.test_manage_protocol import CHANGED, TEXT

SENDER = "dialog360_cloud"  # the kit config names each sender as its provider
MOVES = [
    (None, "DRAFT"), ("DRAFT", "PUBLISHED"), ("PUBLISHED", "DRAFT"),
    ("DRAFT", "PUBLISHED"), ("PUBLISHED", "DEPRECATED"),
]  # fmt: skip


@pytest.fixture(scope="module")
def flowgateway_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sender per kit; 360dialog Cloud's carries the Partner API settings."""
    path = tmp_path_factory.mktemp("e2e360") / "gateway.toml"
    path.write_text(kit_config_toml(), encoding="utf-8")
    return path


def _sim(emulator: EmulatorFixture) -> D360Manage:
    sim = emulator.emulator.sims[SENDER]
    assert isinstance(sim, D360Manage)
    return sim


def _check(results: list[DeployResult]) -> None:
    assert [r.action for r in results] == ["created", "unchanged", "updated"]
    assert all(r.published for r in results)
    assert len({r.flow_id for r in results}) == 1
    assert "published" not in results[1].notes  # unchanged and already published


def _moves(events: list[InboundEvent]) -> list[tuple[str | None, str]]:
    changed = [e for e in events if isinstance(e, FlowStatusChanged)]
    assert {e.provider for e in changed} == {SENDER}
    return [(e.old_status, str(e.new_status)) for e in changed]


def test_sync_deploy_cycle(emulator: EmulatorFixture) -> None:
    with emulator.gateway() as gw:
        results = [
            gw.flows.deploy("signup", text, categories=["SIGN_UP"], sender=SENDER)
            for text in (TEXT, TEXT, CHANGED)
        ]
        _check(results)
        flow_id = results[0].flow_id
        assert gw.flows.download(flow_id, sender=SENDER) == CHANGED
        assert gw.flows.deprecate(flow_id, sender=SENDER)
        assert gw.flows.get(flow_id, sender=SENDER).status == "DEPRECATED"
        events = emulator.feed(gw, SENDER, _sim(emulator).flow_callbacks())
    assert _moves(events) == MOVES


def test_async_deploy_cycle(emulator: EmulatorFixture) -> None:
    async def go() -> list[InboundEvent]:
        async with emulator.async_gateway() as gw:
            results = [
                await gw.flows.deploy("signup", text, categories=["SIGN_UP"], sender=SENDER)
                for text in (TEXT, TEXT, CHANGED)
            ]
            _check(results)
            flow_id = results[0].flow_id
            assert await gw.flows.download(flow_id, sender=SENDER) == CHANGED
            assert await gw.flows.deprecate(flow_id, sender=SENDER)
            events: list[InboundEvent] = []
            for call in _sim(emulator).flow_callbacks():
                query = dict(parse_qsl(urlsplit(call.url).query))
                events += await gw.handle_webhook(SENDER, call.body, call.headers, query)
            return events

    assert _moves(asyncio.run(go())) == MOVES


def test_the_unchanged_run_moves_nothing(emulator: EmulatorFixture) -> None:
    """An upload would revert the published flow to DRAFT (and need a publish)."""
    with emulator.gateway() as gw:
        gw.flows.deploy("quiet", TEXT, categories=["OTHER"], sender=SENDER)
        assert _sim(emulator).flow_callbacks()  # created, published
        again = gw.flows.deploy("quiet", TEXT, categories=["OTHER"], sender=SENDER)
    assert again.action == "unchanged"
    assert _sim(emulator).flow_callbacks() == []
