"""1msg's Flows, templates and public-key routes for the simulator (:mod:`.onemsg`).

Served from :mod:`gateway.emulator.flow_store` in 1msg's shapes. Sources: 1msg's OpenAPI
1.0.0 as generated into its MCP tool list (github.com/1msg/1msg-mcp
src/tools.generated.ts @4a005cac: request keys, camelCase, ``flowJson`` an object, the
"currently returns HTTP 501" notes) and its generated SDK (github.com/1msg/1msg-sdk
@aee16715 ``java/docs/FlowsApi.md`` and models: ``{items, paging, count, total}``,
``{success, validationErrors}``, ``{success}``, ``{total, templates}``).

Unconfirmed, and so chosen here: answers 1msg types as free-form relay Graph's (a flow
object, ``{"preview": {preview_url, expires_at}}``); a refusal relays Graph's error object
(``{"error": {message, code, …}}``, 1msg: "May be a string or a JSON object"); the 501
body's words. ``not_implemented`` names the operations that answer 501, as 1msg documents
for create, list, assets and metadata (:data:`DOCUMENTED_501`); empty by default.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.emulator import specs
from gateway.emulator.base import Invalid, json_response
from gateway.emulator.flow_store import FlowStore, Refusal, StoredFlow, TemplateStore
from gateway.http import HttpResponse

DOCUMENTED_501 = frozenset({"create", "list", "assets", "metadata"})
"""1msg: "Currently returns HTTP 501 until the Meta Graph Flows rewrite is available"."""
NOT_YET = (
    "Not implemented: Flows management currently returns HTTP 501 until the Meta Graph "
    "Flows rewrite is available"
)
PEM_HEADER = "-----BEGIN PUBLIC KEY-----"
Category = Literal[
    "SIGN_UP", "SIGN_IN", "APPOINTMENT_BOOKING", "LEAD_GENERATION", "CONTACT_US",
    "CUSTOMER_SUPPORT", "SURVEY", "OTHER",
]  # fmt: skip


class _Body(BaseModel):
    """The generated schemas close the top level (``additionalProperties: false``)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Create(_Body):  # create_flows: name + categories required
    name: Annotated[str, Field(min_length=1)]
    categories: Annotated[list[Category], Field(min_length=1)]
    endpointUri: str | None = None
    publish: bool | None = None
    flowJson: dict[str, Any] | None = None


class _Assets(_Body):  # patch_flows_flow_id_assets: flowJson (an object) required
    flowJson: dict[str, Any]


class _Metadata(_Body):  # patch_flows_flow_id_metadata
    name: Annotated[str, Field(min_length=1)] | None = None
    categories: Annotated[list[Category], Field(min_length=1)] | None = None
    endpointUri: str | None = None


class _Remove(_Body):  # remove_template: name required
    name: Annotated[str, Field(min_length=1)]


def _read(model: type[_Body], raw: bytes) -> dict[str, Any] | Invalid:
    try:
        doc = json.loads(raw or b"{}")
    except ValueError:
        return Invalid("body", "is not JSON", False)
    try:
        model.model_validate(doc)
    except ValidationError as exc:
        return Invalid.of(exc)
    return doc  # type: ignore[no-any-return]  # an object: the model took it


def _iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def flow_doc(flow: StoredFlow) -> dict[str, Any]:
    """A flow as Graph's ``GET /{flow-id}`` answers it (relayed by 1msg)."""
    doc: dict[str, Any] = {
        "id": flow.id, "name": flow.name, "status": flow.status,
        "categories": list(flow.categories), "validation_errors": flow.validation_errors,
    }  # fmt: skip
    for key, value in (
        ("json_version", flow.json_version),
        ("data_api_version", flow.data_api_version),
        ("endpoint_uri", flow.endpoint_uri),
    ):
        if value is not None:
            doc[key] = value
    return doc


