"""Meta's Graph management calls (providers.meta_manage) against documented payloads.

Each file in tests/contract/meta_cloud/manage/ is one case: ``op`` (the operation's class
name in ``type`` and its fields), the ``request`` Meta documents (method, exact URL, and
``json`` or multipart ``form`` parts; ``no_auth`` when the access token must not go),
the ``response`` (``status_code`` with ``body`` or ``body_text``) and what the adapter
makes of it: ``expected`` (a view of the result below) or ``{"error": class, "code"}``.
Each case names its ``source``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import errors as gw_errors
from gateway import manage
from gateway.client import Gateway
from gateway.errors import ConfigError, UnsupportedFeature
from gateway.http import HttpResponse
from gateway.manage import FlowInfo, FlowList, FlowPreview, MigrationResult, Page, TemplateInfo
from gateway.transport import HttpxTransport
from providers.meta_cloud import MetaCloudAdapter
from tests.contract.meta_cloud.kit import META_SETTINGS, META_TOKEN

CASES = sorted((Path(__file__).parents[1] / "contract" / "meta_cloud" / "manage").glob("*.json"))
TUPLES = ("categories", "flow_names")


def _op(spec: dict[str, Any]) -> Any:
    fields = {k: tuple(v) if k in TUPLES else v for k, v in spec.items() if k != "type"}
    return getattr(manage, spec["type"])(**fields)


def _issue(i: Any) -> dict[str, Any]:
    return {"error": i.error, "path": i.path, "line": i.line, "column": i.column}


def _view(result: Any) -> Any:
    if isinstance(result, Page):
        return {"items": [_view(i) for i in result.items], "after": result.after}
    if isinstance(result, FlowInfo):
        out: dict[str, Any] = {"id": result.id}
        if result.name is not None:
            out.update(
                name=result.name, status=str(result.status), categories=list(result.categories)
            )
        out["issues"] = [_issue(i) for i in result.validation_errors]
        for key in ("json_version", "data_api_version", "endpoint_uri"):
            if getattr(result, key) is not None:
                out[key] = getattr(result, key)
        if result.health is not None:
            out["health"] = result.health["can_send_message"]
        return out
    if isinstance(result, FlowPreview):
        return {
            "url": result.url,
            "expires_at": result.expires_at.isoformat() if result.expires_at else None,
        }
    if isinstance(result, MigrationResult):
        return {
            "migrated": [list(m) for m in result.migrated],
            "failed": [list(f) for f in result.failed],
        }
    if isinstance(result, TemplateInfo):
        out = {"id": result.id, "name": result.name, "language": result.language,
               "status": result.status, "category": result.category, "quality": result.quality,
               "components": len(result.components)}  # fmt: skip
        if result.rejected_reason:
            out["rejected_reason"] = result.rejected_reason
        return out
    if isinstance(result, tuple):
        return [_view(i) for i in result]
    if isinstance(result, manage.FlowAsset):
        return {
            "name": result.name,
            "asset_type": result.asset_type,
            "download_url": result.download_url,
        }
    if type(result).__name__ == "FlowJSONIssue":
        return _issue(result)
    return result


def _part(p: Any) -> dict[str, Any]:
    value = p.value.decode() if isinstance(p.value, bytes) else p.value
    shown = {"name": p.name, "value": value, "filename": p.filename, "content_type": p.content_type}
    return {k: v for k, v in shown.items() if v is not None}


def _response(case: dict[str, Any]) -> HttpResponse:
    r = case["response"]
    content = r["body_text"].encode() if "body_text" in r else json.dumps(r["body"]).encode()
    return HttpResponse.of(r["status_code"], {"content-type": "application/json"}, content)


@pytest.fixture
def adapter() -> MetaCloudAdapter:
    return MetaCloudAdapter.from_settings(**META_SETTINGS)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_documented_request_and_answer(adapter: MetaCloudAdapter, path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert case["source"]
    op = _op(case["op"])
    req = adapter.build_manage(op)
    want = case["request"]
    assert (req.method, req.url) == (want["method"], want["url"])
    if want.get("no_auth"):
        assert "Authorization" not in req.headers
    else:
        assert req.headers["Authorization"] == f"Bearer {META_TOKEN}"
    assert req.json == want.get("json")
    form = [_part(p) for p in req.form]
    assert form == want.get("form", [])
    expected = case["expected"]
    if isinstance(expected, dict) and "error" in expected and set(expected) == {"error", "code"}:
        with pytest.raises(getattr(gw_errors, expected["error"])) as info:
            adapter.parse_manage(op, _response(case))
        assert type(info.value).__name__ == expected["error"]
        assert info.value.code == expected["code"]
        return
    assert _view(adapter.parse_manage(op, _response(case))) == expected


def test_the_token_goes_only_to_the_graph_host(adapter: MetaCloudAdapter) -> None:
    same = adapter.build_manage(manage.FlowDownload(url="https://graph.facebook.com/x/flow.json"))
    assert same.headers["Authorization"] == f"Bearer {META_TOKEN}"
    relative = adapter.build_manage(manage.FlowDownload(url="/flow_assets/1/2/flow.json"))
    assert relative.url == "https://graph.facebook.com/flow_assets/1/2/flow.json"
    other = adapter.build_manage(manage.FlowDownload(url="http://graph.facebook.com/x"))
    assert "Authorization" not in other.headers  # another scheme is another origin


def test_account_calls_need_the_waba_id() -> None:
    settings = {k: v for k, v in META_SETTINGS.items() if k != "waba_id"}
    adapter = MetaCloudAdapter.from_settings(**settings)
    with pytest.raises(ConfigError, match="waba_id"):
        adapter.build_manage(FlowList())
    assert adapter.build_manage(manage.FlowGet(flow_id="1")).method == "GET"


def test_one_language_by_name_alone_is_not_a_graph_call(adapter: MetaCloudAdapter) -> None:
    with pytest.raises(UnsupportedFeature, match="template_id"):
        adapter.build_manage(manage.TemplateDelete(template_name="t", language="en_US"))


def test_code_100_without_the_name_words_stays_invalid_request(adapter: MetaCloudAdapter) -> None:
    body = {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}
    resp = HttpResponse.of(400, {}, json.dumps(body).encode())
    op = manage.FlowCreate(flow_name="x", categories=("OTHER",))
    with pytest.raises(gw_errors.InvalidRequest) as info:
        adapter.parse_manage(op, resp)
    assert not isinstance(info.value, gw_errors.NameTaken)


def test_the_multipart_upload_on_the_wire() -> None:
    """Through the Gateway and httpx: what Meta receives is multipart with the three parts."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "validation_errors": []})

    transport = HttpxTransport(httpx.Client(transport=httpx.MockTransport(answer)))
    adapter = MetaCloudAdapter.from_settings(**META_SETTINGS)
    with Gateway({"meta": adapter}, transport=transport) as gw:
        assert gw.flows.update_json("1234567890", '{"version": "7.1"}') == []
    [req] = seen
    assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = req.content.decode()
    assert 'name="asset_type"\r\n\r\nFLOW_JSON' in body
    assert 'name="file"; filename="flow.json"\r\nContent-Type: application/json' in body
    assert '{"version": "7.1"}' in body
