"""Simulated Meta WhatsApp Cloud API: Graph paths, Bearer token, signed webhooks.

Besides messages, template creation and the public key, it serves Meta's Graph
management calls (reference/flows.md §C, management.md §1) from a
:class:`~gateway.emulator.flow_store.FlowStore` per WABA and a
:class:`~gateway.emulator.flow_store.TemplateStore`, answering in Graph's shapes, and
queues the account webhooks each change causes (``flows`` FLOW_STATUS_CHANGE,
``message_template_status_update``) in :attr:`outbox`, which the HTTP app posts to the
webhook URL once the request is answered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from gateway.emulator import meta_hooks as hooks
from gateway.emulator.base import Invalid, Reply, SimRequest, WebhookCall, check_spec, json_response
from gateway.emulator.failures import FailureSite
from gateway.emulator.flow_store import FlowStore, Refusal, StoredFlow, TemplateStore
from gateway.emulator.meta_shaped import MetaShapedSim, _fields, graph_error
from gateway.http import HttpResponse

_META_PATH = re.compile(
    r"^/(v\d+\.\d+)/([^/]+)/(messages|message_templates|whatsapp_business_encryption)$"
)
_GRAPH_PATH = re.compile(r"^/(v\d+\.\d+)/([^/]+)(?:/([^/]+))?$")
_ASSET_PATH = re.compile(r"^/flow_assets/([^/]+)/(\d+)/flow\.json$")
_META_131047 = (
    "realworld meta_cloud/wh_status_failed_131047_zammad.json (a failed status); Meta's "
    "error-codes page: errors come 'synchronously …, asynchronously via Webhook, or "
    "sometimes through both'; Turn.io KB: 200 for messages outside the window"
)
DEFAULT_FLOW_FIELDS = ("id", "name", "status", "categories", "validation_errors")
"""What ``GET /{FLOW_ID}`` and the list answer without ``fields`` (flows.md §C)."""
_PREVIEW = re.compile(r"^preview(?:\.invalidate\((true|false)\))?$")
UNKNOWN_OBJECT = (
    "Unsupported get request. Object with ID '{}' does not exist, cannot be loaded due to "
    "missing permissions, or does not support this operation"
)  # Graph's words for an unknown node (code 100, subcode 33)
MIGRATE_NAME_EXISTS = 4233041  # Meta's failed_flows code for a name taken (flows.md §C)

Answer = Callable[[], HttpResponse]


def _refused(r: Refusal) -> HttpResponse:
    """A store's refusal in Graph's error envelope (with Meta's subcode when it has one)."""
    error: dict[str, Any] = {
        "message": r.message, "type": "OAuthException", "code": r.code,
        "error_user_msg": r.message, "fbtrace_id": "AEmulatorTrace",
    }  # fmt: skip
    if r.subcode is not None:
        error["error_subcode"] = r.subcode
    return json_response(r.http, {"error": error})


def _iso(ts: int) -> str:
    # Meta's sample: "expires_at": "2023-12-12T11:40:02+0000"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _list_param(value: Any) -> list[str] | None:
    """A list parameter as Graph takes it: a JSON array, a list, or comma-separated text."""
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            got = json.loads(text)
        except ValueError:
            raise Refusal(100, f"Invalid parameter: {text!r} is not a JSON array") from None
        return [str(v) for v in got] if isinstance(got, list) else None
    return [p.strip() for p in text.split(",") if p.strip()]


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class MetaSim(MetaShapedSim):
    """Meta's Graph API for one business number and WABA."""

    name = "meta_cloud"
    id_prefix = "wamid.HBgMETA"
    credentials = ("access_token",)
    failure_sites: ClassVar[Mapping[str, FailureSite]] = {
        "window_closed": FailureSite(
            "webhook",
            "200 + wamid, then one `failed` status: `errors[0].code` 131047 "
            '"Re-engagement message", no `contacts`',
            _META_131047,
            "likely",
            ("response", "400 Graph error 131047"),
        ),
        "rate_limit": FailureSite(
            "response",
            "429 Graph error 130429 + `Retry-After`",
            "reference/providers.md §1.6, §1.8; realworld meta_cloud/err_130429_metadocs.json",
            "confirmed",
        ),
        "server_error": FailureSite(
            "response",
            "503 Graph error 2 (service temporarily unavailable)",
            "reference/providers.md §1.6 (1, 2, 131000: retry); "
            "realworld meta_cloud/err_131000_tawn33y_issue.json",
            "likely",
        ),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flow_stores: dict[str, FlowStore] = {}
        self.templates = TemplateStore()
        self.outbox: list[WebhookCall] = []
        """Account webhooks queued by management calls, oldest first (the app posts them)."""
        self.account_webhooks: list[WebhookCall] = []
        self._account_time = 0
        """Every account webhook ever queued (the outbox empties), for tests."""
        self.management_calls: list[tuple[str, str]] = []
        """(method, path) of every management request answered, for tests."""
        self._origin = ""
        self.numbers: set[str] = {self.secret("phone_number_id")}
        """The business numbers this app sends from (:meth:`serve` adds more)."""

    @property
    def waba_id(self) -> str:
        return self.secret("waba_id")

    def flows(self, waba_id: str | None = None) -> FlowStore:
        """The Flows of ``waba_id`` (default: this account's), made on first use: another
        WABA of the same business is what ``migrate_flows`` copies from."""
        key = waba_id or self.waba_id
        if key not in self.flow_stores:
            prefix = "" if key == self.waba_id else str(len(self.flow_stores) + 1)
            self.flow_stores[key] = FlowStore(self.clock, prefix)
        return self.flow_stores[key]

    def authenticate(self, headers: Mapping[str, str]) -> HttpResponse | None:
        if headers.get("authorization") != f"Bearer {self.secret('access_token')}":
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        return None

    def operation(self, method: str, path: str) -> str | None:
        m = _META_PATH.match(path)
        if method != "POST" or m is None:
            return None
        node, edge = m.group(2), m.group(3)
        if edge == "messages" and node in self.numbers:
            return "message"
        if edge == "message_templates" and node == self.secret("waba_id"):
            return "template"
        if edge == "whatsapp_business_encryption" and node in self.numbers:
            return "public_key"
        return None

    def sending_number(self, path: str) -> str:
        m = _META_PATH.match(path)
        return m.group(2) if m is not None else self.secret("phone_number_id")

    def serve(self, account: Mapping[str, Any]) -> str | None:
        """Another number of this app (same access token): its messages are taken at
        its own path and its callbacks name it (``metadata.phone_number_id``)."""
        number = self.number_of(account)
        if number is not None:
            self.numbers.add(number)
        return number

    def webhook(self, doc: dict[str, Any]) -> WebhookCall:
        raw = json.dumps(doc).encode()
        signature = hmac.new(self.secret("app_secret").encode(), raw, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json", "x-hub-signature-256": f"sha256={signature}"}
        return WebhookCall(self.name, self.webhook_url or "", raw, headers)

    # -- management routes -------------------------------------------------------------

    def handle(self, req: SimRequest) -> Reply:
        if req.method == "GET" and (asset := _ASSET_PATH.match(req.path)):
            # a signed CDN link at Meta: no token needed (flow_store.asset_url)
            return Reply(self.serve_asset(asset.group(1), int(asset.group(2))))
        route = self.management_route(req)
        if route is None:
            return super().handle(req)
        denied = self.authenticate(req.headers)
        if denied is not None:
            return Reply(denied)
        host = req.headers.get("host")
        self._origin = f"http://{host}/{self.name}" if host else f"/{self.name}"
        self.management_calls.append((req.method, req.path))
        try:
            response = route()
        except Refusal as r:
            response = _refused(r)
        self.queue_changes()
        return Reply(response)

    def management_route(self, req: SimRequest) -> Answer | None:
        """The answer of a Graph management call, or None for the other paths."""
        m = _GRAPH_PATH.match(req.path)
        if m is None:
            return None
        node, edge, method, q = m.group(2), m.group(3), req.method, req.query
        if node == self.waba_id:
            if edge == "flows" and method in ("GET", "POST"):
                return (lambda: self.list_flows(q)) if method == "GET" else (
                    lambda: self.create_flow(req))  # fmt: skip
            if edge == "migrate_flows" and method == "POST":
                return lambda: self.migrate(q)
            if edge == "message_templates" and method in ("GET", "DELETE"):
                return (lambda: self.list_templates(q)) if method == "GET" else (
                    lambda: self.delete_templates(q))  # fmt: skip
            return None
        if node in self.numbers:
            return (lambda: self.phone_number(node, q)) if (method, edge) == ("GET", None) else None
        table: dict[tuple[str, str | None], Answer] = {
            ("GET", None): lambda: self.get_node(node, q),
            ("POST", None): lambda: self.update_metadata(node, req),
            ("DELETE", None): lambda: self.delete_flow(node),
            ("GET", "assets"): lambda: self.list_assets(node),
            ("POST", "assets"): lambda: self.upload(node, req),
            ("POST", "publish"): lambda: self.done(self.flows().publish, node),
            ("POST", "deprecate"): lambda: self.done(self.flows().deprecate, node),
        }
        return table.get((method, edge))

    def phone_number(self, number: str, q: Mapping[str, str]) -> HttpResponse:
        """``GET /{PHONE_NUMBER_ID}?fields=…``: ``throughput`` as Meta reports the tier
        (management.md §7.1: ``{"level": "STANDARD"}`` for 80 msg/s, ``HIGH`` for 1,000
        [likely]; anything else here ``NOT_APPLICABLE`` [unconfirmed]) from the number's
        emulated throughput; ``display_phone_number``."""
        node: dict[str, Any] = {}
        for name in self._field_list(q.get("fields") or "id"):
            if name == "throughput":
                tier = self.limits.tiers.get(number, self.limits.settings.throughput)
                levels = {80.0: "STANDARD", 1000.0: "HIGH"}
                node["throughput"] = {"level": levels.get(tier, "NOT_APPLICABLE")}
            elif name == "display_phone_number":
                node[name] = hooks.BUSINESS_NUMBER
        node["id"] = number
        return json_response(200, node)

    def done(self, action: Callable[[str], None], flow_id: str) -> HttpResponse:
        action(flow_id)
        return json_response(200, {"success": True})

    def _body(self, req: SimRequest) -> dict[str, Any]:
        fields = _fields(req.headers.get("content-type", "application/json"), req.body)
        if isinstance(fields, Invalid):
            raise Refusal(100, f"Invalid parameter: {fields}")
        return fields

    def create_flow(self, req: SimRequest) -> HttpResponse:
        body = self._body(req)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise Refusal(100, "The parameter name is required")
        flow_json = body.get("flow_json")
        if flow_json is not None and not isinstance(flow_json, str):
            raise Refusal(100, "Invalid parameter: flow_json must be a string")
        flow = self.flows().create(
            name, _list_param(body.get("categories")) or [], flow_json=flow_json,
            publish=_flag(body.get("publish")), clone_flow_id=body.get("clone_flow_id") or None,
            endpoint_uri=body.get("endpoint_uri") or None,
        )  # fmt: skip
        answer: dict[str, Any] = {"id": flow.id, "success": True}
        if flow_json is not None or body.get("clone_flow_id"):
            answer["validation_errors"] = flow.validation_errors
        return json_response(200, answer)

    def update_metadata(self, flow_id: str, req: SimRequest) -> HttpResponse:
        body = self._body(req)
        self.flows().update_metadata(
            flow_id, name=body.get("name") or None,
            categories=_list_param(body.get("categories")),
            endpoint_uri=body.get("endpoint_uri") or None,
        )  # fmt: skip
        return json_response(200, {"success": True})

    def upload(self, flow_id: str, req: SimRequest) -> HttpResponse:
        # Meta: multipart with file (≤10 MB), name=flow.json, asset_type=FLOW_JSON (§C)
        if not req.headers.get("content-type", "").startswith("multipart/form-data"):
            raise Refusal(100, "Invalid parameter: the Flow JSON is uploaded as multipart")
        fields = self._body(req)
        if fields.get("asset_type") != "FLOW_JSON":
            raise Refusal(100, "Invalid parameter: asset_type must be FLOW_JSON")
        if fields.get("name") != "flow.json":
            raise Refusal(100, "Invalid parameter: name must be flow.json")
        file = fields.get("file")
        if file is None:
            raise Refusal(100, "The parameter file is required")
        text = file.decode("utf-8", "replace") if isinstance(file, bytes) else str(file)
        errors = self.flows().upload(flow_id, text)
        return json_response(200, {"success": True, "validation_errors": errors})

    def delete_flow(self, flow_id: str) -> HttpResponse:
        self.flows().delete(flow_id)
        return json_response(200, {"success": True})

    def list_flows(self, q: Mapping[str, str]) -> HttpResponse:
        fields = self._field_list(q.get("fields"))
        limit = self._limit(q.get("limit"))
        items, after = self.flows().page(q.get("after") or None, limit)
        data = [self.flow_node(f, fields, False) for f in items]
        return json_response(200, {"data": data, "paging": self._paging(items, after, q)})

    def _limit(self, value: str | None) -> int:
        try:
            return max(1, min(int(value or 25), 1000))
        except ValueError:
            raise Refusal(100, "Invalid parameter: limit") from None

    def _paging(self, items: list[Any], after: str | None, q: Mapping[str, str]) -> dict[str, Any]:
        paging: dict[str, Any] = {"cursors": {"before": q.get("after") or "", "after": after or ""}}
        if after is not None:
            paging["next"] = f"{self._origin}/next?after={after}"
        return paging

    def _field_list(self, raw: str | None) -> list[str]:
        return (
            [f.strip() for f in raw.split(",") if f.strip()] if raw else list(DEFAULT_FLOW_FIELDS)
        )

    def get_node(self, node: str, q: Mapping[str, str]) -> HttpResponse:
        try:
            flow = self.flows().get(node)
        except Refusal:
            try:
                return json_response(200, self.templates.get(node))
            except Refusal:
                raise Refusal(100, UNKNOWN_OBJECT.format(node), subcode=33) from None
        return json_response(200, self.flow_node(flow, self._field_list(q.get("fields")), True))

    def flow_node(self, flow: StoredFlow, fields: list[str], single: bool) -> dict[str, Any]:
        """The Graph node of ``flow`` with the ``fields`` asked for."""
        node: dict[str, Any] = {}
        for name in fields:
            preview = _PREVIEW.match(name)
            if preview:
                url, expires = self.flows().preview(flow.id, preview.group(1) == "true")
                node["preview"] = {"preview_url": url, "expires_at": _iso(expires)}
            elif name == "health_status":
                node[name] = self.health(flow)
            elif name == "updated_at":
                node[name] = _iso(flow.updated_at)
            elif name in ("name", "status", "categories", "validation_errors", "json_version",
                          "data_api_version", "endpoint_uri"):  # fmt: skip
                value = getattr(flow, name)
                if value is not None:
                    node[name] = value
            elif name != "id":
                raise Refusal(100, f"(#100) Tried accessing nonexisting field ({name})")
        node["id"] = flow.id
        return node

    def health(self, flow: StoredFlow) -> dict[str, Any]:
        # flows.md §C: can_send_message AVAILABLE | LIMITED | BLOCKED, per entity
        can = {"BLOCKED": "BLOCKED", "THROTTLED": "LIMITED"}.get(flow.status, "AVAILABLE")
        entity = {"entity_type": "FLOW", "id": flow.id, "can_send_message": can}
        return {"can_send_message": can, "entities": [entity]}

    def list_assets(self, flow_id: str) -> HttpResponse:
        path = self.flows().asset_url(flow_id)
        data = []
        if path is not None:
            item = {"name": "flow.json", "asset_type": "FLOW_JSON"}
            data.append({**item, "download_url": f"{self._origin}{path}"})
        return json_response(
            200, {"data": data, "paging": {"cursors": {"before": "", "after": ""}}}
        )

    def serve_asset(self, flow_id: str, stamp: int) -> HttpResponse:
        """The Flow JSON at a download_url: gone (404) once a newer upload replaced it."""
        for store in self.flow_stores.values():
            try:
                flow = store.get(flow_id)
            except Refusal:
                continue
            if flow.json_text is not None and flow.updated_at == stamp:
                return HttpResponse.of(
                    200, {"content-type": "application/json"}, flow.json_text.encode()
                )
        return HttpResponse.of(404, {"content-type": "text/plain"}, b"URL signature expired")

    def migrate(self, q: Mapping[str, str]) -> HttpResponse:
        source_id = q.get("source_waba_id")
        if not source_id:
            raise Refusal(100, "The parameter source_waba_id is required")
        if source_id == self.waba_id:
            raise Refusal(100, "Invalid parameter: the source and destination are the same")
        source, dest = self.flows(source_id), self.flows()
        names = _list_param(q.get("source_flow_names"))
        everyone, _ = source.page(None, 10**6)
        chosen = [f for f in everyone if names is None or f.name in names]
        migrated, failed = [], []
        for f in chosen:
            try:
                new = dest.create(
                    f.name, list(f.categories), flow_json=f.json_text,
                    publish=f.status == "PUBLISHED", endpoint_uri=f.endpoint_uri,
                )  # fmt: skip
            except Refusal as r:
                failed.append({"source_name": f.name, "error_code": str(MIGRATE_NAME_EXISTS),
                               "error_message": r.message})  # fmt: skip
                continue
            migrated.append({"source_name": f.name, "source_id": f.id, "migrated_id": new.id})
        return json_response(200, {"migrated_flows": migrated, "failed_flows": failed})

    def list_templates(self, q: Mapping[str, str]) -> HttpResponse:
        filters = {k: _list_param(q.get(k)) for k in ("name", "status", "category", "language")}
        items, after = self.templates.page(q.get("after") or None, self._limit(q.get("limit")),
                                           **filters)  # fmt: skip
        return json_response(200, {"data": items, "paging": self._paging(items, after, q)})

    def delete_templates(self, q: Mapping[str, str]) -> HttpResponse:
        name = q.get("name")
        if not name:
            raise Refusal(100, "The parameter name is required")
        self.templates.delete(name, q.get("hsm_id") or None)
        return json_response(200, {"success": True})

    def create_template(self, raw: bytes) -> HttpResponse:
        """Meta's template creation, kept in the template store (reviewed: PENDING)."""
        body = check_spec("meta_cloud", "template_create", raw)
        if isinstance(body, Invalid):
            return self.invalid(body)
        for t in self.templates.page(None, 10**6, name=body["name"])[0]:
            if t["language"] == body["language"]:
                words = f"Content in this language already exists with the name {body['name']}"
                return _refused(Refusal(100, words, subcode=2388024))
        item = self.templates.add(
            body["name"], body["language"], body["category"], body["components"], "PENDING"
        )
        self.queue_changes()
        return json_response(200, {"id": item["id"], "status": "PENDING",
                                   "category": body["category"]})  # fmt: skip

    # -- account webhooks ----------------------------------------------------------------

    def queue_changes(self) -> None:
        """Turn every store change since the last call into its webhook, in order."""
        now = int(self.clock())
        for waba, store in self.flow_stores.items():
            for flow_id, old, new in store.changes:
                value: dict[str, Any] = {"event": "FLOW_STATUS_CHANGE", "flow_id": flow_id}
                name = self._flow_name(store, flow_id)
                if old is None:
                    value["message"] = f"Flow {name} was created with status {new}"
                else:
                    value["message"] = f"Flow {name} changed status from {old} to {new}"
                    value["old_status"] = old
                value["new_status"] = new
                self.outbox.append(self.webhook(self.account_document(waba, "flows", value, now)))
            store.changes.clear()
        for template_id, _old, new in self.templates.changes:
            try:
                t = self.templates.get(template_id)
            except Refusal:
                continue
            value = {
                "event": new, "message_template_id": int(template_id),
                "message_template_name": t["name"], "message_template_language": t["language"],
                "reason": "NONE", "message_template_category": t["category"],
            }  # fmt: skip
            doc = self.account_document(self.waba_id, "message_template_status_update", value, now)
            self.outbox.append(self.webhook(doc))
        self.templates.changes.clear()

    @staticmethod
    def _flow_name(store: FlowStore, flow_id: str) -> str:
        try:
            return store.get(flow_id).name
        except Refusal:
            return flow_id

    def account_document(
        self, waba: str, field: str, value: dict[str, Any], now: int
    ) -> dict[str, Any]:
        """An account-level change (management.md §2, §3): no ``metadata``, the WABA's id."""
        # One second apart at least: a receiver tells a second identical move (published,
        # edited, published again) from a redelivery by the envelope's time.
        now = self._account_time = max(now, self._account_time + 1)
        entry = {"id": waba, "time": now, "changes": [{"field": field, "value": value}]}
        return {"object": "whatsapp_business_account", "entry": [entry]}

    def take_outbox(self) -> list[WebhookCall]:
        """The queued webhooks (emptied)."""
        calls, self.outbox = self.outbox, []
        self.account_webhooks.extend(calls)
        return calls


SIMULATOR = MetaSim
