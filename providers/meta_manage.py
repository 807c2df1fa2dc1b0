"""Meta's Graph management calls for Flows and templates: requests built, answers read.

Pure, like :mod:`providers.meta_wire`: a :class:`Graph` names the host, version, account
and auth; :func:`build` turns a :mod:`gateway.manage` operation into the request and
:func:`parse` reads the answer (or raises the typed error). Meta's adapter uses it
directly; another provider relaying Graph's shapes can reuse the parsers.

Facts: reference/flows.md §C (Flows API, §A9 validation errors) and management.md §1
(templates), from Meta's Flows API reference
(https://developers.facebook.com/documentation/business-messaging/whatsapp/flows/reference/flowsapi),
its error codes (…/flows/reference/error-codes) and the message_templates reference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from gateway.errors import ConfigError, NameTaken, ProviderError, UnsupportedFeature
from gateway.events import FlowStatus
from gateway.flowjson.issues import FlowJSONIssue
from gateway.http import FormPart, HttpRequest, HttpResponse
from gateway.manage import (
    FlowAsset,
    FlowAssets,
    FlowCreate,
    FlowDelete,
    FlowDeprecate,
    FlowDownload,
    FlowGet,
    FlowInfo,
    FlowList,
    FlowMigrate,
    FlowPreview,
    FlowPreviewGet,
    FlowPublish,
    FlowUpdateJson,
    FlowUpdateMetadata,
    ManageOp,
    MigrationResult,
    Page,
    TemplateDelete,
    TemplateGet,
    TemplateInfo,
    TemplateList,
)
from providers.base import answer_object, opt_str
from providers.meta_codes import Classifier, graph_class, names_taken
from providers.meta_wire import parse_failure

R = TypeVar("R")

FLOW_FIELDS = (
    "id,name,status,categories,validation_errors,json_version,data_api_version,"
    "endpoint_uri,health_status"
)
"""``GET /{FLOW_ID}?fields=…``: the default five plus what FlowInfo carries (flows.md §C)."""
LIST_FIELDS = (
    "id,name,status,categories,validation_errors,json_version,data_api_version,endpoint_uri"
)
"""``GET /{WABA_ID}/flows?fields=…`` (health_status is per flow: left to FlowGet)."""
TEMPLATE_FIELDS = "id,name,language,status,category,components,quality_score,rejected_reason"
"""Asked for explicitly: Graph's default template field set is not documented
(management.md §1.1, [likely])."""
FLOW_JSON_FILE = "flow.json"


@dataclass(frozen=True, slots=True)
class Graph:
    """Where a provider's Graph calls go: ``root`` is ``{base_url}/{version}``; ``account``
    the WABA id (None: the account-level calls refuse with ConfigError-like words)."""

    provider: str
    sender: str | None
    root: str
    account: str | None
    headers: Mapping[str, str]

    def url(self, *parts: str, query: Mapping[str, Any] | None = None) -> str:
        url = "/".join([self.root.rstrip("/"), *parts])
        given = {k: v for k, v in (query or {}).items() if v is not None}
        return f"{url}?{urlencode(given)}" if given else url

    def waba(self, op: ManageOp[Any]) -> str:
        if not self.account:
            raise ConfigError("waba_id", f"required for {op.name} (Graph /{{waba_id}}/…)")
        return self.account


# -- requests ---------------------------------------------------------------------------


def build(g: Graph, op: ManageOp[Any]) -> HttpRequest:
    """The Graph request for ``op``; UnsupportedFeature for an op Graph has no call for."""
    if isinstance(op, FlowList):
        query = {"fields": LIST_FIELDS, "limit": op.limit, "after": op.after}
        return _get(g, g.url(g.waba(op), "flows", query=query))
    if isinstance(op, FlowCreate):
        body: dict[str, Any] = {"name": op.flow_name, "categories": list(op.categories)}
        if op.flow_json is not None:
            body["flow_json"] = op.flow_json  # a string: Meta takes the JSON as text
        if op.publish:
            body["publish"] = True
        if op.clone_flow_id is not None:
            body["clone_flow_id"] = op.clone_flow_id
        if op.endpoint_uri is not None:
            body["endpoint_uri"] = op.endpoint_uri
        return HttpRequest.for_json("POST", g.url(g.waba(op), "flows"), body, g.headers)
    if isinstance(op, FlowUpdateMetadata):
        fields = {
            "name": op.flow_name,
            "categories": list(op.categories) if op.categories is not None else None,
            "endpoint_uri": op.endpoint_uri,
            "application_id": op.application_id,
        }
        meta = {k: v for k, v in fields.items() if v is not None}
        return HttpRequest.for_json("POST", g.url(op.flow_id), meta, g.headers)
    if isinstance(op, FlowUpdateJson):
        # Meta's "Update Flow JSON": multipart, file + name=flow.json + asset_type=FLOW_JSON
        parts = (
            FormPart("name", FLOW_JSON_FILE),
            FormPart("asset_type", "FLOW_JSON"),
            FormPart("file", op.flow_json.encode(), FLOW_JSON_FILE, "application/json"),
        )
        return HttpRequest.for_form("POST", g.url(op.flow_id, "assets"), parts, g.headers)
    if isinstance(op, FlowGet):
        return _get(g, g.url(op.flow_id, query={"fields": FLOW_FIELDS}))
    if isinstance(op, FlowPreviewGet):
        flag = "true" if op.invalidate else "false"
        return _get(g, g.url(op.flow_id, query={"fields": f"preview.invalidate({flag})"}))
    if isinstance(op, FlowPublish | FlowDeprecate):
        edge = "publish" if isinstance(op, FlowPublish) else "deprecate"
        return _bare(g, "POST", g.url(op.flow_id, edge))
    if isinstance(op, FlowDelete):
        return _bare(g, "DELETE", g.url(op.flow_id))
    if isinstance(op, FlowAssets):
        return _get(g, g.url(op.flow_id, "assets"))
    if isinstance(op, FlowDownload):
        return download(g, op.url)
    if isinstance(op, FlowMigrate):
        names = json.dumps(list(op.flow_names)) if op.flow_names else None
        query = {"source_waba_id": op.source_account_id, "source_flow_names": names}
        return _bare(g, "POST", g.url(g.waba(op), "migrate_flows", query=query))
    if isinstance(op, TemplateList):
        query = {
            "fields": TEMPLATE_FIELDS, "limit": op.limit, "after": op.after,
            "name": op.template_name, "status": op.status, "category": op.category,
            "language": op.language,
        }  # fmt: skip
        return _get(g, g.url(g.waba(op), "message_templates", query=query))
    if isinstance(op, TemplateGet):
        return _get(g, g.url(op.template_id, query={"fields": TEMPLATE_FIELDS}))
    if isinstance(op, TemplateDelete):
        if op.language is not None and op.template_id is None:
            raise UnsupportedFeature(
                g.provider, op.name,
                "Graph deletes a name's every language, or one by its template id (hsm_id): "
                "pass template_id",
            )  # fmt: skip
        query = {"name": op.template_name, "hsm_id": op.template_id}
        return _bare(g, "DELETE", g.url(g.waba(op), "message_templates", query=query))
    raise UnsupportedFeature(g.provider, op.name)


def _get(g: Graph, url: str) -> HttpRequest:
    return _bare(g, "GET", url)


def _bare(g: Graph, method: str, url: str) -> HttpRequest:
    """A request without a body (its parameters in the query)."""
    return HttpRequest(method, url, {"Accept": "application/json", **g.headers})


def download(g: Graph, url: str) -> HttpRequest:
    """A plain GET of an asset's ``download_url``.

    Meta answers a signed, short-lived CDN link (it changes with every upload), which
    needs no token; the access token goes only to the configured Graph host itself (the
    emulator serves its links there), never to another host. A relative link is read
    against the Graph host.
    """
    base = urlsplit(g.root)
    target = urlsplit(url)
    if not target.netloc:
        url = f"{base.scheme}://{base.netloc}/{url.lstrip('/')}"
        target = urlsplit(url)
    same = (target.scheme, target.netloc) == (base.scheme, base.netloc)
    return HttpRequest("GET", url, dict(g.headers) if same else {})


# -- answers ----------------------------------------------------------------------------


def parse(g: Graph, op: ManageOp[R], resp: HttpResponse, classify: Classifier = graph_class) -> R:
    """The result of ``op`` from Graph's answer, or the typed error it reports."""
    if not resp.ok:
        raise failure(g.provider, op, resp, classify)
    if isinstance(op, FlowDownload):
        return resp.content.decode("utf-8")  # type: ignore[return-value]
    body = _body(g.provider, resp)
    if isinstance(body.get("error"), dict):  # an error in a 200 (seen on Graph batch answers)
        raise failure(g.provider, op, resp, classify)
    result: Any
    if isinstance(op, FlowList):
        result = Page(tuple(flow_info(g, n) for n in _data(body)), next_cursor(body))
    elif isinstance(op, FlowCreate):
        result = FlowInfo(
            provider=g.provider, sender=g.sender, id=_id(g.provider, body, resp), name=None,
            status=None, validation_errors=issues(body.get("validation_errors")), raw=body,
        )  # fmt: skip
    elif isinstance(op, FlowUpdateJson):
        result = issues(body.get("validation_errors"))
    elif isinstance(op, FlowGet):
        result = flow_info(g, body)
    elif isinstance(op, FlowPreviewGet):
        result = preview(g.provider, op.flow_id, body, resp)
    elif isinstance(op, FlowUpdateMetadata | FlowPublish | FlowDeprecate | FlowDelete):
        result = body.get("success") is True
    elif isinstance(op, TemplateDelete):
        result = body.get("success") is True  # {"success": true} (management.md §1.3)
    elif isinstance(op, FlowAssets):
        result = tuple(
            FlowAsset(
                name=opt_str(a.get("name")) or "",
                asset_type=opt_str(a.get("asset_type")) or "",
                download_url=opt_str(a.get("download_url")),
                raw=a,
            )
            for a in _data(body)
        )
    elif isinstance(op, FlowMigrate):
        result = migration(body)
    elif isinstance(op, TemplateList):
        result = Page(tuple(template_info(g, t) for t in _data(body)), next_cursor(body))
    elif isinstance(op, TemplateGet):
        result = template_info(g, body)
    else:
        raise UnsupportedFeature(g.provider, op.name)
    return result  # type: ignore[no-any-return]


