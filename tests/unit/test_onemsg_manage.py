"""The 1msg simulator's Flows, templates and public-key routes (in-process, no HTTP).

Requests are the adapter's own (so the routes agree with it) or raw where a body the
adapter never sends must be refused. The shapes are 1msg's (sims/_onemsg_flows.py cites
them); the lifecycle is the shared flow store's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.emulator import Emulator
from gateway.emulator.sims._onemsg_flows import DOCUMENTED_501, NOT_YET, routes
from gateway.emulator.sims.onemsg import OneMsgSim
from gateway.errors import FlowPublishFailed, UnsupportedFeature
from gateway.events import FlowStatusChanged
from gateway.http import HttpRequest, HttpResponse
from gateway.manage import (
    FlowCreate,
    FlowDelete,
    FlowDeprecate,
    FlowGet,
    FlowList,
    FlowPreviewGet,
    FlowPublish,
    FlowUpdateJson,
    FlowUpdateMetadata,
    ManageOp,
    TemplateDelete,
    TemplateList,
)
from providers import get_adapter
from providers.onemsg import OneMsgAdapter
from tests.contract.onemsg.kit import KIT

VALID = json.dumps(
    {
        "version": "7.1",
        "screens": [
            {
                "id": "A",
                "terminal": True,
                "layout": {"type": "SingleColumnLayout", "children": [{"type": "Footer"}]},
            }
        ],
    },
    indent=2,
)
BASE = "http://emu/onemsg"


@pytest.fixture
def emu() -> Emulator:
    return Emulator({"onemsg": dict(KIT.settings)}, clock=lambda: 1_750_000_000.0)


@pytest.fixture
def adapter() -> OneMsgAdapter:
    built = get_adapter("onemsg", **KIT.settings, base_url=BASE)
    assert isinstance(built, OneMsgAdapter)
    return built


def _sim(emu: Emulator) -> OneMsgSim:
    sim = emu.sims["onemsg"]
    assert isinstance(sim, OneMsgSim)
    return sim


def _do(emu: Emulator, adapter: OneMsgAdapter, op: ManageOp[Any]) -> Any:
    return adapter.parse_manage(op, emu.respond(adapter.build_manage(op)))


def _raw(emu: Emulator, method: str, path: str, body: Any = None, token: str = "") -> HttpResponse:
    token = token or KIT.settings["token"]
    path, _, query = path.partition("?")
    url = f"{BASE}/{KIT.settings['instance_id']}/{path}?token={token}" + (
        f"&{query}" if query else ""
    )
    if body is None:
        return emu.respond(HttpRequest(method, url))
    return emu.respond(HttpRequest.for_json(method, url, body))


def test_the_lifecycle_in_1msgs_shapes(emu: Emulator, adapter: OneMsgAdapter) -> None:
    info = _do(emu, adapter, FlowCreate(flow_name="signup", categories=("SIGN_UP",)))
    assert info.status is None  # 1msg's create echoes an id only
    flow_id = info.id
    assert _do(emu, adapter, FlowUpdateJson(flow_id=flow_id, flow_json=VALID)) == ()
    assert _do(emu, adapter, FlowPublish(flow_id=flow_id)) is True
    got = _do(emu, adapter, FlowGet(flow_id=flow_id))
    assert (got.name, str(got.status), got.categories, got.json_version) == (
        "signup", "PUBLISHED", ("SIGN_UP",), "7.1",
    )  # fmt: skip
    assert _do(emu, adapter, FlowUpdateMetadata(flow_id=flow_id, flow_name="signup v2"))
    assert str(_do(emu, adapter, FlowGet(flow_id=flow_id)).status) == "DRAFT"  # edits revert
    assert _do(emu, adapter, FlowPublish(flow_id=flow_id))
    preview = _do(emu, adapter, FlowPreviewGet(flow_id=flow_id))
    assert preview.url.startswith("https://business.facebook.com/wa/manage/flows/")
    assert preview.expires_at is not None
    assert _do(emu, adapter, FlowDeprecate(flow_id=flow_id)) is True
    page = _do(emu, adapter, FlowList())
    assert [(f.name, str(f.status)) for f in page.items] == [("signup v2", "DEPRECATED")]


def test_answers_are_1msgs_shapes(emu: Emulator, adapter: OneMsgAdapter) -> None:
    created = _raw(emu, "POST", "flows", {"name": "a", "categories": ["OTHER"],
                                         "flowJson": json.loads(VALID)})  # fmt: skip
    assert created.json() == {"id": created.json()["id"], "success": True, "validationErrors": []}
    flow_id = created.json()["id"]
    assets = _raw(emu, "PATCH", f"flows/{flow_id}/assets", {"flowJson": {"version": "1.0"}})
    body = assets.json()
    assert body["success"] is True
    assert "validation_errors" not in body
    assert {e["error"] for e in body["validationErrors"]} >= {"UNSUPPORTED_FLOW_JSON_VERSION"}
    listed = _raw(emu, "GET", "flows").json()
    assert set(listed) == {"items", "paging", "count", "total"}
    assert (listed["count"], listed["total"]) == (1, 1)
    assert _raw(emu, "POST", f"flows/{flow_id}/publish").status_code == 400


def test_lifecycle_refusals_are_metas_codes_relayed(emu: Emulator, adapter: OneMsgAdapter) -> None:
    flow_id = _do(emu, adapter, FlowCreate(flow_name="x", categories=("OTHER",))).id
    answer = _raw(emu, "POST", f"flows/{flow_id}/publish")  # no JSON yet
    assert answer.json()["error"]["code"] == 139002
    with pytest.raises(FlowPublishFailed):
        _do(emu, adapter, FlowPublish(flow_id=flow_id))
    assert _do(emu, adapter, FlowDelete(flow_id=flow_id)) is True
    assert _raw(emu, "GET", f"flows/{flow_id}").json()["error"]["code"] == 100


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("flows", {"name": "a"}, "categories"),  # required by create_flows
        ("flows", {"name": "a", "categories": ["NOPE"]}, "categories.0"),  # the enum
        ("flows", {"name": "a", "categories": ["OTHER"], "flowJson": VALID}, "flowJson"),
        ("flows", {"name": "a", "categories": ["OTHER"], "flow_json": VALID}, "flow_json"),
        ("removeTemplate", {}, "name"),
    ],
)
def test_bodies_the_generated_schemas_refuse(
    emu: Emulator, path: str, body: dict[str, Any], field: str
) -> None:
    answer = _raw(emu, "POST", path, body)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"Validation failed: {field}"), answer.json()


def test_assets_take_an_object_not_a_string(emu: Emulator, adapter: OneMsgAdapter) -> None:
    flow_id = _do(emu, adapter, FlowCreate(flow_name="x", categories=("OTHER",))).id
    answer = _raw(emu, "PATCH", f"flows/{flow_id}/assets", {"flowJson": VALID})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("Validation failed: flowJson")


def test_management_needs_the_token(emu: Emulator) -> None:
    assert _raw(emu, "GET", "flows", token="wrong").status_code == 401
    assert _raw(emu, "GET", "nothing/here").status_code == 404


@pytest.mark.parametrize("route", sorted(DOCUMENTED_501))
def test_selected_routes_answer_501_as_1msg_documents(
    emu: Emulator, adapter: OneMsgAdapter, route: str
) -> None:
    sim = _sim(emu)
    flow_id = sim.manage.flows.create("old", ["OTHER"]).id
    sim.manage.not_implemented = {route}
    ops: dict[str, ManageOp[Any]] = {
        "create": FlowCreate(flow_name="new", categories=("OTHER",)),
        "list": FlowList(),
        "assets": FlowUpdateJson(flow_id=flow_id, flow_json=VALID),
        "metadata": FlowUpdateMetadata(flow_id=flow_id, flow_name="y"),
    }
    answer = emu.respond(adapter.build_manage(ops[route]))
    assert (answer.status_code, answer.json()) == (501, {"error": NOT_YET})
    with pytest.raises(UnsupportedFeature, match="Meta Graph Flows rewrite"):
        _do(emu, adapter, ops[route])
    # the others still answer
    assert _do(emu, adapter, FlowGet(flow_id=flow_id)).id == flow_id


def test_every_route_can_be_made_501(emu: Emulator) -> None:
    _sim(emu).manage.not_implemented = set(routes())
    assert _raw(emu, "GET", "flows/1/preview").status_code == 501
    assert _raw(emu, "POST", "flows/1/publish").status_code == 501
    assert _raw(emu, "GET", "templates").status_code == 200  # templates are not Flows


def test_templates_page_by_offset_and_sort(emu: Emulator, adapter: OneMsgAdapter) -> None:
    store = _sim(emu).manage.templates
    for name, status in (("b", "APPROVED"), ("a", "REJECTED"), ("c", "PENDING")):
        store.add(name, "en", "MARKETING", [], status)
    by_name = _raw(emu, "GET", "templates?limit=2&offset=1&sort=name").json()
    assert by_name["total"] == 3
    assert [t["name"] for t in by_name["templates"]] == ["b", "c"]
    assert set(by_name["templates"][0]) >= {"name", "language", "category", "status"}
    first = _do(emu, adapter, TemplateList(limit=2))
    rest = _do(emu, adapter, TemplateList(limit=2, after=first.after))
    assert (first.after, rest.after) == ("2", None)
    assert [t.name for t in (*first.items, *rest.items)] == ["b", "a", "c"]  # by id
    assert _raw(emu, "GET", "templates?sort=size").status_code == 400


def test_remove_template_deletes_every_language(emu: Emulator, adapter: OneMsgAdapter) -> None:
    store = _sim(emu).manage.templates
    for lang in ("en", "pt_BR"):
        store.add("signup_flow", lang, "MARKETING", [])
    store.add("other", "en", "UTILITY", [])
    assert _do(emu, adapter, TemplateDelete(template_name="signup_flow")) is True
    assert [t["name"] for t in store.page(None, 10)[0]] == ["other"]
    assert _raw(emu, "POST", "removeTemplate", {"name": "signup_flow"}).status_code == 400


def test_add_template_lands_in_the_template_list(emu: Emulator) -> None:
    body = {"name": "signup_flow", "category": "MARKETING", "language": "en",
            "components": [{"type": "BODY", "text": "Sign up"}]}  # fmt: skip
    added = _raw(emu, "POST", "addTemplate", body).json()
    assert added["status"] == "PENDING"
    [listed] = _raw(emu, "GET", "templates").json()["templates"]
    assert (listed["id"], listed["name"], listed["status"]) == (
        added["id"],
        "signup_flow",
        "PENDING",
    )


def test_public_key_is_stored_and_shown(emu: Emulator, adapter: OneMsgAdapter) -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"
    answer = emu.respond(adapter.build_register_public_key(pem))
    assert adapter.parse_register_public_key_response(answer) is True
    assert _sim(emu).public_key == pem
    shown = _raw(emu, "GET", "whatsapp_business_encryption").json()
    assert shown == {"business_public_key": pem, "business_public_key_signature_status": "VALID"}


def test_status_hooks_are_metas_flows_envelope(emu: Emulator, adapter: OneMsgAdapter) -> None:
    sim = _sim(emu)
    flow_id = _do(
        emu, adapter, FlowCreate(flow_name="x", categories=("OTHER",), flow_json=VALID)
    ).id
    _do(emu, adapter, FlowPublish(flow_id=flow_id))
    calls = sim.flow_status_calls()
    assert sim.flow_status_calls() == []  # drained
    events = [
        e
        for c in calls
        for e in adapter.parse_webhook(c.body, c.headers)
        if isinstance(e, FlowStatusChanged)
    ]
    assert [(e.flow_id, e.old_status, str(e.new_status)) for e in events] == [
        (flow_id, None, "DRAFT"), (flow_id, "DRAFT", "PUBLISHED"),
    ]  # fmt: skip
    doc = json.loads(calls[0].body)
    assert doc["instanceId"] == KIT.settings["instance_id"]
    assert doc["entry"][0]["changes"][0]["field"] == "flows"
