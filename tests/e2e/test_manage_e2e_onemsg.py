"""End to end: Flows management through 1msg, sync and async, over HTTP to the emulator.

1msg documents no asset list or download, so ``deploy`` cannot compare what it holds:
a second run with the same file uploads again, says why, and publishes; the lifecycle is
otherwise Meta's. 1msg documents HTTP 501 for create, list, assets and metadata "until
the Meta Graph Flows rewrite is available": that answer is an UnsupportedFeature quoting
1msg, made once (never retried). The status hooks are Meta's ``flows`` envelope, as 1msg
forwards Meta's hooks with rawHooks on (unconfirmed for that field: the emulator makes
them on request, ``OneMsgSim.flow_status_calls``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from gateway import RetryPolicy, RetrySettings, UnsupportedFeature
from gateway.emulator.sims._onemsg_flows import DOCUMENTED_501
from gateway.emulator.sims.onemsg import OneMsgSim
from gateway.events import FlowStatus, FlowStatusChanged, InboundEvent
from gateway.manage import DeployResult
from gateway.pytest_plugin import EmulatorFixture
from tests.flows import CHANGED, TEXT
from tests.kits import kit_config_toml

SENDER = "onemsg"
FAST = RetryPolicy(RetrySettings(max_attempts=3, initial_backoff=0.01, retry_after_cap=0.01))
NO_STORED_JSON = "the provider cannot show the stored JSON: uploaded it again"


@pytest.fixture
def flowgateway_config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(kit_config_toml(), encoding="utf-8")
    return path


def _sim(emulator: EmulatorFixture) -> OneMsgSim:
    sim = emulator.emulator.sims[SENDER]
    assert isinstance(sim, OneMsgSim)
    return sim


def _check_lifecycle(results: list[DeployResult], final: FlowStatus | str | None) -> None:
    first, same, changed = results
    assert (first.action, first.published) == ("created", True)
    # 1msg cannot show the stored JSON: the same file is uploaded again, and it says so
    assert (same.action, same.published, same.flow_id) == ("updated", True, first.flow_id)
    assert NO_STORED_JSON in same.notes
    assert (changed.action, changed.published, changed.flow_id) == ("updated", True, first.flow_id)
    assert final == FlowStatus.DEPRECATED


def _statuses(events: list[InboundEvent]) -> list[tuple[str | None, str | None]]:
    return [
        (str(e.old_status) if e.old_status else None, str(e.new_status))
        for e in events
        if isinstance(e, FlowStatusChanged)
    ]


EXPECTED_HOOKS = [
    (None, "DRAFT"),  # created
    ("DRAFT", "PUBLISHED"),  # first deploy
    ("PUBLISHED", "DRAFT"),  # the same file uploaded again reverts it
    ("DRAFT", "PUBLISHED"),
    ("PUBLISHED", "DRAFT"),  # the changed file
    ("DRAFT", "PUBLISHED"),
    ("PUBLISHED", "DEPRECATED"),
]


def test_deploy_lifecycle_sync(emulator: EmulatorFixture) -> None:
    sim = _sim(emulator)
    with emulator.gateway(retry=FAST) as gw:
        results = [
            gw.flows.deploy("signup", text, categories=["SIGN_UP"], sender=SENDER)
            for text in (TEXT, TEXT, CHANGED)
        ]
        flow_id = results[0].flow_id
        assert gw.flows.deprecate(flow_id, sender=SENDER) is True
        final = gw.flows.get(flow_id, sender=SENDER).status
        events = emulator.feed(gw, SENDER, sim.flow_status_calls())
    _check_lifecycle(results, final)
    stored = sim.manage.flows.get(flow_id)
    assert json.loads(stored.json_text or "") == json.loads(CHANGED)
    assert _statuses(events) == [(o, n) for o, n in EXPECTED_HOOKS]
    assert all(e.flow_id == flow_id for e in events if isinstance(e, FlowStatusChanged))


def test_deploy_lifecycle_async(emulator: EmulatorFixture) -> None:
    sim = _sim(emulator)

    async def go() -> tuple[list[DeployResult], Any, list[InboundEvent]]:
        async with emulator.async_gateway(retry=FAST) as gw:
            results = [
                await gw.flows.deploy("signup", text, categories=["SIGN_UP"], sender=SENDER)
                for text in (TEXT, TEXT, CHANGED)
            ]
            flow_id = results[0].flow_id
            assert await gw.flows.deprecate(flow_id, sender=SENDER) is True
            final = (await gw.flows.get(flow_id, sender=SENDER)).status
            events: list[InboundEvent] = []
            for call in sim.flow_status_calls():
                query = dict(parse_qsl(urlsplit(call.url).query))
                events += await gw.handle_webhook(SENDER, call.body, call.headers, query)
            return results, final, events

    results, final, events = asyncio.run(go())
    _check_lifecycle(results, final)
    assert _statuses(events) == EXPECTED_HOOKS


def test_a_provider_error_comes_back_at_its_place_in_the_file(emulator: EmulatorFixture) -> None:
    # 1msg takes an object, so its line numbers are its own: the path places the error
    doc = json.loads(TEXT)
    doc["screens"].append({**doc["screens"][0]})  # a duplicate screen id (checked by 1msg)
    two = json.dumps(doc, indent=2)
    with emulator.gateway(retry=FAST) as gw:
        info = gw.flows.create("dupes", ["OTHER"], sender=SENDER)
        issues = gw.flows.update_json(info.id, two, sender=SENDER)
    [issue] = [i for i in issues if i.error == "DUPLICATE_SCREEN_IDS"]
    assert issue.path == "screens[1].id"
    line = two.splitlines()[issue.line - 1] if issue.line else ""
    assert '"id": "WELCOME"' in line
    assert issue.line > 20


@pytest.mark.parametrize("route", sorted(DOCUMENTED_501))
def test_a_501_is_unsupported_in_1msgs_words_and_not_retried(
    emulator: EmulatorFixture, route: str
) -> None:
    sim = _sim(emulator)
    existing = sim.manage.flows.create("old", ["OTHER"]).id
    sim.manage.not_implemented = {route}
    calls = {
        "create": lambda gw: gw.flows.create("new", ["OTHER"], sender=SENDER),
        "list": lambda gw: gw.flows.list(sender=SENDER),
        "assets": lambda gw: gw.flows.update_json(existing, TEXT, sender=SENDER),
        "metadata": lambda gw: gw.flows.update_metadata(existing, flow_name="x", sender=SENDER),
    }
    with emulator.gateway(retry=FAST) as gw, pytest.raises(UnsupportedFeature) as info:
        calls[route](gw)
    assert "501" in str(info.value)
    assert "until the Meta Graph Flows rewrite is available" in str(info.value)
    assert info.value.provider == SENDER


def test_deploy_stops_on_a_501_with_1msgs_words_async(emulator: EmulatorFixture) -> None:
    _sim(emulator).manage.not_implemented = set(DOCUMENTED_501)

    async def go() -> None:
        async with emulator.async_gateway(retry=FAST) as gw:
            await gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"], sender=SENDER)

    with pytest.raises(UnsupportedFeature, match="Meta Graph Flows rewrite"):
        asyncio.run(go())


def test_templates_list_and_delete(emulator: EmulatorFixture) -> None:
    store = _sim(emulator).manage.templates
    for n in range(3):
        for lang in ("en", "pt_BR"):
            store.add(f"tpl_{n}", lang, "MARKETING", [{"type": "BODY", "text": "Hi"}])
    with emulator.gateway(retry=FAST) as gw:
        every = gw.templates.list(sender=SENDER)
        assert sorted((t.name, t.language) for t in every) == sorted(
            (f"tpl_{n}", lang) for n in range(3) for lang in ("en", "pt_BR")
        )
        assert {t.language for t in gw.templates.list(sender=SENDER, language="pt_BR")} == {"pt_BR"}
        assert gw.templates.delete("tpl_1", sender=SENDER) is True
        with pytest.raises(UnsupportedFeature, match="every language"):
            gw.templates.delete("tpl_2", template_id=every[0].id, sender=SENDER)
        assert {t.name for t in gw.templates.list(sender=SENDER)} == {"tpl_0", "tpl_2"}
