"""The emulated 360dialog management routes (gateway/emulator/d360_manage.py), in process.

Driven through the adapters (what users run) and, where the adapter would not send it,
with raw requests: the emulator holds the Partner API to its documented shapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import Gateway
from gateway.config import GatewayConfig, load_config
from gateway.emulator import Emulator, InProcessTransport
from gateway.emulator.d360_manage import D360Manage
from gateway.errors import (
    AuthenticationError,
    FlowDeleteFailed,
    FlowDeprecateFailed,
    FlowPublishFailed,
    InvalidRequest,
    NameTaken,
    UnsupportedFeature,
)
from gateway.events import FlowStatusChanged
from gateway.http import HttpRequest
from tests.contract.dialog360_cloud.kit import D360_KEY, D360_PARTNER_KEY
from tests.kits import kit_config_toml
from tests.unit.test_manage_protocol import CHANGED, FLOW, TEXT

CLOUD, ONPREM = "dialog360_cloud", "dialog360_onprem"
HUB = "http://emu/dialog360_cloud/api/v2/partners/examplePA/waba_accounts/exampleWA"


@pytest.fixture
def config(tmp_path: Path) -> GatewayConfig:
    path = tmp_path / "gateway.toml"
    path.write_text(kit_config_toml("http://emu"), encoding="utf-8")
    return load_config(path, {})


@pytest.fixture
def emu(config: GatewayConfig) -> Emulator:
    return Emulator.from_config(config)


@pytest.fixture
def gw(config: GatewayConfig, emu: Emulator) -> Iterator[Gateway]:
    with Gateway(config, transport=InProcessTransport(emu.respond)) as g:
        yield g


def _sim(emu: Emulator) -> D360Manage:
    sim = emu.sims[CLOUD]
    assert isinstance(sim, D360Manage)
    return sim


def _raw(emu: Emulator, method: str, url: str, body: Any = None, **headers: str) -> Any:
    hdrs = {"X-API-Key": D360_PARTNER_KEY, **headers}
    req = (
        HttpRequest(method, url, hdrs)
        if body is None
        else HttpRequest.for_json(method, url, body, hdrs)
    )
    resp = emu.respond(req)
    return resp.status_code, json.loads(resp.content)


def test_deploy_lifecycle_and_status_webhooks(gw: Gateway, emu: Emulator) -> None:
    first = gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"], sender=CLOUD)
    again = gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"], sender=CLOUD)
    changed = gw.flows.deploy("signup", CHANGED, categories=["SIGN_UP"], sender=CLOUD)
    assert [r.action for r in (first, again, changed)] == ["created", "unchanged", "updated"]
    assert all(r.published for r in (first, again, changed))
    assert gw.flows.download(first.flow_id or "", sender=CLOUD) == CHANGED
    assert gw.flows.deprecate(first.flow_id or "", sender=CLOUD)
    events = [
        e
        for call in _sim(emu).flow_callbacks()
        for e in gw.handle_webhook(CLOUD, call.body, call.headers)
    ]
    moves = [(e.old_status, e.new_status) for e in events if isinstance(e, FlowStatusChanged)]
    assert moves == [
        (None, "DRAFT"), ("DRAFT", "PUBLISHED"), ("PUBLISHED", "DRAFT"),
        ("DRAFT", "PUBLISHED"), ("PUBLISHED", "DEPRECATED"),
    ]  # fmt: skip
    assert _sim(emu).flow_callbacks() == []  # drained


def test_a_frozen_published_flow_is_cloned(gw: Gateway, emu: Emulator) -> None:
    first = gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"], sender=CLOUD)
    _sim(emu).flow_store.get(first.flow_id or "").frozen = True
    result = gw.flows.deploy("signup", CHANGED, categories=["SIGN_UP"], sender=CLOUD)
    assert (result.action, result.published) == ("cloned", True)
    assert result.flow_id != first.flow_id
    assert gw.flows.get(result.flow_id or "", sender=CLOUD).name == "signup (1)"


def test_lifecycle_refusals_are_typed(gw: Gateway) -> None:
    info = gw.flows.create("draft", ["OTHER"], sender=CLOUD)
    with pytest.raises(FlowPublishFailed) as publish:
        gw.flows.publish(info.id, sender=CLOUD)
    assert publish.value.code == 139002
    with pytest.raises(FlowDeprecateFailed):
        gw.flows.deprecate(info.id, sender=CLOUD)
    with pytest.raises(NameTaken):
        gw.flows.create("draft", ["OTHER"], sender=CLOUD)
    live = gw.flows.create("live", ["OTHER"], flow_json=FLOW, publish=True, sender=CLOUD)
    assert live.status == "PUBLISHED"
    with pytest.raises(FlowDeleteFailed):
        gw.flows.delete(live.id, sender=CLOUD)
    assert gw.flows.delete(info.id, sender=CLOUD)
    with pytest.raises(InvalidRequest):
        gw.flows.get(info.id, sender=CLOUD)


def test_upload_reports_the_emulators_validation_errors(gw: Gateway) -> None:
    info = gw.flows.create("bad", ["OTHER"], sender=CLOUD)
    broken = TEXT.replace('"7.1"', '"1.0"')
    [issue] = gw.flows.update_json(info.id, broken, sender=CLOUD)
    assert (issue.error, issue.path, issue.rule) == (
        "UNSUPPORTED_FLOW_JSON_VERSION",
        "version",
        "provider",
    )
    assert issue.line == 2


def test_list_pages_by_offset(gw: Gateway, emu: Emulator) -> None:
    for n in range(55):
        _sim(emu).flow_store.create(f"flow {n}", ["OTHER"])
    names = [f.name for f in gw.flows.list(sender=CLOUD)]
    assert names == [f"flow {n}" for n in range(55)]


def test_preview_and_assets(gw: Gateway) -> None:
    info = gw.flows.create("p", ["OTHER"], flow_json=FLOW, sender=CLOUD)
    one = gw.flows.preview(info.id, sender=CLOUD)
    assert one == gw.flows.preview(info.id, sender=CLOUD)
    rotated = gw.flows.preview(info.id, sender=CLOUD, invalidate=True)
    assert rotated.url != one.url
    assert rotated.expires_at is not None
    [asset] = gw.flows.assets(info.id, sender=CLOUD)
    assert asset.download_url
    assert asset.download_url.startswith("/dialog360_cloud/flow_assets/")


def test_partner_auth_and_accounts(emu: Emulator, config: GatewayConfig) -> None:
    assert _raw(emu, "GET", f"{HUB}/flows", **{"X-API-Key": "wrong"})[0] == 401
    assert _raw(emu, "GET", f"{HUB}/flows", **{"X-API-Key": D360_KEY})[0] == 401
    other = HUB.replace("exampleWA", "otherWA")
    assert _raw(emu, "GET", f"{other}/flows")[0] == 404
    emu.sims[CLOUD].account["partner_api_key"] = "rotated"
    transport = InProcessTransport(emu.respond)
    with Gateway(config, transport=transport) as gw, pytest.raises(AuthenticationError):
        gw.flows.list(sender=CLOUD)


def test_the_hub_holds_to_the_documented_bodies(emu: Emulator) -> None:
    status, body = _raw(emu, "POST", f"{HUB}/flows", {"name": "x", "categories": ["OTHER"],
                                                      "flow_json": TEXT})  # fmt: skip
    assert status == 400
    assert "flow_json" in body["meta"]["developer_message"]
    status, body = _raw(emu, "POST", f"{HUB}/flows", {"name": "x", "categories": ["OTHER"]})
    assert status == 200
    upload = f"{HUB}/flows/{body['id']}/assets"
    assert _raw(emu, "POST", upload, {"file": TEXT})[0] == 400  # JSON, not multipart
    status, body = _raw(emu, "POST", f"{HUB}/flows/1/publish")
    assert status == 400
    assert json.loads(body["meta"]["error"])["error"]["code"] == 100


def test_migrate_knows_only_this_account(gw: Gateway) -> None:
    gw.flows.create("a", ["OTHER"], sender=CLOUD)
    result = gw.flows.migrate("exampleWA", ("a",), sender=CLOUD)
    assert (result.migrated, result.failed) == ((), (("a", "4233041", "Flow name exists"),))
    with pytest.raises(InvalidRequest):
        gw.flows.migrate("elsewhereWA", sender=CLOUD)


def test_metadata_updates_are_not_offered(gw: Gateway) -> None:
    with pytest.raises(UnsupportedFeature, match="360dialog hub"):
        gw.flows.update_metadata("1", sender=CLOUD, flow_name="x")


@pytest.mark.parametrize("provider", [CLOUD, ONPREM])
def test_templates_list_get_delete(gw: Gateway, emu: Emulator, provider: str) -> None:
    sim = emu.sims[provider]
    assert isinstance(sim, D360Manage)
    body = [{"type": "BODY", "text": "Hi"}]
    en = sim.template_store.add("signup_flow", "en_US", "MARKETING", body)
    sim.template_store.add("signup_flow", "pt_BR", "MARKETING", body)
    for n in range(60):
        sim.template_store.add(f"t{n}", "en_US", "UTILITY", body, status="PENDING")
    assert len(gw.templates.list(sender=provider)) == 62
    found = gw.templates.list(sender=provider, template_name="signup_flow", language="en_US")
    assert [(t.id, t.language) for t in found] == [(en["id"], "en_US")]
    assert gw.templates.get(en["id"], sender=provider).name == "signup_flow"
    with pytest.raises(UnsupportedFeature, match="every language"):
        gw.templates.delete("signup_flow", language="en_US", sender=provider)
    assert gw.templates.delete("signup_flow", sender=provider)
    assert gw.templates.list(sender=provider, template_name="signup_flow") == []
    with pytest.raises(InvalidRequest):
        gw.templates.delete("signup_flow", sender=provider)
    with pytest.raises(InvalidRequest):
        gw.templates.get(en["id"], sender=provider)


def test_created_templates_are_listed(gw: Gateway) -> None:
    from gateway.model import FlowTemplate

    tpl = FlowTemplate(
        name="booking", language="en_US", category="MARKETING", body="Book", button_text="Go",
        flow_id="1", navigate_screen="S",
    )  # fmt: skip
    receipt = gw.create_template(tpl, sender=CLOUD)
    [info] = gw.templates.list(sender=CLOUD, template_name="booking")
    assert (info.id, info.status) == (receipt.template_id, "PENDING")


def test_on_premise_has_no_flows(gw: Gateway, emu: Emulator) -> None:
    with pytest.raises(UnsupportedFeature, match="WhatsApp Manager or the 360dialog hub"):
        gw.flows.list(sender=ONPREM)
    onprem_hub = HUB.replace(CLOUD, ONPREM)
    assert _raw(emu, "GET", f"{onprem_hub}/flows", **{"D360-API-KEY": D360_KEY})[0] == 404
