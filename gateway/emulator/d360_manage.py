"""360dialog's management routes for the emulator: Flows on the Partner API (the hub,
``X-API-Key``) and templates on the Messaging API (``D360-API-KEY``), from the shared
:class:`~gateway.emulator.flow_store.FlowStore` / :class:`TemplateStore`.

Shapes (providers' sources in providers/dialog360_manage.py): list ``{flows, count, total}``
paged by ``offset``/``limit`` [unconfirmed], create ``{name, categories, clone_flow_id?,
endpoint_uri?}`` → ``{id}`` (anything else in the body is refused: the reference lists
no ``flow_json``), upload ``multipart`` with a ``file`` part → ``{success,
validation_errors}``, assets ``{assets, count, total}``, publish/deprecate/delete →
``{success: true}``, preview ``{id, preview: {preview_url, expires_at}}``; templates
``{count, filters, limit, offset, sort, total, waba_templates}``, delete by name → the
``meta`` success wrapper. Refusals are Meta's error as JSON text inside 360dialog's
``meta`` wrapper (the shape of a real waba-v2 answer in kairon's tests). Status changes
are relayed as Meta's ``flows`` webhook in Meta's envelope, as 360dialog relays other
Meta fields [unconfirmed for ``flows``]: :meth:`D360Manage.flow_callbacks`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.emulator.base import SimRequest, WebhookCall, form_fields, json_response
from gateway.emulator.flow_store import FlowStore, Refusal, StoredFlow, TemplateStore
from gateway.http import HttpResponse

PAGE = 50  # the default `limit` 360dialog's lists answer with (kairon's template list)
_FLOWS = re.compile(r"^/api/v2/partners/(?P<p>[^/]+)/waba_accounts/(?P<w>[^/]+)(?P<rest>/.*)$")
_ONE = re.compile(r"^/flows/(?P<id>[^/]+)(?P<tail>/assets|/publish|/deprecate|/preview)?$")
CREATE_KEYS = frozenset({"name", "categories", "clone_flow_id", "endpoint_uri"})


def d360_error(status: int, message: str, graph: dict[str, Any] | None = None) -> HttpResponse:
    """360dialog's ``meta`` wrapper; Meta's error, when there is one, as JSON text."""
    meta: dict[str, Any] = {"success": False, "http_code": status, "developer_message": message}
    if graph is not None:
        meta["error"] = json.dumps({"error": graph})
    return json_response(status, {"meta": meta})


def refused(r: Refusal) -> HttpResponse:
    graph: dict[str, Any] = {"message": f"(#{r.code}) {r.message}", "type": "OAuthException"}
    graph.update(code=r.code, fbtrace_id="AEmulatorTrace")
    if r.subcode is not None:
        graph["error_subcode"] = r.subcode
    return d360_error(r.http, r.message, graph)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, int(value)) if value is not None else default
    except ValueError:
        return default


class D360Manage:
    """The stores and routes of one 360dialog account (mixed into its simulator)."""

    name: str
    account: dict[str, Any]
    clock: Callable[[], float]
    partner_api: bool = True  # On-Premise: templates only

    def secret(self, key: str) -> str:
        raise NotImplementedError

    def webhook(self, doc: dict[str, Any]) -> WebhookCall:
        raise NotImplementedError

    def init_stores(self) -> None:
        self.flow_store = FlowStore(self.clock)
        self.template_store = TemplateStore()

    def manages(self, method: str, path: str) -> bool:
        """Is this a management route (answered by :meth:`manage`)?"""
        if path.startswith(("/api/v2/partners/", "/flow_assets/")):
            return self.partner_api
        if path == "/v1/configs/templates":
            return method == "GET"
        return path.startswith("/v1/configs/templates/") and method == "DELETE"

    def manage(self, req: SimRequest) -> HttpResponse:
        try:
            if req.path.startswith("/flow_assets/"):
                return self.download(req.path)
            if req.path.startswith("/api/v2/partners/"):
                return self.partner(req)
            if req.headers.get("d360-api-key") != self.secret("api_key"):
                return d360_error(401, "Invalid api key")
            if req.method == "GET":
                return self.list_templates(req.query)
            name = req.path.removeprefix("/v1/configs/templates/")
            self.template_store.delete(name)
            message = f"template name={name} was deleted"
            body = {"meta": {"developer_message": message, "http_code": 200, "success": True}}
            return json_response(200, body)
        except Refusal as r:
            return refused(r)

    # -- Partner API: Flows ----------------------------------------------------------------

    def partner(self, req: SimRequest) -> HttpResponse:
        key = self.secret("partner_api_key")
        if not key or req.headers.get("x-api-key") != key:
            return d360_error(401, "Invalid API key")
        m = _FLOWS.match(req.path)
        if (
            m is None
            or m["p"] != self.secret("partner_id")
            or m["w"] != self.secret("waba_account_id")
        ):
            return d360_error(404, "Not found")
        rest, method = m["rest"], req.method
        if rest == "/flows" and method == "GET":
            return self.list_flows(req)
        if rest == "/flows" and method == "POST":
            return self.create(req.body)
        if rest == "/flows/migrate" and method == "POST":
            return self.migrate(req.body)
        one = _ONE.match(rest)
        if one is None:
            return d360_error(404, "Not found")
        flow_id, tail = one["id"], one["tail"] or ""
        route: dict[tuple[str, str], Callable[[], HttpResponse]] = {
            ("GET", ""): lambda: json_response(200, self.flow_out(self.flow_store.get(flow_id))),
            ("DELETE", ""): lambda: self.done(self.flow_store.delete, flow_id),
            ("POST", "/assets"): lambda: self.upload(flow_id, req),
            ("GET", "/assets"): lambda: self.assets(flow_id, req),
            ("POST", "/publish"): lambda: self.done(self.flow_store.publish, flow_id),
            ("POST", "/deprecate"): lambda: self.done(self.flow_store.deprecate, flow_id),
            ("GET", "/preview"): lambda: self.preview(flow_id, req.query),
        }
        action = route.get((method, tail))
        return action() if action is not None else d360_error(405, "Method not allowed")

    def flow_out(self, f: StoredFlow) -> dict[str, Any]:
        """FlowOut (``fields`` is not emulated: every field is answered)."""
        return {
            "id": f.id, "name": f.name, "categories": list(f.categories), "status": f.status,
            "validation_errors": list(f.validation_errors), "json_version": f.json_version,
            "data_api_version": f.data_api_version, "endpoint_uri": f.endpoint_uri,
        }  # fmt: skip

    def list_flows(self, req: SimRequest) -> HttpResponse:
        everything, _ = self.flow_store.page(None, 10**9)
        offset, limit = _int(req.query.get("offset"), 0), _int(req.query.get("limit"), PAGE)
        chunk = everything[offset : offset + max(1, limit)]
        body = {"flows": [self.flow_out(f) for f in chunk], "count": len(chunk)}
        return json_response(200, {**body, "total": len(everything)})

    def create(self, raw: bytes) -> HttpResponse:
        try:
            doc = json.loads(raw)
        except ValueError:
            return d360_error(400, "Wrong payload: body is not JSON")
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
            return d360_error(400, "Wrong payload: name is required")
        if extra := sorted(set(doc) - CREATE_KEYS):
            return d360_error(400, f"Wrong payload: unexpected field {extra[0]!r}")
        categories = doc.get("categories") or []
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            return d360_error(400, "Wrong payload: categories must be a list of strings")
        flow = self.flow_store.create(
            doc["name"], categories, clone_flow_id=doc.get("clone_flow_id"),
            endpoint_uri=doc.get("endpoint_uri"),
        )  # fmt: skip
        return json_response(200, {"id": flow.id})

    def done(self, action: Callable[[str], None], flow_id: str) -> HttpResponse:
        action(flow_id)
        return json_response(200, {"success": True})

    def upload(self, flow_id: str, req: SimRequest) -> HttpResponse:
        fields = form_fields(req)
        if fields is None or "file" not in fields:
            return d360_error(400, "Wrong payload: multipart/form-data with a `file` part")
        asset_type = fields.get("asset_type", (None, b"FLOW_JSON"))[1]
        if asset_type != b"FLOW_JSON":
            return d360_error(400, "Wrong payload: asset_type must be FLOW_JSON")
        text = fields["file"][1].decode("utf-8", "replace")
        errors = self.flow_store.upload(flow_id, text)
        return json_response(200, {"success": True, "validation_errors": errors})

    def assets(self, flow_id: str, req: SimRequest) -> HttpResponse:
        path = self.flow_store.asset_url(flow_id)
        items = []
        if path is not None:
            host = req.headers.get("host")
            url = f"http://{host}/{self.name}{path}" if host else f"/{self.name}{path}"
            items.append({"asset_type": "FLOW_JSON", "download_url": url, "name": "flow.json"})
        return json_response(200, {"assets": items, "count": len(items), "total": len(items)})

    def download(self, path: str) -> HttpResponse:
        """The stored JSON at a download URL (no key, like a CDN link); an old URL is gone."""
        parts = path.split("/")  # "", "flow_assets", id, updated_at, "flow.json"
        try:
            flow = self.flow_store.get(parts[2])
        except (Refusal, IndexError):
            return d360_error(404, "Not found")
        if self.flow_store.asset_url(flow.id) != path or flow.json_text is None:
            return d360_error(404, "Not found")
        return HttpResponse.of(200, {"content-type": "application/json"}, flow.json_text.encode())

    def preview(self, flow_id: str, query: Mapping[str, str]) -> HttpResponse:
        url, expires = self.flow_store.preview(flow_id, query.get("invalidate") == "true")
        body = {"id": flow_id, "preview": {"preview_url": url, "expires_at": _iso(expires)}}
        return json_response(200, body)

    def migrate(self, raw: bytes) -> HttpResponse:
        """Only this account exists here: another source is unknown; this one's flows
        fail with Meta's "name exists" (4233041), as copies onto themselves would."""
        try:
            doc = json.loads(raw)
        except ValueError:
            return d360_error(400, "Wrong payload: body is not JSON")
        if not isinstance(doc, dict) or not isinstance(doc.get("source_waba_id"), str):
            return d360_error(400, "Wrong payload: source_waba_id is required")
        if doc["source_waba_id"] != self.secret("waba_account_id"):
            return d360_error(404, "Not found: source WABA")
        everything, _ = self.flow_store.page(None, 10**9)
        names = doc.get("source_flow_names") or [f.name for f in everything]
        failed = [
            {"source_name": n, "error_code": "4233041", "error_message": "Flow name exists"}
            for n in names
        ]
        return json_response(200, {"migrated_flows": [], "failed_flows": failed})

    def flow_callbacks(self) -> list[WebhookCall]:
        """Meta's ``flows`` FLOW_STATUS_CHANGE webhooks for the store's changes so far
        (drained), relayed in Meta's envelope [unconfirmed: 360dialog's docs do not say
        which webhook gets the ``flows`` field]."""
        calls = []
        now = int(self.clock())
        for flow_id, old, new in self.flow_store.changes:
            value: dict[str, Any] = {"event": "FLOW_STATUS_CHANGE", "flow_id": flow_id}
            value["message"] = f"Flow {flow_id} changed status from {old} to {new}"
            value["new_status"] = new
            if old is not None:
                value["old_status"] = old
            change = {"field": "flows", "value": value}
            waba = self.secret("waba_id") or "100000000000000"
            doc = {"object": "whatsapp_business_account", "entry": [
                {"id": waba, "time": now, "changes": [change]}]}  # fmt: skip
            calls.append(self.webhook(doc))
        self.flow_store.changes.clear()
        return calls

    # -- Messaging API: templates -----------------------------------------------------------

    def list_templates(self, query: Mapping[str, str]) -> HttpResponse:
        try:
            filters = json.loads(query.get("filters") or "{}")
        except ValueError:
            return d360_error(400, "Wrong payload: filters must be JSON")
        if not isinstance(filters, dict):
            return d360_error(400, "Wrong payload: filters must be an object")
        wanted = {
            k: v for k, v in filters.items() if k in ("name", "status", "category", "language")
        }
        found, _ = self.template_store.page(None, 10**9, **wanted)
        if "id" in filters:
            found = [t for t in found if t["id"] == str(filters["id"])]
        offset, limit = _int(query.get("offset"), 0), _int(query.get("limit"), PAGE)
        chunk = found[offset : offset + max(1, limit)]
        namespace = self.secret("namespace")
        items = [{**t, **({"namespace": namespace} if namespace else {})} for t in chunk]
        body = {"count": len(items), "filters": filters, "limit": limit, "offset": offset}
        body.update(sort=["id"], total=len(found), waba_templates=items)
        return json_response(200, body)
