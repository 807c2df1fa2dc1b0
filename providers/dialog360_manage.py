"""360dialog management: Flows through the Partner API, templates through the Messaging API.

Flows (360dialog Cloud only) live on the Partner API, ``https://hub.360dialog.io``, under
``/api/v2/partners/{partner_id}/waba_accounts/{waba_account_id}/flows``, authenticated
with the partner's ``X-API-Key`` (a channel's ``D360-API-KEY`` is not enough). Documented
(OpenAPI "Partners V2 API" 2.0.0, tag "WhatsApp Flows":
https://docs.360dialog.com/partner/partner-api/api-reference/whats-app-flows): list
(``{flows, count, total}``, query ``fields`` as ``string[]``), create/clone (``{name,
categories, clone_flow_id?, endpoint_uri?}`` → ``{id}``; no ``flow_json``: "New Flows are
created in DRAFT status. You can then make changes to the Flow by uploading an updated
JSON file"), get (``FlowOut``) and migrate (``{source_waba_id, source_flow_names?}``).

Known from a partner's code, not from the reference (digiteinfotech/kairon,
``kairon/shared/channels/whatsapp/bsp/dialog360.py`` at 61523c8d and its tests): upload
``POST …/flows/{id}/assets`` (multipart: ``file`` + ``name=flow.json`` +
``asset_type=FLOW_JSON`` → ``{success, validation_errors}``), list assets ``GET
…/assets`` (``{assets, count, total}``), ``POST …/publish``, ``POST …/deprecate``,
``DELETE …/flows/{id}``, ``GET …/preview``. [unconfirmed]: the assets encoding (a
setting, ``partner_assets_encoding``), the migrate path (Meta's ``migrate_flows``
beside ``flows``, by analogy), list paging (``offset``, as 360dialog's other hub lists),
metadata updates (none found: :class:`UnsupportedFeature`).

Templates, both adapters: the Messaging API's ``/v1/configs/templates`` with
``D360-API-KEY`` (reference/management.md §4.3): list with ``limit``/``offset``/
``filters`` (JSON) → ``{count, total, offset, limit, waba_templates}``, and delete by
name (every language). Errors are 360dialog's ``meta`` wrapper around Meta's codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode, urljoin, urlsplit

from pydantic import SecretStr

from gateway.errors import (
    InvalidRequest,
    NameTaken,
    ProviderError,
    UnsupportedFeature,
)
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
    ManageOp,
    MigrationResult,
    Page,
    TemplateDelete,
    TemplateGet,
    TemplateInfo,
    TemplateList,
)
from providers import meta_wire
from providers.base import iso_time, opt_str, unix_time
from providers.meta_codes import Classifier, names_taken

HUB_URL = "https://hub.360dialog.io"
FLOW_FIELDS = (
    "id", "name", "categories", "validation_errors", "status",
    "json_version", "data_api_version", "endpoint_uri",
)  # fmt: skip
"""Asked for on list and get: the documented default five, plus what ``deploy`` compares."""
MIGRATE_PATH = "/flows/migrate"
"""[unconfirmed] where migrate lives below the WABA account (the reference names the body,
not the path in our copy)."""
AssetsEncoding = Literal["multipart", "json"]

PARTNER_SETTINGS = "partner_api_key, partner_id and waba_account_id"
TEMPLATES_BY_NAME = (
    "360dialog's Messaging API deletes a template by name, every language at once "
    "(DELETE /v1/configs/templates/{template_name}); delete one language in WhatsApp "
    "Manager or the 360dialog hub"
)
NO_METADATA = (
    "360dialog's Partner API documents no Flow metadata update; rename it or change its "
    "endpoint_uri in WhatsApp Manager or the 360dialog hub"
)


def failure(
    provider: str, op: ManageOp[Any], resp: HttpResponse, classify: Classifier
) -> ProviderError:
    """The typed error of a refused management call: Meta's codes (139xxx in
    ``meta_codes.GRAPH_CODES``) inside 360dialog's wrapper; Meta's 100 saying the name is
    taken, on a create, is :class:`NameTaken`."""
    err = meta_wire.parse_failure(provider, resp, classify)
    if isinstance(op, FlowCreate) and type(err) is InvalidRequest and names_taken(err.message):
        return NameTaken(
            err.message, provider=provider, status_code=err.status_code, code=err.code, raw=err.raw
        )
    return err


def _body(provider: str, resp: HttpResponse) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise ProviderError(
            f"success response is not JSON: {resp.text()!r}",
            provider=provider,
            status_code=resp.status_code,
            raw=resp.content.decode("utf-8", "replace"),
        ) from None


def _object(provider: str, resp: HttpResponse) -> dict[str, Any]:
    body = _body(provider, resp)
    if not isinstance(body, dict):
        raise ProviderError(
            "success response is not a JSON object",
            provider=provider,
            status_code=resp.status_code,
            raw=body,
        )
    return body


def _success(provider: str, resp: HttpResponse) -> bool:
    """``{"success": true}`` (or 360dialog's ``{"meta": {"success": true}}``, or no body)."""
    if not resp.content.strip():
        return True
    body = _object(provider, resp)
    meta = body.get("meta")
    ok = meta.get("success") if isinstance(meta, dict) else body.get("success", True)
    if ok is False:
        raise ProviderError(
            "the provider answered success: false",
            provider=provider,
            status_code=resp.status_code,
            raw=body,
        )
    return True


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def validation_issues(errors: Any) -> tuple[FlowJSONIssue, ...]:
    """Meta's ``validation_errors`` (flows.md §A9) as issues: the first pointer's ``path``
    and the provider's own line/column (``gw.flows`` then places them in your text)."""
    out = []
    for e in _list(errors):
        pointers = _list(e.get("pointers"))
        path = opt_str(pointers[0].get("path")) if pointers else None
        out.append(
            FlowJSONIssue(
                error=opt_str(e.get("error")) or "VALIDATION_ERROR",
                severity="error",
                message=opt_str(e.get("message")) or "",
                path=path or "",
                line=_int(e.get("line_start")) or None,
                column=_int(e.get("column_start")) or None,
                rule="provider",
            )
        )
    return tuple(out)


def _next(offset: int, count: int, total: Any) -> str | None:
    end = offset + count
    return str(end) if count and end < _int(total) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hub:
    """One WABA account's Flows on 360dialog's Partner API (:class:`UnsupportedFeature`
    from :meth:`of` when the settings name no partner account)."""

    provider: str
    sender: str | None
    base_url: str
    partner_id: str
    waba_account_id: str
    api_key: str = field(repr=False)
    assets_encoding: AssetsEncoding = "multipart"

    @classmethod
    def of(
        cls,
        provider: str,
        sender: str | None,
        op_name: str,
        *,
        api_key: SecretStr | None,
        partner_id: str | None,
        waba_account_id: str | None,
        base_url: str = HUB_URL,
        assets_encoding: AssetsEncoding = "multipart",
    ) -> Hub:
        if api_key is None or not partner_id or not waba_account_id:
            raise UnsupportedFeature(
                provider,
                op_name,
                f"set {PARTNER_SETTINGS} to manage Flows through 360dialog's Partner API "
                "(hub.360dialog.io), or manage them in WhatsApp Manager or the 360dialog hub",
            )
        return cls(
            provider=provider, sender=sender, base_url=base_url, partner_id=partner_id,
            waba_account_id=waba_account_id, api_key=api_key.get_secret_value(),
            assets_encoding=assets_encoding,
        )  # fmt: skip

    @property
    def prefix(self) -> str:
        p, w = quote(self.partner_id, safe=""), quote(self.waba_account_id, safe="")
        return f"{self.base_url.rstrip('/')}/api/v2/partners/{p}/waba_accounts/{w}"

    def url(self, path: str = "", **query: Any) -> str:
        pairs = [(k, x) for k, v in query.items() for x in (v if isinstance(v, tuple) else (v,))]
        q = urlencode([(k, v) for k, v in pairs if v is not None])
        return f"{self.prefix}{path}" + (f"?{q}" if q else "")

    def flow(self, flow_id: str, tail: str = "") -> str:
        return f"/flows/{quote(flow_id, safe='')}{tail}"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key, "Accept": "application/json"}

    def get(self, url: str) -> HttpRequest:
        return HttpRequest("GET", url, self.headers)

    def post(self, url: str, payload: Any = None) -> HttpRequest:
        if payload is None:
            return HttpRequest("POST", url, self.headers)
        return HttpRequest.for_json("POST", url, payload, self.headers)

    # -- requests ------------------------------------------------------------------------

    def build(self, op: ManageOp[Any]) -> HttpRequest:
        match op:
            case FlowList():
                offset = op.after  # an offset we made from count/total
                limit = op.limit if offset else None
                return self.get(self.url("/flows", fields=FLOW_FIELDS, offset=offset, limit=limit))
            case FlowGet():
                return self.get(self.url(self.flow(op.flow_id), fields=FLOW_FIELDS))
            case FlowCreate():
                return self.post(self.url("/flows"), self.create_body(op))
            case FlowUpdateJson():
                return self.upload(op)
            case FlowAssets():
                return self.get(self.url(self.flow(op.flow_id, "/assets")))
            case FlowDownload():
                return self.download(op.url)
            case FlowPublish():
                return self.post(self.url(self.flow(op.flow_id, "/publish")))
            case FlowDeprecate():
                return self.post(self.url(self.flow(op.flow_id, "/deprecate")))
            case FlowDelete():
                return HttpRequest("DELETE", self.url(self.flow(op.flow_id)), self.headers)
            case FlowPreviewGet():
                invalidate = "true" if op.invalidate else None
                return self.get(self.url(self.flow(op.flow_id, "/preview"), invalidate=invalidate))
            case FlowMigrate():
                body: dict[str, Any] = {"source_waba_id": op.source_account_id}
                if op.flow_names:
                    body["source_flow_names"] = list(op.flow_names)
                return self.post(self.url(MIGRATE_PATH), body)
        raise UnsupportedFeature(self.provider, op.name, NO_METADATA)

    def create_body(self, op: FlowCreate) -> dict[str, Any]:
        if op.flow_json is not None or op.publish:
            raise UnsupportedFeature(
                self.provider,
                "flows.create(flow_json/publish)",
                "360dialog's Partner API creates a DRAFT without JSON: upload it with "
                "flows.update_json, then publish (gw.flows.create does both)",
            )
        body: dict[str, Any] = {"name": op.flow_name, "categories": list(op.categories)}
        if op.clone_flow_id is not None:
            body["clone_flow_id"] = op.clone_flow_id
        if op.endpoint_uri is not None:
            body["endpoint_uri"] = op.endpoint_uri
        return body

    def upload(self, op: FlowUpdateJson) -> HttpRequest:
        url = self.url(self.flow(op.flow_id, "/assets"))
        if self.assets_encoding == "json":  # [unconfirmed] alternative
            payload = {"name": "flow.json", "asset_type": "FLOW_JSON", "flow_json": op.flow_json}
            return self.post(url, payload)
        parts = (
            FormPart("file", op.flow_json.encode("utf-8"), "flow.json", "application/json"),
            FormPart("name", "flow.json"),
            FormPart("asset_type", "FLOW_JSON"),
        )
        return HttpRequest.for_form("POST", url, parts, {"X-API-Key": self.api_key})

    def download(self, url: str) -> HttpRequest:
        """The stored JSON at ``download_url``; the partner key goes only to the hub's
        own host (a CDN link, like Meta's, needs none and must not receive it)."""
        absolute = urljoin(self.base_url.rstrip("/") + "/", url)
        same_host = urlsplit(absolute).netloc == urlsplit(self.base_url).netloc
        return HttpRequest("GET", absolute, self.headers if same_host else {})

    # -- answers -------------------------------------------------------------------------

    def parse(self, op: ManageOp[Any], resp: HttpResponse) -> Any:
        name = self.provider
        match op:
            case FlowList():
                body = _object(name, resp)
                flows = _list(body.get("flows", body.get("data")))
                items = tuple(self.info(f) for f in flows)
                return Page(items, _next(_int(op.after), len(flows), body.get("total")))
            case FlowGet():
                return self.info(_object(name, resp))
            case FlowCreate():
                body = _object(name, resp)
                flow_id = opt_str(body.get("id"))
                if flow_id is None:
                    raise ProviderError("create answered no id", provider=name, raw=body)
                return FlowInfo(
                    provider=name, sender=self.sender, id=flow_id, name=op.flow_name,
                    status=FlowStatus.DRAFT, categories=op.categories,
                    endpoint_uri=op.endpoint_uri, raw=body,
                )  # fmt: skip
            case FlowUpdateJson():
                body = _object(name, resp)
                if body.get("success") is False and not body.get("validation_errors"):
                    raise ProviderError("upload answered success: false", provider=name, raw=body)
                return validation_issues(body.get("validation_errors"))
            case FlowAssets():
                body = _object(name, resp)
                return tuple(
                    FlowAsset(
                        name=opt_str(a.get("name")) or "flow.json",
                        asset_type=opt_str(a.get("asset_type")) or "FLOW_JSON",
                        download_url=opt_str(a.get("download_url")),
                        raw=a,
                    )
                    for a in _list(body.get("assets", body.get("data")))
                )
            case FlowDownload():
                return resp.content.decode("utf-8")
            case FlowPublish() | FlowDeprecate() | FlowDelete():
                return _success(name, resp)
            case FlowPreviewGet():
                return self.preview(op.flow_id, _object(name, resp))
            case FlowMigrate():
                return migration(_object(name, resp))
        raise UnsupportedFeature(name, op.name, NO_METADATA)

    def info(self, f: dict[str, Any]) -> FlowInfo:
        return FlowInfo(
            provider=self.provider,
            sender=self.sender,
            id=str(f.get("id", "")),
            name=opt_str(f.get("name")),
            status=FlowStatus.of(f.get("status")),
            categories=tuple(str(c) for c in f.get("categories") or () if isinstance(c, str)),
            validation_errors=validation_issues(f.get("validation_errors")),
            json_version=opt_str(f.get("json_version")),
            data_api_version=opt_str(f.get("data_api_version")),
            endpoint_uri=opt_str(f.get("endpoint_uri")),
            health=f.get("health_status") if isinstance(f.get("health_status"), dict) else None,
            raw=f,
        )

    def preview(self, flow_id: str, body: dict[str, Any]) -> FlowPreview:
        preview = body.get("preview") if isinstance(body.get("preview"), dict) else body
        assert isinstance(preview, dict)
        url = opt_str(preview.get("preview_url"))
        if url is None:
            raise ProviderError("preview answered no preview_url", provider=self.provider, raw=body)
        expires = preview.get("expires_at")
        when = iso_time(expires) or unix_time(expires)
        return FlowPreview(
            flow_id=str(body.get("id") or flow_id), url=url, expires_at=when, raw=body
        )