class OneMsgManagement:
    """The management routes of one 1msg instance (its WABA's flows and templates)."""

    def __init__(self, clock: Callable[[], float], waba_id: str) -> None:
        self.clock = clock
        self.flows = FlowStore(clock)
        self.templates = TemplateStore()
        self.waba_id = waba_id
        self.not_implemented: set[str] = set()
        """Operations answering 501 (``create``, ``list``, ``assets``, ``metadata``, or
        any route name below); ``DOCUMENTED_501`` is what 1msg documents."""
        self.public_key: str | None = None

    def handle(
        self, method: str, parts: list[str], query: Mapping[str, str], body: bytes
    ) -> HttpResponse | None:
        """The answer to ``parts`` (the path after the instance), or None: not ours."""
        route = _route(method, parts)
        if route is None:
            return None
        name, flow_id = route
        if name in self.not_implemented:
            return json_response(501, {"error": NOT_YET})
        try:
            return self._answer(name, flow_id, query, body)
        except Refusal as exc:
            err: dict[str, Any] = {"message": exc.message, "type": "OAuthException"}
            err["code"] = exc.code
            if exc.subcode is not None:
                err["error_subcode"] = exc.subcode
            return json_response(exc.http, {"error": err})

    def _answer(
        self, name: str, flow_id: str, query: Mapping[str, str], body: bytes
    ) -> HttpResponse:
        store = self.flows
        if name == "public_key":
            return self._public_key(body)
        if name == "public_key.get":
            status = "VALID" if self.public_key else None
            doc = {"business_public_key": self.public_key}
            return json_response(200, doc | {"business_public_key_signature_status": status})
        if name == "templates":
            return self._templates(query)
        if name == "remove_template":
            checked = _read(_Remove, body)
            if isinstance(checked, Invalid):
                return _invalid(checked)
            self.templates.delete(checked["name"])
            return json_response(200, {"result": "success"})
        if name == "list":
            items, after = store.page(query.get("after"), 100)
            paging: dict[str, Any] = {"cursors": {"before": "", "after": after or ""}}
            if after:
                paging["next"] = f"/flows?after={after}"
            total = len(store.page(None, 10**6)[0])
            listed: dict[str, Any] = {"items": [flow_doc(f) for f in items], "paging": paging}
            return json_response(200, listed | {"count": len(items), "total": total})
        if name == "create":
            checked = _read(_Create, body)
            if isinstance(checked, Invalid):
                return _invalid(checked)
            raw = checked.get("flowJson")
            flow = store.create(
                checked["name"], checked["categories"], endpoint_uri=checked.get("endpointUri"),
                flow_json=None if raw is None else json.dumps(raw),
                publish=bool(checked.get("publish")),
            )  # fmt: skip
            answer: dict[str, Any] = {"id": flow.id, "success": True}
            if raw is not None:
                answer["validationErrors"] = flow.validation_errors
            return json_response(200, answer)
        if name == "assets":
            checked = _read(_Assets, body)
            if isinstance(checked, Invalid):
                return _invalid(checked)
            # 1msg has the object; Meta gets a serialization of it, so the line/column of
            # its errors number that text, not the caller's file (the pointers' paths hold)
            errors = store.upload(flow_id, json.dumps(checked["flowJson"]))
            return json_response(200, {"success": True, "validationErrors": errors})
        if name == "metadata":
            checked = _read(_Metadata, body)
            if isinstance(checked, Invalid):
                return _invalid(checked)
            store.update_metadata(
                flow_id, name=checked.get("name"), categories=checked.get("categories"),
                endpoint_uri=checked.get("endpointUri"),
            )  # fmt: skip
            return json_response(200, {"success": True})
        if name == "get":
            return json_response(200, flow_doc(store.get(flow_id)))
        if name == "preview":
            url, expires = store.preview(flow_id)
            preview = {"preview_url": url, "expires_at": _iso(expires)}
            return json_response(200, {"preview": preview, "id": flow_id})
        if name == "delete":
            store.delete(flow_id)
        elif name == "publish":
            store.publish(flow_id)
        elif name == "deprecate":
            store.deprecate(flow_id)
        return json_response(200, {"success": True})

    def _public_key(self, body: bytes) -> HttpResponse:
        try:
            doc = json.loads(body)
        except ValueError:
            return json_response(400, {"error": "Missing or invalid PEM key"})
        problem = specs.check("onemsg", "public_key", doc)
        if problem is not None:
            return _invalid(Invalid(problem.field, problem.problem, problem.missing))
        key = str(doc["business_public_key"])
        if not key.strip().startswith(PEM_HEADER):  # 1msg's documented 400
            return json_response(400, {"error": "Missing or invalid PEM key"})
        self.public_key = key
        return json_response(200, {"success": True})

    def _templates(self, query: Mapping[str, str]) -> HttpResponse:
        """``limit`` / ``offset`` / ``sort`` (id, name or status), as list_templates."""
        try:
            limit = int(query.get("limit", "100"))
            offset = int(query.get("offset", "0"))
        except ValueError:
            return json_response(400, {"error": "limit and offset must be integers"})
        sort = query.get("sort", "id")
        if sort not in ("id", "name", "status"):
            return json_response(400, {"error": "sort must be one of id, name, status"})
        every = self.templates.page(None, 10**6)[0]
        ordered = sorted(every, key=lambda t: (str(t[sort]), t["id"]))
        shown = [_template(t) for t in ordered[offset : offset + max(limit, 1)]]
        return json_response(200, {"total": len(every), "templates": shown})

    def status_documents(self) -> list[dict[str, Any]]:
        """Meta's ``flows`` FLOW_STATUS_CHANGE envelopes for the store's changes since the
        last call (creation included), as 1msg forwards Meta's hooks with ``rawHooks``."""
        changes, self.flows.changes[:] = list(self.flows.changes), []
        docs = []
        for flow_id, old, new in changes:
            value: dict[str, Any] = {"event": "FLOW_STATUS_CHANGE", "flow_id": flow_id}
            value["message"] = f"Flow status changed to {new}"
            value |= {"old_status": old, "new_status": new} if old else {"new_status": new}
            entry = {"id": self.waba_id, "time": int(self.clock())}
            entry["changes"] = [{"field": "flows", "value": value}]
            docs.append({"object": "whatsapp_business_account", "entry": [entry]})
        return docs


