"""1msg's Flows, templates and public-key calls, from its documented bodies.

Each ``manage/*.json`` is one case:

* ``source`` / ``description``: where the shapes come from, and what the case shows;
* ``settings``: sender settings added to the kit's (optional);
* ``op``: the operation, ``{"type": <a gateway.manage class, or "RegisterPublicKey">,
  …its fields}`` (lists become tuples);
* ``request``: ``{method, path, query, json?}`` the adapter must build, or null when it
  must refuse before any request (then ``raises``);
* ``response``: ``{status_code, body | body_text}``, 1msg's answer;
* ``expected``: the result's view (below), or ``raises``: ``{class, match?}``.

Every case runs against the adapter alone and, where a request is made, through the
sync and async gateways over a mocked transport (exactly one request: a 501 or a
refusal is never retried).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from gateway import AsyncGateway, Gateway, RetryPolicy, RetrySettings, manage
from gateway import errors as gw_errors
from gateway import manage_protocol as mp
from gateway.flowjson.issues import FlowJSONIssue
from gateway.http import HttpRequest, HttpResponse
from gateway.transport import AsyncHttpxTransport, HttpxTransport
from providers import get_adapter
from providers.onemsg import OneMsgAdapter
from tests.contract.onemsg.kit import KIT

CASES = sorted((Path(__file__).parent / "manage").glob("*.json"))
FAST = RetryPolicy(RetrySettings(max_attempts=3, initial_backoff=0.0, retry_after_cap=0.0))


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def _adapter(case: dict[str, Any]) -> OneMsgAdapter:
    adapter = get_adapter("onemsg", **{**KIT.settings, **case.get("settings", {})})
    assert isinstance(adapter, OneMsgAdapter)
    return adapter


def _op(spec: dict[str, Any]) -> Any:
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k != "type"}
    if spec["type"] == "RegisterPublicKey":
        return fields["public_key_pem"]
    return getattr(manage, spec["type"])(**fields)


def _build(adapter: OneMsgAdapter, op: Any) -> HttpRequest:
    if isinstance(op, str):
        return adapter.build_register_public_key(op)
    return adapter.build_manage(op)


def _parse(adapter: OneMsgAdapter, op: Any, resp: HttpResponse) -> Any:
    if isinstance(op, str):
        return adapter.parse_register_public_key_response(resp)
    return adapter.parse_manage(op, resp)


def _response(spec: dict[str, Any]) -> HttpResponse:
    text = spec["body_text"] if "body_text" in spec else json.dumps(spec["body"])
    return HttpResponse.of(spec["status_code"], {"content-type": "application/json"}, text.encode())


def request_view(request: HttpRequest) -> dict[str, Any]:
    parts = urlsplit(request.url)
    view: dict[str, Any] = {
        "method": request.method,
        "path": parts.path,
        "query": dict(parse_qsl(parts.query)),
    }
    if request.content:
        view["json"] = json.loads(request.content)
    return view


def view(result: Any) -> Any:
    """The fixtures' view of a result: the fields 1msg's answer decides."""
    if isinstance(result, manage.Page):
        return {"items": [view(i) for i in result.items], "after": result.after}
    if isinstance(result, tuple):
        return [view(i) for i in result]
    if isinstance(result, FlowJSONIssue):
        keys = ("error", "path", "line", "column", "severity", "rule")
        return {k: getattr(result, k) for k in keys}
    if isinstance(result, manage.FlowInfo):
        out = {"id": result.id, "name": result.name, "status": _s(result.status)}
        out |= {"categories": list(result.categories)}
        out["validation_errors"] = [
            {"error": i.error, "path": i.path} for i in result.validation_errors
        ]
        for key in ("json_version", "data_api_version", "endpoint_uri"):
            if getattr(result, key) is not None:
                out[key] = getattr(result, key)
        return out
    if isinstance(result, manage.FlowPreview):
        expires = result.expires_at.isoformat() if result.expires_at else None
        return {"flow_id": result.flow_id, "url": result.url, "expires_at": expires}
    if isinstance(result, manage.TemplateInfo):
        keys = ("id", "name", "language", "status", "category", "rejected_reason")
        return {k: getattr(result, k) for k in keys}
    assert not dataclasses.is_dataclass(result), result
    return result


def _s(value: Any) -> Any:
    return None if value is None else str(value)


def _raises(case: dict[str, Any]) -> Any:
    spec = case["raises"]
    cls = getattr(gw_errors, spec["class"])
    return pytest.raises(cls, match=re.escape(spec["match"]) if "match" in spec else None)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_the_adapter_builds_and_reads_the_documented_bodies(path: Path) -> None:
    case = _load(path)
    adapter, op = _adapter(case), _op(case["op"])
    assert case["source"]
    assert case["description"]
    if case["request"] is None:
        with _raises(case):
            _build(adapter, op)
        return
    assert request_view(_build(adapter, op)) == case["request"]
    response = _response(case["response"])
    if "raises" in case:
        with _raises(case):
            _parse(adapter, op, response)
    else:
        assert view(_parse(adapter, op, response)) == case["expected"]


def _through(case: dict[str, Any], gw: Any) -> Any:
    op = _op(case["op"])
    if isinstance(op, str):
        return gw.register_public_key(op)
    return gw.flows._run(mp.call(gw.flows._plans.core, None, op))


CALLED = [p for p in CASES if _load(p)["request"] is not None]


@pytest.mark.parametrize("path", CALLED, ids=[p.stem for p in CALLED])
def test_through_both_gateways_once(path: Path) -> None:
    case = _load(path)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        spec = case["response"]
        text = spec["body_text"] if "body_text" in spec else json.dumps(spec["body"])
        return httpx.Response(spec["status_code"], content=text.encode())

    senders = {"main": _adapter(case)}
    client = httpx.Client(transport=httpx.MockTransport(answer))
    with Gateway(senders, transport=HttpxTransport(client), retry=FAST) as gw:
        if "raises" in case:
            with _raises(case):
                _through(case, gw)
        else:
            assert view(_through(case, gw)) == case["expected"]

    async def go() -> Any:
        aclient = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        async with AsyncGateway(senders, transport=AsyncHttpxTransport(aclient), retry=FAST) as g:
            op = _op(case["op"])
            if isinstance(op, str):
                return await g.register_public_key(op)
            return await g.flows._run(mp.call(g.flows._plans.core, None, op))

    if "raises" in case:
        with _raises(case):
            asyncio.run(go())
    else:
        assert view(asyncio.run(go())) == case["expected"]
    assert len(seen) == 2  # one request per gateway: never retried
    assert request_view(_sent(seen[0])) == case["request"]


def _sent(request: httpx.Request) -> HttpRequest:
    return HttpRequest(
        request.method, str(request.url), dict(request.headers), None, request.content
    )