def migration(body: dict[str, Any]) -> MigrationResult:
    """Meta's ``{migrated_flows, failed_flows}`` (flows.md §C), relayed."""
    migrated = tuple(
        (str(m.get("source_name", "")), str(m.get("source_id", "")), str(m.get("migrated_id", "")))
        for m in _list(body.get("migrated_flows"))
    )
    failed = tuple(
        (str(f.get("source_name", "")), f.get("error_code"), str(f.get("error_message", "")))
        for f in _list(body.get("failed_flows"))
    )
    return MigrationResult(migrated=migrated, failed=failed, raw=body)


# -- templates (Messaging API, both adapters) ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Templates:
    """``/v1/configs/templates`` on the Messaging API host, ``D360-API-KEY``."""

    provider: str
    sender: str | None
    base_url: str
    api_key: str = field(repr=False)

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/v1/configs/templates"

    @property
    def headers(self) -> dict[str, str]:
        return {"D360-API-KEY": self.api_key, "Accept": "application/json"}

    def build(self, op: ManageOp[Any]) -> HttpRequest:
        match op:
            case TemplateList():
                wanted = {
                    "name": op.template_name,
                    "status": op.status,
                    "category": op.category,
                    "language": op.language,
                }
                filters = {k: v for k, v in wanted.items() if v is not None}
                return self.list(filters, op.limit, _int(op.after))
            case TemplateGet():
                # kairon's get_template: the list filtered by id (no single-template path found)
                return self.list({"id": op.template_id}, 1, 0)
            case TemplateDelete():
                if op.template_id is not None or op.language is not None:
                    raise UnsupportedFeature(
                        self.provider, "templates.delete(one language)", TEMPLATES_BY_NAME
                    )
                url = f"{self.url}/{quote(op.template_name, safe='')}"
                return HttpRequest("DELETE", url, self.headers)
        raise UnsupportedFeature(self.provider, op.name)

    def list(self, filters: dict[str, str], limit: int, offset: int) -> HttpRequest:
        query: dict[str, Any] = {"limit": limit, "offset": offset}
        if filters:  # a JSON object (reference/management.md §4.3; kairon's list_templates)
            query["filters"] = json.dumps(filters, separators=(",", ":"))
        return HttpRequest("GET", f"{self.url}?{urlencode(query)}", self.headers)

    def parse(self, op: ManageOp[Any], resp: HttpResponse) -> Any:
        match op:
            case TemplateList():
                body = _object(self.provider, resp)
                items = _list(body.get("waba_templates"))
                offset = _int(body.get("offset"), _int(op.after))
                page = tuple(self.info(t) for t in items)
                return Page(page, _next(offset, len(items), body.get("total")))
            case TemplateGet():
                items = _list(_object(self.provider, resp).get("waba_templates"))
                found = [t for t in items if str(t.get("id")) == op.template_id]
                if not found:
                    raise InvalidRequest(
                        f"Message template not found: {op.template_id}",
                        provider=self.provider,
                        status_code=resp.status_code,
                    )
                return self.info(found[0])
            case TemplateDelete():
                return _success(self.provider, resp)
        raise UnsupportedFeature(self.provider, op.name)

    def info(self, t: dict[str, Any]) -> TemplateInfo:
        return TemplateInfo(
            provider=self.provider,
            sender=self.sender,
            id=opt_str(t.get("id")),
            name=str(t.get("name", "")),
            language=opt_str(t.get("language")),
            status=opt_str(t.get("status")),
            category=opt_str(t.get("category")),
            components=tuple(_list(t.get("components"))),
            quality=opt_str(t.get("quality_score")),
            rejected_reason=opt_str(t.get("rejected_reason")),
            raw=t,
        )
