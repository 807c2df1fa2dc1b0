"""Simulated Sinch Conversation API: OAuth token endpoint, ``messages:send``, signed
callbacks; and the Provisioning API's WhatsApp templates (list, get by name, delete all
languages or one), served from a :class:`~gateway.emulator.flow_store.TemplateStore`."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets as pysecrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs

from gateway.emulator import specs
from gateway.emulator.base import (
    Fault,
    Invalid,
    Reply,
    Sent,
    Sim,
    SimRequest,
    WebhookCall,
    check_spec,
    json_response,
)
from gateway.emulator.failures import FailureSite
from gateway.emulator.flow_store import Refusal, TemplateStore
from gateway.emulator.limits import LimitKind, Limits, LimitSite, Refused
from gateway.emulator.users import is_bsuid, is_phone
from gateway.http import HttpResponse

_SEND = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_TEMPLATES = re.compile(
    r"^/v1/projects/([^/]+)/whatsapp/templates(?:/([^/]+)(?:/languages/([^/]+))?)?$"
)
_PAGE_MAX = 1000  # pageSize 1..1000 (Provisioning API, list templates)
_TRIGGERS = {"APPROVED": "WHATSAPP_TEMPLATE_APPROVED", "REJECTED": "WHATSAPP_TEMPLATE_REJECTED"}
_STATUS = {"sent": "QUEUED_ON_CHANNEL", "delivered": "DELIVERED", "read": "READ"}
_EXPIRED = 'Bearer error="invalid_token", error_description="expired"'
_CHANNELS = frozenset({"WHATSAPP"})
"""The channels of the simulated Conversation API app: WhatsApp only."""
_TTL_MIN, _TTL_MAX = specs.extract("sinch")["$defs"]["SendMessageRequest"]["properties"]["ttl"][
    "x-seconds-range"
]
_TTL = re.compile(r"([0-9]+)s")
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z0-9]+)?")
_HEADER_MAX = 60


def _identity(sent: Sent) -> str:
    """The recipient as Sent; a BSUID send shows the phone if the business may see it."""
    user = sent.user
    if user is None or sent.to_phone:
        return sent.to
    return user.phone if user.phone and user.phone_visible(False) else user.user_id


def rpc_error(status: int, name: str, message: str, **headers: str) -> HttpResponse:
    body = {"error": {"code": status, "message": message, "status": name, "details": []}}
    return json_response(status, body, headers)


def provisioning_error(status: int, code: str, message: str, resolution: str) -> HttpResponse:
    """The Provisioning API's error body (management.md §6.1); its codes are not published,
    so ``errorCode`` here is the HTTP reason [unconfirmed]."""
    body = {"errorCode": code, "message": message, "resolution": resolution}
    return json_response(status, body)


def sinch_template(t: dict[str, Any]) -> dict[str, Any]:
    """A stored template in the Provisioning API's shape: ``state``, ``whatsappId``,
    ``details.components``, upper-case ``language`` (WhatsappTemplateLanguagesEnum)."""
    return {
        "name": t["name"],
        "language": t["language"].upper(),
        "category": t["category"],
        "state": t["status"],
        "whatsappId": t["id"],
        "details": {"components": t["components"]},
    }


class SinchSim(Sim):
    """Sinch: OAuth token endpoint, ``messages:send``, signed callbacks."""

    name = "sinch"
    credentials = ("project_id", "app_id", "key_id")
    default_limits: ClassVar[Limits] = Limits(project_rate=800.0, queue_rate=20.0)
    limit_sites: ClassVar[Mapping[LimitKind, LimitSite]] = {
        "project_rate": LimitSite(
            "RESOURCE_EXHAUSTED",
            "429 `RESOURCE_EXHAUSTED` + `Retry-After` (counted under the project id)",
            "reference/providers.md §4.4 (800 requests/s per project)",
            "confirmed",
        ),
        "queue": LimitSite(
            "RESOURCE_EXHAUSTED",
            "200 at once, callbacks held until the message leaves the app queue; when "
            "full, 429 `RESOURCE_EXHAUSTED` + `Retry-After` (counted under the app id)",
            "reference/providers.md §4.4 (500,000-message queue drained at 20 msg/s)",
            "likely",
        ),
    }
    failure_sites: ClassVar[Mapping[str, FailureSite]] = {
        "window_closed": FailureSite(
            "webhook",
            "200 + message_id, then MESSAGE_DELIVERY `FAILED`, `reason.code` "
            "OUTSIDE_ALLOWED_SENDING_WINDOW, `channel_code` 131047",
            "reference/providers.md §4.5; "
            "realworld sinch/wh_delivery_failed_outside_window_docs.json",
            "confirmed",
        ),
        "rate_limit": FailureSite(
            "response",
            "429 `RESOURCE_EXHAUSTED` + `Retry-After`",
            "reference/providers.md §4.4",
            "likely",
        ),
        "server_error": FailureSite(
            "response",
            "503 `UNAVAILABLE`",
            "reference/providers.md §4.4 (500/501/503: retry)",
            "likely",
        ),
        "expire_token": FailureSite(
            "response",
            '401 `UNAUTHENTICATED`, `www-authenticate: …"expired"`; the token is revoked',
            "reference/providers.md §4.1 (the SDK refreshes once on 401 expired)",
            "confirmed",
        ),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token_requests = 0
        self.templates = TemplateStore()
        """The project's WhatsApp templates (Provisioning API); tests add them directly."""
        self.leaves_queue: dict[str, float] = {}
        """Message id → the timer value at which it leaves the app queue."""

    def number_of(self, account: Mapping[str, Any]) -> str | None:
        return str(account.get("app_id")) if self.same_credentials(account) else None

    def not_before(self, sent: Sent) -> float:
        return self.leaves_queue.get(sent.message_id, 0.0)

    def _iso(self, later: float = 0.0) -> str:
        return (
            datetime.fromtimestamp(self.clock() + later, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )

    def _basic_ok(self, header: str | None) -> bool:
        pair = f"{self.secret('key_id')}:{self.secret('key_secret')}"
        return header == "Basic " + base64.b64encode(pair.encode()).decode()

    def handle(self, req: SimRequest) -> Reply:
        method, path, headers, body = req.method, req.path, req.headers, req.body
        auth = headers.get("authorization")
        if method == "POST" and path == "/oauth2/token":
            return Reply(self._token(auth, headers, body))
        t = _TEMPLATES.match(path)
        if t is not None and t.group(1) == self.secret("project_id"):
            bearer = auth[7:] if auth and auth.startswith("Bearer ") else None
            if not (bearer in self.tokens or self._basic_ok(auth)):
                return Reply(
                    provisioning_error(401, "UNAUTHORIZED", "Unauthorized", "Check the key")
                )
            return Reply(self._templates(method, t.group(2), t.group(3), req.query))
        m = _SEND.match(path)
        if method != "POST" or m is None or m.group(1) != self.secret("project_id"):
            return Reply(rpc_error(404, "NOT_FOUND", f"{path} not found (check the region)"))
        fault = self.take_fault()
        bearer = auth[7:] if auth and auth.startswith("Bearer ") else None
        if fault is not None and fault.kind == "expire_token" and bearer:
            self.tokens.discard(bearer)
            return Reply(
                rpc_error(
                    401,
                    "UNAUTHENTICATED",
                    "token expired",
                    **{"www-authenticate": _EXPIRED},
                )
            )
        if not (bearer in self.tokens or self._basic_ok(auth)):
            return Reply(
                rpc_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            )
        project = m.group(1)
        over = self.limits.check_request(project)
        if over is not None:  # not a send: the fault waits for the next one
            if fault is not None:
                self.faults.appendleft(fault)
            return Reply(self.refuse(project, over, None))
        return self.apply_transport_fault(fault, lambda: Reply(self._send(body, fault)))

    def _token(self, auth: str | None, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        self.token_requests += 1
        form = parse_qs(body.decode("utf-8", "replace"))
        if not self._basic_ok(auth):
            return json_response(401, {"error": "invalid_client"})
        if form.get("grant_type") != ["client_credentials"]:
            return json_response(400, {"error": "unsupported_grant_type"})
        token = pysecrets.token_urlsafe(24)
        self.tokens.add(token)
        return json_response(
            200, {"access_token": token, "expires_in": 3599, "scope": "", "token_type": "bearer"}
        )

    def _send(self, raw: bytes, fault: Fault | None) -> HttpResponse:
        body = check_spec(self.name, "send", raw)
        if isinstance(body, Invalid):
            return rpc_error(400, "INVALID_ARGUMENT", f"Invalid argument: {body}")
        problem = _loose_rules(body)
        if problem is not None:
            return rpc_error(400, "INVALID_ARGUMENT", f"Invalid argument: {problem}")
        if body["app_id"] != self.secret("app_id"):
            return rpc_error(404, "NOT_FOUND", "App not found (check the region)")
        message = body["message"]
        recipient = body["recipient"]
        to = (
            recipient["identified_by"]["channel_identities"][0]["identity"]
            if "identified_by" in recipient
            else recipient["contact_id"]
        )
        kind: Literal["interactive", "template"]
        flow = _whatsapp_flow(message)
        if flow is not None:  # WhatsApp gets the channel-specific message, not an omni one
            kind, token = "interactive", flow.get("flow_token")
        else:
            template = message["template_message"]["channel_template"]["WHATSAPP"]
            kind = "template"
            params = template.get("parameters", {})
            token = next((v for k, v in params.items() if k.endswith("flow_token")), None)
        app = self.secret("app_id")
        leaves = self.limits.check_queue(app)
        if isinstance(leaves, Refused):
            return self.refuse(app, leaves, fault)
        message_id = self.next_id("01HEMU")
        self.sent[message_id] = Sent(
            self.name, message_id, str(to), kind, token, body,
            window_closed=self.fails_later(fault), user=self.user_for(str(to)), number=app,
        )  # fmt: skip
        self.leaves_queue[message_id] = leaves
        return json_response(200, {"message_id": message_id, "accepted_time": self._iso()})

    def _templates(
        self, method: str, name: str | None, language: str | None, query: Mapping[str, str]
    ) -> HttpResponse:
        try:
            if method == "GET" and name is None:
                return self._template_list(query)
            if method == "GET" and language is None and name is not None:
                found, _ = self.templates.page(None, 10**6, name=name)
                if not found:
                    raise Refusal(100, f"Template {name} not found", 404)
                return json_response(200, {"templates": [sinch_template(x) for x in found]})
            if method == "DELETE" and name is not None:
                return self._template_delete(name, language, query)
        except Refusal as exc:
            return provisioning_error(404, "NOT_FOUND", exc.message, "Check the template name")
        return provisioning_error(405, "METHOD_NOT_ALLOWED", f"{method} not allowed", "")

    def _template_list(self, query: Mapping[str, str]) -> HttpResponse:
        size_text = query.get("pageSize", "50")  # "the first 50 templates are returned"
        if not size_text.isdigit() or not 1 <= int(size_text) <= _PAGE_MAX:
            return provisioning_error(
                400, "INVALID_ARGUMENT", "pageSize must be 1..1000", "Fix the pageSize"
            )
        states = [v for k in ("filterStates", "filterStatuses") if (v := query.get(k))]
        filters: dict[str, str | list[str] | None] = {
            "name": query.get("templateName"),
            "status": states or None,
        }
        items, after = self.templates.page(query.get("pageToken"), int(size_text), **filters)
        total, _ = self.templates.page(None, 10**6, **filters)
        page: dict[str, Any] = {"totalSize": len(total), "pageSize": len(items)}
        page["templates"] = [sinch_template(x) for x in items]
        if after:
            page["nextPageToken"] = after
        return json_response(200, page)

    def _template_delete(
        self, name: str, language: str | None, query: Mapping[str, str]
    ) -> HttpResponse:
        if language is None:
            self.templates.delete(name)
            return json_response(200, {})
        found, _ = self.templates.page(None, 10**6, name=name)
        match = [x for x in found if x["language"].upper() == language.upper()]
        # "By default only draft is removed. Use deleteSubmitted=true to also remove the
        # submitted template" (Provisioning API, delete by name and language).
        if query.get("deleteSubmitted") != "true":
            match = [x for x in match if x["status"] == "DRAFT"]
        if not match:
            raise Refusal(100, f"Template {name} ({language}) not found", 404)
        for x in match:
            self.templates.delete(name, template_id=x["id"])
        return json_response(200, {})

    def template_callbacks(self) -> list[WebhookCall]:
        """The Provisioning API callbacks for the store's review outcomes (approved,
        rejected), drained from ``templates.changes``: ``{type, payload}``, signed as the
        Conversation API signs [unconfirmed: Sinch does not publish the base string]."""
        calls: list[WebhookCall] = []
        changes, self.templates.changes[:] = list(self.templates.changes), []
        for template_id, _old, new in changes:
            trigger = _TRIGGERS.get(new)
            if trigger is None:
                continue
            with contextlib.suppress(Refusal):  # deleted since
                payload = sinch_template(self.templates.get(template_id))
                calls.append(self._signed({"type": trigger, "payload": payload}))
        return calls

    def rate_limited(self, retry_after: int) -> HttpResponse:
        return rpc_error(
            429, "RESOURCE_EXHAUSTED", "Quota exceeded", **{"retry-after": str(retry_after)}
        )

    def server_error(self) -> HttpResponse:
        return rpc_error(503, "UNAVAILABLE", "The service is currently unavailable.")

    def callbacks(
        self, sent: Sent, answers: Mapping[str, Any] | None, statuses: tuple[str, ...]
    ) -> list[WebhookCall]:
        # Still in the app queue: it happens when the message leaves it.
        later = max(0.0, self.not_before(sent) - self.limits.timer())
        common = {
            "app_id": self.secret("app_id"),
            "project_id": self.secret("project_id"),
            "accepted_time": self._iso(),
            "event_time": self._iso(later),
            "message_metadata": "",
        }
        identity = {"channel": "WHATSAPP", "identity": _identity(sent)}
        docs: list[dict[str, Any]] = []
        reports = ["FAILED"] if sent.window_closed else [_STATUS[s] for s in statuses]
        for status in reports:
            report: dict[str, Any] = {
                "message_id": sent.message_id,
                "status": status,
                "channel_identity": identity,
                "processing_mode": "DISPATCH",
            }
            if status == "FAILED":
                report["reason"] = {
                    "code": "OUTSIDE_ALLOWED_SENDING_WINDOW",
                    "sub_code": "UNSPECIFIED_SUB_CODE",
                    "description": "The underlying channel reported: Message failed to send "
                    "because more than 24 hours have passed since the customer last replied "
                    "to this number",
                    "channel_code": "131047",
                }
            docs.append({**common, "message_delivery_report": report})
        if answers is not None and not sent.window_closed:
            response = (
                {"flow_token": sent.flow_token, **answers} if sent.flow_token else dict(answers)
            )
            nfm = {"name": "flow", "body": "Sent", "response_json": json.dumps(response)}
            docs.append(
                {
                    **common,
                    "message": {
                        "id": self.next_id("01HEMUIN"),
                        "direction": "TO_APP",
                        "channel_identity": {**identity, "app_id": ""},
                        "accept_time": self._iso(later),
                        "processing_mode": "DISPATCH",
                        "contact_message": {
                            "channel_specific_message": {
                                "message_type": "nfm_reply",
                                "message": {"type": "nfm_reply", "nfm_reply": nfm},
                            },
                            "reply_to": {"message_id": sent.message_id},
                        },
                    },
                }
            )
        return [self._signed(doc) for doc in docs]

    def _signed(self, doc: dict[str, Any]) -> WebhookCall:
        raw = json.dumps(doc).encode()
        nonce, timestamp = pysecrets.token_hex(12), str(int(self.clock()))
        digest = hmac.new(
            self.secret("webhook_secret").encode(),
            raw + b"." + nonce.encode() + b"." + timestamp.encode(),
            hashlib.sha256,
        ).digest()
        headers = {
            "content-type": "application/json",
            "x-sinch-webhook-signature": base64.b64encode(digest).decode(),
            "x-sinch-webhook-signature-nonce": nonce,
            "x-sinch-webhook-signature-timestamp": timestamp,
            "x-sinch-webhook-signature-algorithm": "HmacSHA256",
        }
        return WebhookCall(self.name, self.webhook_url or "", raw, headers)


def _whatsapp_flow(message: dict[str, Any]) -> dict[str, Any] | None:
    """The WhatsApp FLOWS channel-specific message, if there is one."""
    specific = message.get("channel_specific_message", {}).get("WHATSAPP")
    if specific is None or specific["message_type"] != "FLOWS":
        return None
    flow: dict[str, Any] = specific["message"]
    return flow


def _loose_rules(body: dict[str, Any]) -> Invalid | None:
    """What Sinch refuses that its specification leaves loose, on a spec-valid body."""
    # The spec gives ttl's range only in prose (the SDKs' description: "Valid integer
    # range is 3 to 315,576,000,000 (inclusive)"); its pattern allows any digits.
    # (fullmatch: Python's `$` also matches before a final newline, ECMA-262's does not)
    ttl = body.get("ttl")
    seconds = _TTL.fullmatch(ttl) if ttl is not None else None
    if ttl is not None and seconds is None:
        return Invalid("ttl", "must be a whole number of seconds with the suffix s", False)
    if seconds is not None and not _TTL_MIN <= int(seconds[1]) <= _TTL_MAX:
        return Invalid("ttl", f"must be {_TTL_MIN}s to {_TTL_MAX}s", False)
    # The spec types channels as strings; its description says a channel the app has
    # not configured is rejected. The simulated app has a WhatsApp channel only.
    for i, channel in enumerate(body.get("channel_priority_order", [])):
        if channel not in _CHANNELS:
            return Invalid(f"channel_priority_order.{i}", f"{channel!r} is not configured", False)
    identities = body["recipient"].get("identified_by", {}).get("channel_identities", [])
    for i, identity in enumerate(identities):
        where = f"recipient.identified_by.channel_identities.{i}"
        if identity["channel"] not in _CHANNELS:
            return Invalid(f"{where}.channel", f"{identity['channel']!r} is not configured", False)
        # The spec is silent on the identity's shape: WhatsApp takes a phone number, or a
        # business-scoped user id since Sinch's 2026 user-id support (identity.md).
        value = identity["identity"]
        if not (is_phone(value) or is_bsuid(value)):
            return Invalid(f"{where}.identity", "must be a phone number or a BSUID", False)
    message = body["message"]
    flow = _whatsapp_flow(message)
    if flow is not None:
        return _flow_rules(flow)
    template = message.get("template_message", {}).get("channel_template", {}).get("WHATSAPP")
    if template is None:
        # Spec-valid, but not something this emulator simulates (it delivers WhatsApp
        # Flows and Flow templates only): say so rather than pretend to deliver it.
        return Invalid("message", "the emulator simulates WhatsApp FLOWS and templates only", False)
    # The spec types these as plain strings; Sinch's template page: the template's name,
    # and a language code written with an underscore (en_US).
    where = "message.template_message.channel_template.WHATSAPP"
    if not template["template_id"]:
        return Invalid(f"{where}.template_id", "must not be empty", False)
    if not _LANGUAGE.fullmatch(template["language_code"]):
        return Invalid(f"{where}.language_code", "must be a language code such as en_US", False)
    return None


def _flow_rules(flow: dict[str, Any]) -> Invalid | None:
    """WhatsApp's rules for a Flow message that Sinch's spec leaves loose; Sinch passes
    the message on to WhatsApp, whose Cloud API refuses these (Meta's Flow message docs)."""
    where = "message.channel_specific_message.WHATSAPP.message"
    header = flow.get("header", {})
    texts = {
        "flow_id": flow["flow_id"],
        "flow_cta": flow["flow_cta"],
        "header.text": header.get("text", "-"),
        "body.text": flow.get("body", {}).get("text", "-"),
        "footer.text": flow.get("footer", {}).get("text", "-"),
    }
    for name, text in texts.items():  # strings without minLength in the spec
        if not text.strip():
            return Invalid(f"{where}.{name}", "must not be empty", False)
    if len(texts["header.text"]) > _HEADER_MAX:  # WhatsApp's interactive header limit
        return Invalid(f"{where}.header.text", f"must be at most {_HEADER_MAX} characters", False)
    payload = flow.get("flow_action_payload")
    if payload is not None and flow.get("flow_action") == "data_exchange":
        return Invalid(f"{where}.flow_action_payload", "must be omitted for data_exchange", False)
    if payload is not None and payload.get("data") == {}:
        return Invalid(f"{where}.flow_action_payload.data", "must be a non-empty object", False)
    if payload is not None and "screen" in payload and not payload["screen"]:
        return Invalid(f"{where}.flow_action_payload.screen", "must not be empty", False)
    return None


SIMULATOR = SinchSim
