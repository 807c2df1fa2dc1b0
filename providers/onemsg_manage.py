"""1msg.io Flows and templates management (``gw.flows`` / ``gw.templates`` for ``onemsg``).

Sources: 1msg's OpenAPI contract 1.0.0 as generated into its MCP tool list
(https://github.com/1msg/1msg-mcp/blob/4a005cacc63ef74a2ad8fb2e35a14229d94079d5/src/tools.generated.ts:
``create_flows``, ``list_flows``, ``patch_flows_flow_id_assets``…, ``list_templates``,
``remove_template``) and its generated SDK (https://github.com/1msg/1msg-sdk @aee16715,
``java/docs/FlowsApi.md``, ``python/one_msg_sdk/models/*``): response shapes
``{items, paging, count, total}``, ``{success, validationErrors}``, ``{success}``.

What differs from Meta's Graph API, and why it matters here:

* ``flowJson`` is a JSON **object**, not a string: the text is parsed before it is sent,
  so the line/column 1msg (or Meta behind it) reports refer to a serialization of that
  object, never to your file. They are dropped; each issue keeps its ``path`` (Meta's
  pointers), from which :func:`gateway.manage_protocol.placed` finds it in your text.
* Create, list, assets and metadata are documented to "currently return HTTP 501 until
  the Meta Graph Flows rewrite is available": a 501 is :class:`UnsupportedFeature` quoting
  1msg's answer, never a :class:`ProviderError` (which a retry policy might repeat).
* No asset list or download is documented: ``flows.assets`` / ``flows.download`` raise
  :class:`UnsupportedFeature`, so ``deploy`` cannot compare and re-uploads (and says so).
* No clone, migration, preview invalidation or ``application_id``; templates: no get by
  id and no per-language delete (``removeTemplate`` deletes every language of a name).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from gateway.errors import (
    InvalidRequest,
    NameTaken,
    ProviderError,
    UnsupportedFeature,
)
from gateway.events import FlowStatus
from gateway.flowjson.issues import FlowJSONIssue
from gateway.http import HttpRequest, HttpResponse
from gateway.manage import (
    FlowCreate,
    FlowDelete,
    FlowDeprecate,
    FlowGet,
    FlowInfo,
    FlowList,
    FlowPreview,
    FlowPreviewGet,
    FlowPublish,
    FlowUpdateJson,
    FlowUpdateMetadata,
    ManageOp,
    Page,
    TemplateDelete,
    TemplateInfo,
    TemplateList,
)
from providers import meta_codes
from providers.base import iso_time, opt_str, unix_time

if TYPE_CHECKING:
    from providers.onemsg import OneMsgAdapter

NOT_YET = "Currently returns HTTP 501 until the Meta Graph Flows rewrite is available."
"""1msg's own words for create, list, assets and metadata (tools.generated.ts)."""

ALTERNATIVE = "manage it in WhatsApp Manager (1msg's API documents no such call)"


def _unsupported(adapter: OneMsgAdapter, op: ManageOp[Any], why: str) -> UnsupportedFeature:
    return UnsupportedFeature(adapter.name, op.name, why)


def build(adapter: OneMsgAdapter, op: ManageOp[Any]) -> HttpRequest | None:
    """The request for ``op``, or None when 1msg has no such call (the caller refuses)."""
    match op:
        case FlowCreate():
            if op.clone_flow_id is not None:
                raise _unsupported(adapter, op, "1msg documents no clone: create, then upload")
            body: dict[str, Any] = {"name": op.flow_name, "categories": list(op.categories)}
            if op.endpoint_uri is not None:
                body["endpointUri"] = op.endpoint_uri
            if op.publish:
                body["publish"] = True
            if op.flow_json is not None:
                body["flowJson"] = flow_object(adapter, op.flow_json)
            return _json(adapter, "POST", "flows", body)
        case FlowUpdateJson():
            body = {"flowJson": flow_object(adapter, op.flow_json)}
            return _json(adapter, "PATCH", f"flows/{_seg(op.flow_id)}/assets", body)
        case FlowUpdateMetadata():
            if op.application_id is not None:
                raise _unsupported(adapter, op, "1msg documents no application_id")
            meta: dict[str, Any] = {}
            if op.flow_name is not None:
                meta["name"] = op.flow_name
            if op.categories is not None:
                meta["categories"] = list(op.categories)
            if op.endpoint_uri is not None:
                meta["endpointUri"] = op.endpoint_uri
            return _json(adapter, "PATCH", f"flows/{_seg(op.flow_id)}/metadata", meta)
        case FlowGet():
            return _bare(adapter, "GET", f"flows/{_seg(op.flow_id)}")
        case FlowList():
            # 1msg documents no paging parameters for /flows; a Graph cursor it hands
            # back is followed the way its other Graph proxy (listGroups) takes one.
            return _bare(adapter, "GET", "flows", {"after": op.after} if op.after else {})
        case FlowPublish():
            return _bare(adapter, "POST", f"flows/{_seg(op.flow_id)}/publish")
        case FlowDeprecate():
            return _bare(adapter, "POST", f"flows/{_seg(op.flow_id)}/deprecate")
        case FlowDelete():
            return _bare(adapter, "DELETE", f"flows/{_seg(op.flow_id)}")
        case FlowPreviewGet():
            if op.invalidate:
                raise _unsupported(adapter, op, "1msg documents no preview invalidation")
            return _bare(adapter, "GET", f"flows/{_seg(op.flow_id)}/preview")
        case TemplateList():
            offset = int(op.after) if op.after and op.after.isdigit() else 0
            query = {"limit": str(op.limit), "offset": str(offset), "sort": "id"}
            return _bare(adapter, "GET", "templates", query, waba=False)
        case TemplateDelete():
            if op.template_id is not None or op.language is not None:
                why = "removeTemplate deletes every language of a name; delete by name only"
                raise _unsupported(adapter, op, why)
            return _json(adapter, "POST", "removeTemplate", {"name": op.template_name}, waba=False)
    return None


