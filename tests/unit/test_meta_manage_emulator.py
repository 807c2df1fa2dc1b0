"""The Meta simulator's Graph management routes, through Meta's adapter, in process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.emulator import Emulator
from gateway.emulator.sims.meta_cloud import MetaSim
from gateway.errors import FlowDeprecateFailed, FlowPublishFailed, InvalidRequest, NameTaken
from gateway.http import HttpRequest
from gateway.manage import (
    FlowAssets,
    FlowCreate,
    FlowDelete,
    FlowDeprecate,
    FlowDownload,
    FlowGet,
    FlowList,
    FlowMigrate,
    FlowPreviewGet,
    FlowPublish,
    FlowUpdateJson,
    FlowUpdateMetadata,
    ManageOp,
    TemplateDelete,
    TemplateGet,
    TemplateList,
)
from providers.meta_cloud import MetaCloudAdapter
from tests.contract.meta_cloud.kit import META_SETTINGS

GOOD = json.dumps(
    {"version": "7.1", "screens": [{"id": "A", "title": "A", "terminal": True, "layout": {
        "type": "SingleColumnLayout", "children": [{"type": "Footer", "label": "Go",
        "on-click-action": {"name": "complete", "payload": {}}}]}}]}, indent=2,
)  # fmt: skip
BAD = '{"version": "7.1", "screens": []}'


class Meta:
    def __init__(self) -> None:
        self.emu = Emulator({"meta_cloud": META_SETTINGS})
        self.adapter = MetaCloudAdapter.from_settings(
            **{**META_SETTINGS, "base_url": "http://emu/meta_cloud"}
        )

    @property
    def sim(self) -> MetaSim:
        sim = self.emu.sims["meta_cloud"]
        assert isinstance(sim, MetaSim)
        return sim

    def __call__(self, op: ManageOp[Any]) -> Any:
        req = self.adapter.build_manage(op)
        return self.adapter.parse_manage(op, self.emu.respond(req))


@pytest.fixture
def meta() -> Meta:
    return Meta()


def test_lifecycle_and_its_refusals(meta: Meta) -> None:
    info = meta(FlowCreate(flow_name="f", categories=("OTHER",), flow_json=BAD))
    assert [i.error for i in info.validation_errors] == ["MIN_ITEMS_REQUIRED"]
    with pytest.raises(FlowPublishFailed):
        meta(FlowPublish(flow_id=info.id))  # invalid JSON
    with pytest.raises(FlowDeprecateFailed):
        meta(FlowDeprecate(flow_id=info.id))  # not published
    assert meta(FlowUpdateJson(flow_id=info.id, flow_json=GOOD)) == ()
    assert meta(FlowPublish(flow_id=info.id)) is True
    assert meta(FlowUpdateMetadata(flow_id=info.id, categories=("SURVEY",))) is True
    got = meta(FlowGet(flow_id=info.id))
    assert (got.status, got.categories, got.json_version) == ("DRAFT", ("SURVEY",), "7.1")
    assert meta(FlowDelete(flow_id=info.id)) is True
    with pytest.raises(InvalidRequest, match="does not exist"):
        meta(FlowGet(flow_id=info.id))


def test_names_are_unique(meta: Meta) -> None:
    meta(FlowCreate(flow_name="f", categories=("OTHER",)))
    with pytest.raises(NameTaken):
        meta(FlowCreate(flow_name="f", categories=("OTHER",)))


def test_paging_assets_download_and_preview(meta: Meta) -> None:
    ids = [meta(FlowCreate(flow_name=f"f{n}", categories=("OTHER",), flow_json=GOOD)).id
           for n in range(3)]  # fmt: skip
    first = meta(FlowList(limit=2))
    second = meta(FlowList(limit=2, after=first.after))
    assert [f.id for f in (*first.items, *second.items)] == ids
    assert second.after is None
    [asset] = meta(FlowAssets(flow_id=ids[0]))
    assert meta(FlowDownload(url=asset.download_url)) == GOOD
    one, again = meta(FlowPreviewGet(flow_id=ids[1])), meta(FlowPreviewGet(flow_id=ids[1]))
    assert one.url == again.url
    assert one.expires_at is not None
    assert meta(FlowPreviewGet(flow_id=ids[1], invalidate=True)).url != one.url


def test_the_upload_must_be_metas_multipart(meta: Meta) -> None:
    info = meta(FlowCreate(flow_name="f", categories=("OTHER",)))
    url = f"http://emu/meta_cloud/v24.0/{info.id}/assets"
    headers = dict(meta.adapter.build_manage(FlowGet(flow_id=info.id)).headers)
    resp = meta.emu.respond(HttpRequest.for_json("POST", url, {"file": GOOD}, headers))
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == 100


def test_migration_copies_by_name(meta: Meta) -> None:
    source = meta.sim.flows("999")
    published = source.create("booking", ["APPOINTMENT_BOOKING"], flow_json=GOOD, publish=True)
    meta(FlowCreate(flow_name="lead", categories=("OTHER",)))
    source.create("lead", ["OTHER"])
    got = meta(FlowMigrate(source_account_id="999", flow_names=("booking", "lead")))
    [(name, source_id, new_id)] = got.migrated
    assert (name, source_id) == ("booking", published.id)
    assert meta(FlowGet(flow_id=new_id)).status == "PUBLISHED"
    assert [(n, c) for n, c, _ in got.failed] == [("lead", "4233041")]


def test_templates_list_get_delete(meta: Meta) -> None:
    store = meta.sim.templates
    en = store.add("signup", "en_US", "MARKETING", [{"type": "BODY", "text": "Hi"}])
    store.add("signup", "pt_BR", "MARKETING", [])
    store.add("other", "en_US", "UTILITY", [], status="REJECTED")
    page = meta(TemplateList(template_name="signup"))
    assert [(t.name, t.language) for t in page.items] == [("signup", "en_US"), ("signup", "pt_BR")]
    assert [t.name for t in meta(TemplateList(status="REJECTED")).items] == ["other"]
    assert meta(TemplateGet(template_id=en["id"])).components == ({"type": "BODY", "text": "Hi"},)
    assert meta(TemplateDelete(template_name="signup", template_id=en["id"])) is True
    assert [t.language for t in meta(TemplateList(template_name="signup")).items] == ["pt_BR"]
    with pytest.raises(InvalidRequest, match="not found"):
        meta(TemplateDelete(template_name="nothing"))


def test_every_status_change_queues_a_signed_flows_webhook(meta: Meta) -> None:
    meta.emu.set_webhook("meta_cloud", "http://127.0.0.1:9/hooks")
    info = meta(FlowCreate(flow_name="f", categories=("OTHER",), flow_json=GOOD, publish=True))
    meta(FlowDeprecate(flow_id=info.id))
    calls = meta.emu.take_webhooks()
    values = [json.loads(c.body)["entry"][0]["changes"][0] for c in calls]
    assert [v["field"] for v in values] == ["flows", "flows"]
    assert [(v["value"].get("old_status"), v["value"]["new_status"]) for v in values] == [
        (None, "PUBLISHED"), ("PUBLISHED", "DEPRECATED"),
    ]  # fmt: skip
    assert all(c.headers["x-hub-signature-256"].startswith("sha256=") for c in calls)
    assert meta.emu.take_webhooks() == []
