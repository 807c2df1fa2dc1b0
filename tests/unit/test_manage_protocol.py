"""The management protocol (gateway.manage_protocol) against a fake provider.

The fake is an adapter whose requests carry the operation and whose "server" is a dict
(the transport answers 200 to anything; parse_manage applies the operation to the store).
What is checked is the protocol's own logic: paging, deploy's decisions (create, update
only what changed, clone on 139001, publish, idempotence), positions, preview URLs.
Provider wire formats are checked in each provider's contract tests.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gateway import Gateway
from gateway.errors import FlowUpdateFailed, UnsupportedFeature
from gateway.events import FlowStatus
from gateway.flowjson.issues import FlowJSONIssue
from gateway.http import HttpRequest, HttpResponse
from gateway.manage import (
    FlowAsset,
    FlowAssets,
    FlowCreate,
    FlowDownload,
    FlowInfo,
    FlowJSONInvalid,
    FlowList,
    FlowPreview,
    FlowPreviewGet,
    FlowPublish,
    FlowUpdateJson,
    ManageOp,
    Page,
)
from gateway.transport import HttpxTransport
from providers.meta_cloud import MetaCloudAdapter
from tests.conftest import META_SETTINGS
from tests.flows import CHANGED, FLOW, TEXT


@dataclass
class Store:
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    page_size: int = 2
    frozen: set[str] = field(default_factory=set)  # published flows that cannot be edited
    ids: Any = field(default_factory=lambda: itertools.count(100))
    assets: bool = True
    clones: bool = True

    def info(self, fid: str) -> FlowInfo:
        f = self.flows[fid]
        return FlowInfo(provider="fake", sender="main", id=fid, name=f["name"],
                        status=f["status"], categories=("OTHER",))  # fmt: skip


STORE = Store()


class FakeAdapter(MetaCloudAdapter):
    """Meta's adapter with its management calls answered from STORE."""

    def build_manage(self, op: ManageOp[Any]) -> HttpRequest:
        return HttpRequest("POST", f"https://fake.test/{op.name}", json=op)

    def parse_manage(self, op: ManageOp[Any], resp: HttpResponse) -> Any:
        s = STORE
        s.calls.append(op.name)
        if isinstance(op, FlowList):
            ids = sorted(s.flows)
            start = int(op.after or 0)
            more = start + s.page_size < len(ids)
            items = tuple(s.info(i) for i in ids[start : start + s.page_size])
            return Page(items, str(start + s.page_size) if more else None)
        if isinstance(op, FlowCreate):
            if op.clone_flow_id and not s.clones:
                raise UnsupportedFeature("fake", "clone_flow_id")
            fid = str(next(s.ids))
            source = s.flows[op.clone_flow_id]["json"] if op.clone_flow_id else op.flow_json
            s.flows[fid] = {"name": op.flow_name, "status": "DRAFT", "json": source}
            return FlowInfo(provider="fake", sender="main", id=fid, name=None, status=None)
        if isinstance(op, FlowUpdateJson):
            if op.flow_id in s.frozen:
                raise FlowUpdateFailed("cannot edit", provider="fake", code=139001)
            s.flows[op.flow_id].update(json=op.flow_json, status="DRAFT")
            if "BROKEN" in op.flow_json:
                return (FlowJSONIssue("INVALID_PROPERTY", "error", "no", "screens[0].title"),)
            return ()
        if isinstance(op, FlowAssets):
            if not s.assets:
                raise UnsupportedFeature("fake", op.name)
            return (FlowAsset(name="flow.json", asset_type="FLOW_JSON",
                              download_url=f"https://cdn.test/{op.flow_id}"),)  # fmt: skip
        if isinstance(op, FlowDownload):
            return s.flows[op.url.rsplit("/", 1)[1]]["json"]
        if isinstance(op, FlowPublish):
            s.flows[op.flow_id]["status"] = "PUBLISHED"
            return True
        if isinstance(op, FlowPreviewGet):
            url = f"https://business.facebook.com/wa/manage/flows/{op.flow_id}/preview/?token=t"
            return FlowPreview(flow_id=op.flow_id, url=url, expires_at=None)
        raise AssertionError(op)


@pytest.fixture
def gw() -> Any:
    global STORE
    STORE = Store()
    transport = HttpxTransport(httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={}))))  # fmt: skip
    with Gateway({"main": FakeAdapter.from_settings(**META_SETTINGS)}, transport=transport) as g:
        yield g


def test_list_follows_every_page(gw: Gateway) -> None:
    for n in range(5):
        STORE.flows[str(n)] = {"name": f"f{n}", "status": "DRAFT", "json": "{}"}
    assert [f.name for f in gw.flows.list()] == [f"f{n}" for n in range(5)]
    assert STORE.calls == ["flows.list"] * 3


def test_a_first_deploy_creates_and_publishes(gw: Gateway) -> None:
    result = gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
    assert (result.action, result.published, result.status) == ("created", True, "PUBLISHED")
    assert STORE.calls == ["flows.list", "flows.create", "flows.publish"]
    [stored] = STORE.flows.values()
    assert stored == {"name": "signup", "status": "PUBLISHED", "json": TEXT}


def test_the_same_file_again_changes_nothing(gw: Gateway) -> None:
    gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
    STORE.calls.clear()
    again = gw.flows.deploy("signup", json.dumps(FLOW), categories=["SIGN_UP"])  # reformatted
    assert (again.action, again.published) == ("unchanged", True)
    assert STORE.calls == ["flows.list", "flows.assets", "flows.download"]  # reads only