def parse(adapter: OneMsgAdapter, op: ManageOp[Any], resp: HttpResponse) -> Any:
    """The result of ``op`` from 1msg's answer, or raise (501 → UnsupportedFeature)."""
    body = answer(adapter, op, resp)
    match op:
        case FlowCreate():
            flow_id = opt_str(body.get("id")) or opt_str(body.get("flowId"))
            if flow_id is None:
                raise _odd(adapter, resp, "names no flow id")
            return flow_info(adapter, {**body, "id": flow_id})
        case FlowUpdateJson():
            return issues(body)
        case FlowGet():
            return flow_info(adapter, body)
        case FlowList():
            items = body.get("items", body.get("data", []))
            flows = [flow_info(adapter, i) for i in items if isinstance(i, dict) and i.get("id")]
            return Page(tuple(flows), _next_cursor(body.get("paging")))
        case FlowPreviewGet():
            return _preview(adapter, op.flow_id, body, resp)
        case FlowUpdateMetadata() | FlowPublish() | FlowDeprecate() | FlowDelete():
            return body.get("success") is not False
        case TemplateList():
            return _templates(adapter, op, body)
        case TemplateDelete():
            return True
    raise _unsupported(adapter, op, ALTERNATIVE)


def answer(adapter: OneMsgAdapter, op: ManageOp[Any], resp: HttpResponse) -> dict[str, Any]:
    """The JSON object of a successful answer; a failure raised as its class."""
    if resp.status_code == 501:
        raise _unsupported(adapter, op, f"1msg answered HTTP 501: {_words(resp)}")
    try:
        body = resp.json() if resp.content else {}
    except ValueError:
        body = None
    if (
        not resp.ok
        or not isinstance(body, dict)
        or body.get("error")
        or body.get("success") is False
    ):
        raise failure(adapter, resp)
    return body


def failure(adapter: OneMsgAdapter, resp: HttpResponse) -> ProviderError:
    """Meta's codes where 1msg relays them (139001… as FlowUpdateFailed…, a taken name as
    NameTaken); 1msg's own words otherwise."""
    exc = adapter.failure(resp)  # Meta's 139xxx codes are in meta_codes.GRAPH_CODES
    if exc.code not in (None, 100) or not meta_codes.names_taken(exc.message):
        return exc
    return NameTaken(
        exc.message, provider=adapter.name, status_code=resp.status_code, code=exc.code,
        raw=exc.raw,
    )  # fmt: skip


def _words(resp: HttpResponse) -> str:
    """What 1msg said (its ``error``/``message`` text), else its documented sentence."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        for text in (err.get("message") if isinstance(err, dict) else err, body.get("message")):
            if isinstance(text, str) and text.strip():
                return repr(text.strip())
    text = resp.text().strip()
    if text and not text.startswith(("{", "<")):
        return repr(text[:300])
    return f"its API reference says {NOT_YET!r}"


def _odd(adapter: OneMsgAdapter, resp: HttpResponse, what: str) -> ProviderError:
    return ProviderError(
        f"1msg's answer {what}: {resp.text()[:300]!r}",
        provider=adapter.name, status_code=resp.status_code, raw=resp.text(),
    )  # fmt: skip


# -- requests ---------------------------------------------------------------------------


def _seg(value: str) -> str:
    return quote(value, safe="")


def _url(adapter: OneMsgAdapter, path: str, query: Mapping[str, str], waba: bool) -> str:
    s = adapter.settings
    params = {"token": s.token.get_secret_value(), **query}
    if waba and s.waba_account_id:  # "All accept optional query wabaAccountId"
        params["wabaAccountId"] = s.waba_account_id
    return f"{s.base_url.rstrip('/')}/{_seg(s.instance_id)}/{path}?{urlencode(params)}"


def _bare(
    adapter: OneMsgAdapter,
    method: str,
    path: str,
    query: Mapping[str, str] | None = None,
    *,
    waba: bool = True,
) -> HttpRequest:
    url = _url(adapter, path, query or {}, waba)
    return HttpRequest(method, url, {"Accept": "application/json"})


def _json(
    adapter: OneMsgAdapter, method: str, path: str, body: dict[str, Any], *, waba: bool = True
) -> HttpRequest:
    return HttpRequest.for_json(method, _url(adapter, path, {}, waba), body)


def flow_object(adapter: OneMsgAdapter, text: str) -> dict[str, Any]:
    """The Flow JSON text as the object 1msg's ``flowJson`` takes."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(
            f"1msg takes flowJson as a JSON object, and this text is not JSON ({exc})",
            provider=adapter.name,
        ) from None
    if not isinstance(doc, dict):
        raise InvalidRequest("1msg takes flowJson as a JSON object", provider=adapter.name)
    return doc


