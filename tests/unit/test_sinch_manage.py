"""Sinch management: templates through the Provisioning API, Flows refused.

``tests/contract/sinch/manage/*.json`` hold the documented exchanges, one per file:
``{"source", "description", "op": {"type": <gateway.manage class>, ...fields},
"request": {method, url}, "response": {status, headers?, body}, "expected": ...}`` where
``expected`` is ``{"items": [...], "after"}`` (a list), ``{"item": {...}}`` (a get),
``{"result": ...}`` or ``{"error": <class name>, "code", "message_contains"?, "retry_after"?}``.
A template is compared on id, name, language, status, category, quality, rejected_reason
and how many components it has.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import respx

from gateway import errors as gw_errors
from gateway import manage
from gateway.errors import UnsupportedFeature
from gateway.http import HttpResponse
from gateway.manage import (
    FlowCreate,
    FlowGet,
    FlowList,
    FlowPublish,
    ManageOp,
    TemplateDelete,
    TemplateGet,
    TemplateInfo,
    TemplateList,
)
from gateway.model import FlowMessage, TemplateMedia, TemplateRef
from providers import get_adapter
from providers.sinch_manage import FLOWS_ALTERNATIVE
from tests.conftest import PROVIDERS

FIXTURES = sorted((Path(__file__).parents[1] / "contract" / "sinch" / "manage").glob("*.json"))
FLOW_JSON = '{"version": "7.1", "screens": [{"id": "A", "title": "A", "terminal": true, '
FLOW_JSON += '"layout": {"type": "SingleColumnLayout", "children": [{"type": "Footer", '
FLOW_JSON += '"label": "Go", "on-click-action": {"name": "complete", "payload": {}}}]}}]}'


def _adapter(**extra: Any) -> Any:
    return get_adapter("sinch", **{**PROVIDERS["sinch"], **extra}).for_sender("main")


def _op(spec: dict[str, Any]) -> ManageOp[Any]:
    fields = dict(spec)
    cls = getattr(manage, fields.pop("type"))
    op: ManageOp[Any] = cls(**fields)
    return op


def _view(t: TemplateInfo) -> dict[str, Any]:
    keys = ("id", "name", "language", "status", "category", "quality", "rejected_reason")
    return {**{k: getattr(t, k) for k in keys}, "components": len(t.components)}


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_documented_exchange(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert case["source"]
    assert case["description"]
    adapter, op = _adapter(), _op(case["op"])
    request = adapter.build_manage(op)
    assert (request.method, request.url) == (case["request"]["method"], case["request"]["url"])
    assert request.content == b""
    answer = case["response"]
    resp = HttpResponse(
        answer["status"], answer.get("headers", {}), json.dumps(answer["body"]).encode()
    )
    expected = case["expected"]
    if "error" in expected:
        with pytest.raises(getattr(gw_errors, expected["error"])) as caught:
            adapter.parse_manage(op, resp)
        assert caught.value.code == expected["code"]
        assert expected.get("message_contains", "") in str(caught.value)
        if "retry_after" in expected:
            assert caught.value.retry_after == expected["retry_after"]
        return
    result = adapter.parse_manage(op, resp)
    if "items" in expected:
        assert [_view(t) for t in result.items] == expected["items"]
        assert result.after == expected["after"]
    elif "item" in expected:
        assert _view(result) == expected["item"]
        assert (result.provider, result.sender) == ("sinch", "main")
    else:
        assert result == expected["result"]


def test_basic_auth_carries_its_own_header_and_oauth_leaves_it_to_the_gateway() -> None:
    assert "Authorization" not in _adapter().build_manage(TemplateList()).headers
    basic = _adapter(auth="basic").build_manage(TemplateList())
    assert basic.headers["Authorization"].startswith("Basic ")


def test_provisioning_base_url_is_a_setting() -> None:
    request = _adapter(provisioning_base_url="http://emu/sinch/").build_manage(TemplateList())
    assert request.url.startswith("http://emu/sinch/v1/projects/proj-1234/whatsapp/templates?")


def test_page_size_is_clamped_to_sinchs_range() -> None:
    assert "pageSize=1000" in _adapter().build_manage(TemplateList(limit=5000)).url
    assert "pageSize=1&" in _adapter().build_manage(TemplateList(limit=0)).url + "&"


def test_an_unknown_status_is_filtered_on_each_page() -> None:
    url = _adapter().build_manage(TemplateList(status="PENDING")).url
    assert "filter" not in url
    body = {"templates": [{"name": "a", "state": "PENDING"}, {"name": "b", "state": "APPROVED"}]}
    resp = HttpResponse(200, {}, json.dumps(body).encode())
    page = _adapter().parse_manage(TemplateList(status="PENDING"), resp)
    assert [t.name for t in page.items] == ["a"]


def test_get_of_several_languages_keeps_them_all_in_raw() -> None:
    body = {"templates": [{"name": "a", "language": "EN"}, {"name": "a", "language": "PT_BR"}]}
    resp = HttpResponse(200, {}, json.dumps(body).encode())
    got = _adapter().parse_manage(TemplateGet(template_id="a"), resp)
    assert (got.language, got.raw) == ("EN", body)


def test_get_of_nothing_is_an_error() -> None:
    resp = HttpResponse(200, {}, b'{"templates": []}')
    with pytest.raises(gw_errors.ProviderError, match="no template named 'a'"):
        _adapter().parse_manage(TemplateGet(template_id="a"), resp)


def test_a_non_json_answer_is_a_typed_error() -> None:
    resp = HttpResponse(200, {}, b"<html>")
    with pytest.raises(gw_errors.ProviderError):
        _adapter().parse_manage(TemplateList(), resp)


def test_delete_by_template_id_alone_names_what_to_pass() -> None:
    with pytest.raises(UnsupportedFeature, match="pass language="):
        _adapter().build_manage(TemplateDelete(template_name="a", template_id="123"))


OPS: list[ManageOp[Any]] = [
    FlowList(),
    FlowGet(flow_id="1"),
    FlowCreate(flow_name="f", categories=("OTHER",)),
    FlowPublish(flow_id="1"),
]


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_flow_operations_name_the_alternative(op: ManageOp[Any]) -> None:
    adapter = _adapter()
    with pytest.raises(UnsupportedFeature, match="WhatsApp Manager") as caught:
        adapter.build_manage(op)
    assert FLOWS_ALTERNATIVE in str(caught.value)
    with pytest.raises(UnsupportedFeature):
        adapter.parse_manage(op, HttpResponse(200, {}, b"{}"))


def test_gw_flows_refuse_before_any_request(make_driver: Any) -> None:
    driver = make_driver({"main": _adapter()})
    flows = driver.gw.flows
    calls: list[Callable[[], Any]] = [
        lambda: flows.list(),
        lambda: flows.get("1"),
        lambda: flows.publish("1"),
        lambda: flows.create("f", ["OTHER"]),
        lambda: flows.deploy("f", FLOW_JSON, categories=["OTHER"]),
    ]
    with respx.mock(assert_all_called=False) as mock:  # no route: any request would fail
        for call in calls:
            with pytest.raises(UnsupportedFeature, match="Professional Services"):
                driver._run(call())
        assert mock.calls.call_count == 0


def test_id_media_header_is_refused_with_the_way_out() -> None:
    media = TemplateMedia(kind="video", id="4490")
    msg = FlowMessage(
        to="+46732001122", template=TemplateRef(name="t", language="en", header_media=media)
    )
    with pytest.raises(UnsupportedFeature, match="by link only"):
        _adapter().build_send(msg)


def test_named_body_parameters_are_not_declared() -> None:
    ref = TemplateRef(name="t", language="en", body_parameters={"first_name": "Ana"})
    with pytest.raises(UnsupportedFeature, match="template_named_parameters"):
        _adapter().build_send(FlowMessage(to="+46732001122", template=ref))