def test_a_change_is_uploaded_and_published_again(gw: Gateway) -> None:
    first = gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
    STORE.calls.clear()
    result = gw.flows.deploy("signup", CHANGED, categories=["SIGN_UP"])
    assert (result.action, result.flow_id, result.published) == ("updated", first.flow_id, True)
    assert STORE.calls[-2:] == ["flows.update_json", "flows.publish"]
    assert STORE.flows[first.flow_id or ""]["json"] == CHANGED


def test_an_uneditable_published_flow_is_cloned_and_the_clone_published(gw: Gateway) -> None:
    first = gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
    STORE.frozen.add(first.flow_id or "")
    result = gw.flows.deploy("signup", CHANGED, categories=["SIGN_UP"])
    assert (result.action, result.name, result.published) == ("cloned", "signup (1)", True)
    assert result.flow_id != first.flow_id
    assert any("139001" in n and "signup (1)" in n for n in result.notes)
    again = gw.flows.deploy("signup", CHANGED, categories=["SIGN_UP"])
    assert (again.action, again.flow_id) == ("unchanged", result.flow_id)  # the clone is found


def test_without_cloning_the_new_version_is_created_anew(gw: Gateway) -> None:
    first = gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
    STORE.frozen.add(first.flow_id or "")
    STORE.clones = False
    result = gw.flows.deploy("signup", CHANGED, categories=["SIGN_UP"])
    assert (result.action, result.name, result.published) == ("cloned", "signup (1)", True)
    assert "the provider cannot clone: created it anew" in result.notes
    assert STORE.flows[result.flow_id or ""]["json"] == CHANGED


def test_a_deprecated_flow_keeps_its_name_so_a_new_one_gets_a_suffix(gw: Gateway) -> None:
    STORE.flows["7"] = {"name": "signup", "status": "DEPRECATED", "json": TEXT}
    result = gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"], publish=False)
    assert (result.action, result.name, result.published) == ("created", "signup (1)", False)
    assert "left as a draft (publish=False)" in result.notes


def test_local_errors_stop_before_any_request(gw: Gateway) -> None:
    broken = TEXT.replace('"terminal": true', '"terminal": false')
    with pytest.raises(FlowJSONInvalid) as info:
        gw.flows.deploy("signup", broken, categories=["SIGN_UP"])
    assert info.value.issues
    assert info.value.issues[0].line is not None
    assert STORE.calls == []


def test_provider_errors_come_back_at_their_place_in_the_file(gw: Gateway) -> None:
    gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
    broken = CHANGED.replace('"Hello again"', '"BROKEN"')
    result = gw.flows.deploy("signup", broken, categories=["SIGN_UP"])
    assert (result.action, result.published, result.ok) == ("updated", False, False)
    [issue] = result.issues
    line = broken.splitlines()[issue.line - 1 if issue.line else 0]
    assert '"title"' in line
    assert "not published: the provider found errors in the JSON" in result.notes


def test_without_stored_json_deploy_uploads_and_says_why(gw: Gateway) -> None:
    gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
    STORE.assets = False
    result = gw.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
    assert result.action == "updated"
    assert any("cannot show the stored JSON" in n for n in result.notes)


def test_preview_adds_the_preview_parameters(gw: Gateway) -> None:
    got = gw.flows.preview("5", interactive=True, flow_action="navigate", screen="WELCOME",
                           data={"a": 1}, flow_token="tok")  # fmt: skip
    query = dict(httpx.URL(got.url).params)
    assert query["token"] == "t"  # the provider's own parameters are kept
    assert query["interactive"] == "true"
    assert json.loads(query["flow_action_payload"]) == {"screen": "WELCOME", "data": {"a": 1}}
    assert (query["flow_action"], query["flow_token"]) == ("navigate", "tok")


def test_async_twin_deploys_alike() -> None:
    import asyncio

    from gateway import AsyncGateway
    from gateway.transport import AsyncHttpxTransport

    global STORE
    STORE = Store()

    async def go() -> tuple[str, str]:
        transport = AsyncHttpxTransport(httpx.AsyncClient(transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json={}))))  # fmt: skip
        adapters = {"main": FakeAdapter.from_settings(**META_SETTINGS)}
        async with AsyncGateway(adapters, transport=transport) as g:
            first = await g.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
            again = await g.flows.deploy("signup", TEXT, categories=["SIGN_UP"])
        return first.action, again.action

    assert asyncio.run(go()) == ("created", "unchanged")
    assert STORE.flows
    assert all(f["status"] == FlowStatus.PUBLISHED for f in STORE.flows.values())


def test_templates_create_is_what_create_template_does() -> None:
    """``gw.templates.create`` (ARCHITECTURE §10) and its shortcut ``gw.create_template``
    send the same request and read the same receipt."""
    from gateway.model import FlowTemplate
    from providers import get_adapter

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "9", "status": "PENDING", "category": "MARKETING"})

    tpl = FlowTemplate(name="signup_tpl", language="en_US", category="MARKETING", body="Join",
                       button_text="Sign up", flow_id="1", navigate_screen="WELCOME")  # fmt: skip
    transport = HttpxTransport(httpx.Client(transport=httpx.MockTransport(answer)))
    with Gateway({"main": get_adapter("meta_cloud", **META_SETTINGS)}, transport=transport) as g:
        receipts = [g.templates.create(tpl), g.create_template(tpl)]
    assert receipts[0] == receipts[1]
    assert (receipts[0].template_id, receipts[0].status) == ("9", "PENDING")
    assert seen[0].content == seen[1].content
    assert seen[0].url.path.endswith("/message_templates")