# -- answers ----------------------------------------------------------------------------


def _pick(doc: Mapping[str, Any], *keys: str) -> Any:
    """The first key present: 1msg relays Graph's snake_case or writes camelCase."""
    return next((doc[k] for k in keys if doc.get(k) is not None), None)


def issues(doc: Mapping[str, Any]) -> tuple[FlowJSONIssue, ...]:
    """``validationErrors`` (the SDK's name) or Graph's ``validation_errors``, as issues
    placed by ``path`` only: 1msg's line/column number its own serialization."""
    found = _pick(doc, "validationErrors", "validation_errors") or []
    out = []
    for err in found if isinstance(found, list) else []:
        if not isinstance(err, dict):
            continue
        pointers = err.get("pointers")
        first = pointers[0] if isinstance(pointers, list) and pointers else {}
        path = first.get("path") if isinstance(first, dict) else None
        out.append(
            FlowJSONIssue(
                error=opt_str(err.get("error")) or "PROVIDER_ERROR",
                severity="warning" if err.get("severity") == "warning" else "error",
                message=opt_str(err.get("message")) or "",
                path=path if isinstance(path, str) else "",
                rule="provider",
            )
        )
    return tuple(out)


def flow_info(adapter: OneMsgAdapter, doc: Mapping[str, Any]) -> FlowInfo:
    categories = doc.get("categories")
    health = _pick(doc, "health_status", "healthStatus")
    return FlowInfo(
        provider=adapter.name,
        sender=adapter.sender,
        id=str(doc["id"]),
        name=opt_str(doc.get("name")),
        status=FlowStatus.of(doc.get("status")),
        categories=tuple(str(c) for c in categories) if isinstance(categories, list) else (),
        validation_errors=issues(doc),
        json_version=opt_str(_pick(doc, "json_version", "jsonVersion")),
        data_api_version=opt_str(_pick(doc, "data_api_version", "dataApiVersion")),
        endpoint_uri=opt_str(_pick(doc, "endpoint_uri", "endpointUri")),
        health=health if isinstance(health, dict) else None,
        raw=dict(doc),
    )


def _next_cursor(paging: Any) -> str | None:
    """Graph's ``paging``: the ``after`` cursor while a ``next`` page exists."""
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    return opt_str(cursors.get("after")) if isinstance(cursors, dict) else None


def _preview(
    adapter: OneMsgAdapter, flow_id: str, doc: Mapping[str, Any], resp: HttpResponse
) -> FlowPreview:
    # free-form in 1msg's contract: Graph's {"preview": {preview_url, expires_at}} relayed
    inner = doc.get("preview")
    where = inner if isinstance(inner, dict) else doc
    url = opt_str(_pick(where, "preview_url", "previewUrl", "url"))
    if url is None:
        raise _odd(adapter, resp, "names no preview URL")
    expires = _pick(where, "expires_at", "expiresAt")
    return FlowPreview(
        flow_id=flow_id, url=url, expires_at=iso_time(expires) or unix_time(expires), raw=dict(doc)
    )


def _templates(
    adapter: OneMsgAdapter, op: TemplateList, doc: Mapping[str, Any]
) -> Page[TemplateInfo]:
    """One offset page; 1msg documents no filters, so they are applied to the page here."""
    raw = doc.get("templates")
    items = [t for t in raw if isinstance(t, dict)] if isinstance(raw, list) else []
    offset = int(op.after) if op.after and op.after.isdigit() else 0
    total = doc.get("total")
    more = isinstance(total, int) and offset + len(items) < total and bool(items)
    wanted = {
        "name": op.template_name, "status": op.status, "category": op.category,
        "language": op.language,
    }  # fmt: skip
    kept = [t for t in items if all(v is None or t.get(k) == v for k, v in wanted.items())]
    return Page(
        tuple(_template(adapter, t) for t in kept), str(offset + len(items)) if more else None
    )


def _template(adapter: OneMsgAdapter, t: Mapping[str, Any]) -> TemplateInfo:
    components = t.get("components")
    return TemplateInfo(
        provider=adapter.name,
        sender=adapter.sender,
        id=opt_str(t.get("id")),
        name=str(t.get("name") or ""),
        language=opt_str(t.get("language")),
        status=opt_str(t.get("status")),
        category=opt_str(t.get("category")),
        components=tuple(c for c in components if isinstance(c, dict))
        if isinstance(components, list)
        else (),
        quality=opt_str(_pick(t, "quality_score", "qualityScore")),
        rejected_reason=opt_str(t.get("rejected_reason")),
        raw=dict(t),
    )