def _template(t: Mapping[str, Any]) -> dict[str, Any]:
    # the list shape of 1msg's GET /templates (reference/management.md §5.2)
    keys = ("id", "name", "language", "category", "status", "components")
    return {k: t[k] for k in keys} | {"namespace": t.get("namespace"), "rejected_reason": "NONE"}


def _invalid(problem: Invalid) -> HttpResponse:
    return json_response(400, {"error": f"Validation failed: {problem}"})


_FLOW_ROUTES: Mapping[tuple[str, str], str] = {
    ("GET", ""): "get",
    ("DELETE", ""): "delete",
    ("POST", "publish"): "publish",
    ("POST", "deprecate"): "deprecate",
    ("PATCH", "assets"): "assets",
    ("PATCH", "metadata"): "metadata",
    ("GET", "preview"): "preview",
}


def _route(method: str, parts: list[str]) -> tuple[str, str] | None:
    """(operation, flow id) for a management path after the instance, else None."""
    head, rest = parts[0], parts[1:]
    if head == "flows":
        if not rest:
            return {"GET": ("list", ""), "POST": ("create", "")}.get(method)
        if len(rest) <= 2:
            name = _FLOW_ROUTES.get((method, rest[1] if len(rest) == 2 else ""))
            return None if name is None else (name, rest[0])
        return None
    simple = {
        ("GET", "templates"): "templates",
        ("POST", "removeTemplate"): "remove_template",
        ("POST", "whatsapp_business_encryption"): "public_key",
        ("GET", "whatsapp_business_encryption"): "public_key.get",
    }
    name = simple.get((method, head)) if not rest else None
    return None if name is None else (name, "")


def routes() -> Iterable[str]:
    """Every operation name :attr:`OneMsgManagement.not_implemented` may hold."""
    return sorted({"list", "create", *_FLOW_ROUTES.values()})
