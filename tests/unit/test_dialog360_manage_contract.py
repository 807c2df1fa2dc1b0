"""360dialog management contracts: documented requests and answers (Flows, templates).

Each JSON file under ``tests/contract/dialog360_{cloud,onprem}/manage/`` is one case:

- ``source``, ``description``: where the bodies come from (cited), what is checked;
- ``settings``: settings over the kit's (optional);
- ``op``: ``{"type": <gateway.manage class>, …its fields}``;
- ``request``: ``method``, ``url`` (exact, query included), ``headers`` (a subset),
  ``no_headers`` (must be absent), and ``json`` or ``form`` (``[{name, value,
  filename?, content_type?}]``);
- ``response``: ``status`` and ``body`` (JSON) or ``body_text``;
- ``expected``: the result (``value``; ``items``/``after`` of a page; fields of a
  FlowInfo/TemplateInfo/FlowPreview; ``issues``; ``assets``; ``migrated``/``failed``;
  ``text``), or ``error`` (class name, ``code``), or ``unsupported`` (the feature named,
  ``message_contains``) for what fails before any request.

Every case runs against the adapter alone and through a :class:`Gateway` (httpx
MockTransport answering the fixture's response to the fixture's request).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import Gateway, manage
from gateway import errors as gw_errors
from gateway.errors import UnsupportedFeature
from gateway.http import HttpRequest, HttpResponse
from gateway.manage import FlowInfo, ManageOp, Page, TemplateInfo
from gateway.manage_protocol import call
from gateway.transport import HttpxTransport
from providers import get_adapter
from providers.base import Adapter
from tests.conftest import PROVIDERS

CONTRACT = Path(__file__).resolve().parents[1] / "contract"
CASES = [
    pytest.param(provider, json.loads(f.read_text()), id=f"{provider}-{f.stem}")
    for provider in ("dialog360_cloud", "dialog360_onprem")
    for f in sorted((CONTRACT / provider / "manage").glob("*.json"))
]
TUPLES = {"categories", "flow_names"}


def _op(spec: dict[str, Any]) -> ManageOp[Any]:
    fields = {k: tuple(v) if k in TUPLES else v for k, v in spec.items() if k != "type"}
    op: ManageOp[Any] = getattr(manage, spec["type"])(**fields)
    return op


def _adapter(provider: str, case: dict[str, Any]) -> Adapter:
    return get_adapter(provider, **{**PROVIDERS[provider], **case.get("settings", {})})


def _response(case: dict[str, Any]) -> HttpResponse:
    r = case["response"]
    content = r["body_text"].encode() if "body_text" in r else json.dumps(r["body"]).encode()
    return HttpResponse.of(r["status"], {"content-type": "application/json"}, content)


def _check_request(req: HttpRequest, want: dict[str, Any]) -> None:
    assert (req.method, req.url) == (want["method"], want["url"])
    for name, value in want.get("headers", {}).items():
        assert req.headers.get(name) == value, name
    for name in want.get("no_headers", ()):
        assert name not in req.headers
    if "json" in want:
        assert json.loads(req.content) == want["json"]
    if "form" in want:
        parts = [
            {
                "name": p.name,
                "value": p.value.decode() if isinstance(p.value, bytes) else p.value,
                **({"filename": p.filename} if p.filename else {}),
                **({"content_type": p.content_type} if p.content_type else {}),
            }
            for p in req.form
        ]
        assert parts == want["form"]


def _plain(value: Any) -> Any:
    """A result as the fixtures write it (tuples as lists, datetimes as ISO)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__ if k != "raw"}
    return value


def _subset(got: dict[str, Any], want: dict[str, Any]) -> None:
    for key, value in want.items():
        assert _plain(got[key]) == value, key


def _check_result(result: Any, expected: dict[str, Any]) -> None:
    if "value" in expected:
        assert result == expected["value"]
    elif isinstance(result, Page):
        assert result.after == expected["after"]
        assert len(result.items) == len(expected["items"])
        for item, want in zip(result.items, expected["items"], strict=True):
            _subset(_plain(item), want)
    elif isinstance(result, FlowInfo | TemplateInfo | manage.FlowPreview):
        got = _plain(result)
        want = dict(expected)
        issues = want.pop("validation_errors", None)
        _subset(got, want)
        if issues is not None:
            for issue, w in zip(result.validation_errors, issues, strict=True):  # type: ignore[union-attr]
                _subset(_plain(issue), w)
    elif isinstance(result, manage.MigrationResult):
        assert _plain(result.migrated) == expected["migrated"]
        assert _plain(result.failed) == expected["failed"]
    elif "issues" in expected:
        assert len(result) == len(expected["issues"])
        for issue, w in zip(result, expected["issues"], strict=True):
            _subset(_plain(issue), w)
    elif "assets" in expected:
        assert len(result) == len(expected["assets"])
        for asset, w in zip(result, expected["assets"], strict=True):
            _subset(_plain(asset), w)
    else:
        assert result == expected["text"]


def _check_error(exc: BaseException, expected: dict[str, Any]) -> None:
    assert type(exc) is getattr(gw_errors, expected["error"])
    if "code" in expected:
        assert exc.code == expected["code"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("provider", "case"), CASES)
def test_adapter(provider: str, case: dict[str, Any]) -> None:
    adapter, op, expected = _adapter(provider, case), _op(case["op"]), case["expected"]
    if "unsupported" in expected:
        with pytest.raises(UnsupportedFeature) as info:
            adapter.build_manage(op)
        assert info.value.feature == expected["unsupported"]
        assert expected.get("message_contains", "") in str(info.value)
        return
    request = adapter.build_manage(op)
    if "request" in case:
        _check_request(request, case["request"])
    if "error" in expected:
        with pytest.raises(gw_errors.ProviderError) as err:
            adapter.parse_manage(op, _response(case))
        _check_error(err.value, expected)
    else:
        _check_result(adapter.parse_manage(op, _response(case)), expected)


@pytest.mark.parametrize(
    ("provider", "case"),
    [c for c in CASES if "unsupported" not in c.values[1]["expected"]],  # type: ignore[index]
)
def test_through_the_gateway(provider: str, case: dict[str, Any]) -> None:
    seen: list[httpx.Request] = []
    r = case["response"]

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = r["body_text"].encode() if "body_text" in r else json.dumps(r["body"]).encode()
        return httpx.Response(r["status"], content=body)

    transport = HttpxTransport(httpx.Client(transport=httpx.MockTransport(answer)))
    senders = {"s": _adapter(provider, case)}
    with Gateway(senders, transport=transport) as gw:
        flow = call(gw._core, "s", _op(case["op"]))
        try:
            result = gw._run(flow)
        except gw_errors.ProviderError as exc:
            _check_error(exc, case["expected"])
        else:
            _check_result(result, case["expected"])
    if "request" in case:
        assert str(seen[0].url) == case["request"]["url"]
        assert seen[0].method == case["request"]["method"]
