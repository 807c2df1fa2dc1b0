"""End to end over HTTP: Sinch templates through the emulator's Provisioning API (OAuth
token and all), sync and async; Flows refused before any request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.emulator.sims.sinch import SinchSim
from gateway.errors import UnsupportedFeature
from gateway.pytest_plugin import EmulatorFixture
from tests.kits import kit_config_toml


@pytest.fixture(scope="module")
def flowgateway_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sinch-manage") / "gateway.toml"
    path.write_text(kit_config_toml(), encoding="utf-8")
    return path


def _sim(emulator: EmulatorFixture) -> SinchSim:
    sim = emulator.emulator.sims["sinch"]
    assert isinstance(sim, SinchSim)
    return sim


def _seed(emulator: EmulatorFixture) -> None:
    store = _sim(emulator).templates
    for n in range(3):  # three pages at limit 1
        store.add(f"flow_tpl_{n}", "en_US", "MARKETING", [{"type": "BODY", "text": "Hi"}])
    store.add("flow_tpl_0", "pt_BR", "MARKETING", [{"type": "BODY", "text": "Oi"}])


def test_templates_list_get_delete_sync(emulator: EmulatorFixture) -> None:
    _seed(emulator)
    with emulator.gateway() as gw:
        listed = gw.templates.list(sender="sinch", limit=1)
        assert [(t.name, t.language) for t in listed] == [
            ("flow_tpl_0", "EN_US"),
            ("flow_tpl_1", "EN_US"),
            ("flow_tpl_2", "EN_US"),
            ("flow_tpl_0", "PT_BR"),
        ]
        assert {t.provider for t in listed} == {"sinch"}
        got = gw.templates.get("flow_tpl_1", sender="sinch")
        assert (got.name, got.status, got.category) == ("flow_tpl_1", "APPROVED", "MARKETING")
        assert gw.templates.delete("flow_tpl_0", language="pt_BR", sender="sinch")
        assert gw.templates.delete("flow_tpl_1", sender="sinch")
        left = gw.templates.list(sender="sinch", template_name="flow_tpl_0")
        assert [(t.name, t.language) for t in left] == [("flow_tpl_0", "EN_US")]
        with pytest.raises(UnsupportedFeature, match="WhatsApp Manager"):
            gw.flows.list(sender="sinch")


def test_templates_list_and_delete_async(emulator: EmulatorFixture) -> None:
    _seed(emulator)

    async def go() -> tuple[list[str], list[str]]:
        async with emulator.async_gateway() as gw:
            before = [t.name for t in await gw.templates.list(sender="sinch", limit=2)]
            assert await gw.templates.delete("flow_tpl_2", sender="sinch")
            after = [t.name for t in await gw.templates.list(sender="sinch")]
            with pytest.raises(UnsupportedFeature, match="Professional Services"):
                await gw.flows.get("1", sender="sinch")
            return before, after

    before, after = asyncio.run(go())
    assert before == ["flow_tpl_0", "flow_tpl_1", "flow_tpl_2", "flow_tpl_0"]
    assert after == ["flow_tpl_0", "flow_tpl_1", "flow_tpl_0"]
    assert _sim(emulator).token_requests >= 1  # the OAuth token was used