def failure(
    provider: str, op: ManageOp[Any], resp: HttpResponse, classify: Classifier = graph_class
) -> ProviderError:
    """Graph's error as its class: 139000–139006 by code; 100 on a create or rename that
    names a taken name → :class:`NameTaken` (Meta's Flows error-codes table)."""
    err = parse_failure(provider, resp, classify)
    renames = isinstance(op, FlowCreate) or (
        isinstance(op, FlowUpdateMetadata) and op.flow_name is not None
    )
    if renames and err.code == 100 and names_taken(err.message):
        return NameTaken(
            err.message, provider=provider, status_code=err.status_code, code=err.code,
            retry_after=err.retry_after, raw=err.raw,
        )  # fmt: skip
    return err


def _body(provider: str, resp: HttpResponse) -> dict[str, Any]:
    return answer_object(provider, resp, "management answer")


def _data(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    data = body.get("data")
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _id(provider: str, body: Mapping[str, Any], resp: HttpResponse) -> str:
    got = opt_str(body.get("id"))
    if got is None:
        raise ProviderError(
            "the answer names no id", provider=provider, status_code=resp.status_code, raw=body
        )
    return got


def next_cursor(body: Mapping[str, Any]) -> str | None:
    """Graph's cursor of the next page: ``paging.cursors.after``, only when ``paging.next``
    says there is one (Graph repeats ``after`` on the last page)."""
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    return opt_str(cursors.get("after")) if isinstance(cursors, dict) else None


def status_of(value: Any) -> FlowStatus | str | None:
    text = opt_str(value)
    if text is None:
        return None
    try:
        return FlowStatus(text)
    except ValueError:
        return text  # a state Meta adds later stays its word


def flow_info(g: Graph, node: Mapping[str, Any]) -> FlowInfo:
    """A Graph Flow node (list item or ``GET /{FLOW_ID}``) as :class:`FlowInfo`."""
    cats = node.get("categories")
    health = node.get("health_status")
    return FlowInfo(
        provider=g.provider,
        sender=g.sender,
        id=opt_str(node.get("id")) or "",
        name=opt_str(node.get("name")),
        status=status_of(node.get("status")),
        categories=tuple(str(c) for c in cats) if isinstance(cats, list) else (),
        validation_errors=issues(node.get("validation_errors")),
        json_version=opt_str(node.get("json_version")),
        data_api_version=opt_str(node.get("data_api_version")),
        endpoint_uri=opt_str(node.get("endpoint_uri")),
        health=health if isinstance(health, dict) else None,
        raw=dict(node),
    )


def issues(errors: Any) -> tuple[FlowJSONIssue, ...]:
    """Meta's ``validation_errors`` (flows.md §A9) as issues: ``path`` from the first
    pointer, Meta's own ``line_start``/``column_start``, rule ``provider``."""
    if not isinstance(errors, list):
        return ()
    out = []
    for e in errors:
        if not isinstance(e, dict):
            continue
        pointers = e.get("pointers")
        first = pointers[0] if isinstance(pointers, list) and pointers else {}
        path = opt_str(first.get("path")) if isinstance(first, dict) else None
        out.append(
            FlowJSONIssue(
                error=opt_str(e.get("error")) or "UNKNOWN",
                severity="error",
                message=opt_str(e.get("message")) or "",
                path=path or "",
                line=_int(e.get("line_start")),
                column=_int(e.get("column_start")),
                rule="provider",
            )
        )
    return tuple(out)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def expiry(value: Any) -> datetime | None:
    """``expires_at``: ISO 8601 (Meta's sample ``2023-12-12T11:40:02+0000``) or Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z",):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def preview(
    provider: str, flow_id: str, body: Mapping[str, Any], resp: HttpResponse
) -> FlowPreview:
    got = body.get("preview")
    url = opt_str(got.get("preview_url")) if isinstance(got, dict) else None
    if url is None:
        raise ProviderError(
            "the answer has no preview.preview_url",
            provider=provider, status_code=resp.status_code, raw=body,
        )  # fmt: skip
    assert isinstance(got, dict)
    return FlowPreview(flow_id=flow_id, url=url, expires_at=expiry(got.get("expires_at")), raw=body)


def migration(body: Mapping[str, Any]) -> MigrationResult:
    moved = body.get("migrated_flows")
    failed = body.get("failed_flows")
    return MigrationResult(
        migrated=tuple(
            (str(m.get("source_name", "")), str(m.get("source_id", "")),
             str(m.get("migrated_id", "")))
            for m in (moved if isinstance(moved, list) else []) if isinstance(m, dict)
        ),
        failed=tuple(
            (str(f.get("source_name", "")), f.get("error_code"), str(f.get("error_message", "")))
            for f in (failed if isinstance(failed, list) else []) if isinstance(f, dict)
        ),
        raw=body,
    )  # fmt: skip


def template_info(g: Graph, t: Mapping[str, Any]) -> TemplateInfo:
    comps = t.get("components")
    items = comps if isinstance(comps, list) else []
    return TemplateInfo(
        provider=g.provider,
        sender=g.sender,
        id=opt_str(t.get("id")),
        name=opt_str(t.get("name")) or "",
        language=opt_str(t.get("language")),
        status=opt_str(t.get("status")),
        category=opt_str(t.get("category")),
        components=tuple(c for c in items if isinstance(c, dict)),
        quality=_quality(t.get("quality_score")),
        rejected_reason=opt_str(t.get("rejected_reason")),
        raw=dict(t),
    )


def _quality(value: Any) -> str | None:
    # Graph answers {"score": "GREEN", "date": …}; older answers a bare string
    if isinstance(value, dict):
        return opt_str(value.get("score"))
    return opt_str(value)
