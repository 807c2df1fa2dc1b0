"""Simulated Meta Cloud API, 360dialog Cloud and 360dialog On-Premise."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel

from gateway.emulator import meta_hooks as hooks
from gateway.emulator.base import (
    Fault,
    Invalid,
    Reply,
    Sent,
    Sim,
    SimRequest,
    WebhookCall,
    json_response,
    parse,
)
from gateway.emulator.schemas import CloudMessage, OnPremMessage, TemplateCreate
from gateway.emulator.users import IdentityChange, SimUser, digits, is_phone
from gateway.http import HttpResponse

_META_PATH = re.compile(
    r"^/(v\d+\.\d+)/([^/]+)/(messages|message_templates|whatsapp_business_encryption)$"
)
PEM_HEADER = "-----BEGIN PUBLIC KEY-----"


def graph_error(
    status: int, code: int, message: str, details: str = "", **extra: Any
) -> HttpResponse:
    error: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AEmulatorTrace",
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return json_response(status, {"error": error}, extra.get("headers"))


def _token_of(body: dict[str, Any]) -> str | None:
    if body.get("type") == "interactive":
        token = body["interactive"]["action"]["parameters"].get("flow_token")
        return str(token) if token else None
    for comp in body["template"].get("components", []):
        for param in comp.get("parameters", []):
            token = (
                param.get("action", {}).get("flow_token") if param.get("type") == "action" else None
            )
            if token:
                return str(token)
    return None


class MetaSim(Sim):
    """Meta's Graph API for one business number and WABA."""

    name = "meta_cloud"
    message_schema: type[BaseModel] = CloudMessage
    id_prefix = "wamid.HBgMETA"
    scoped = True  # webhooks carry business-scoped user ids (Cloud API, 2026)
    system_messages = True
    window_error: dict[str, Any] = hooks.WINDOW_131047

    # -- requests --------------------------------------------------------------------

    def handle(self, req: SimRequest) -> Reply:
        method, path, headers, body = req.method, req.path, req.headers, req.body
        denied = self.authenticate(headers)
        if denied is not None:
            return Reply(denied)
        op = self.operation(method, path)
        if op is None:
            return Reply(self.not_found(path))
        if op == "public_key":
            return Reply(self.store_public_key(body, headers))
        fault = self.take_fault()
        if op == "template":
            return self.apply_transport_fault(fault, lambda: Reply(self.create_template(body)))
        return self.apply_transport_fault(fault, lambda: Reply(self.send(body, fault)))

    def authenticate(self, headers: Mapping[str, str]) -> HttpResponse | None:
        if headers.get("authorization") != f"Bearer {self.secret('access_token')}":
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        return None

    def operation(self, method: str, path: str) -> str | None:
        m = _META_PATH.match(path)
        if method != "POST" or m is None:
            return None
        node, edge = m.group(2), m.group(3)
        if edge == "messages" and node == self.secret("phone_number_id"):
            return "message"
        if edge == "message_templates" and node == self.secret("waba_id"):
            return "template"
        if edge == "whatsapp_business_encryption" and node == self.secret("phone_number_id"):
            return "public_key"
        return None

    def store_public_key(self, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """Meta takes ``business_public_key`` form-encoded; 360dialog ``public_key`` JSON."""
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(body.decode("utf-8", "replace")))
            key = form.get("business_public_key", "")
        else:
            try:
                key = str(json.loads(body).get("public_key", ""))
            except (ValueError, AttributeError):
                key = ""
        if not key.strip().startswith(PEM_HEADER):
            return self.invalid(
                Invalid("business_public_key", "a PEM public key is required", True)
            )
        self.public_key = key
        return json_response(200, {"success": True})

    def not_found(self, path: str) -> HttpResponse:
        return graph_error(400, 100, f"Unsupported post request. Object does not exist: {path}")

    def invalid(self, problem: Invalid) -> HttpResponse:
        code = (
            131008 if problem.missing else (100 if problem.problem == "unexpected key" else 131009)
        )
        title = "Required parameter is missing" if problem.missing else "Invalid parameter"
        return graph_error(400, code, title, str(problem))

    def rate_limited(self, retry_after: int) -> HttpResponse:
        return graph_error(
            429,
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
            headers={"retry-after": str(retry_after)},
        )

    def server_error(self) -> HttpResponse:
        return graph_error(503, 2, "Service temporarily unavailable")

    def window_closed(self) -> HttpResponse:
        """The synchronous variant (``failure_locations["window_closed"] == "response"``)."""
        return graph_error(400, 131047, "Re-engagement message", hooks.WINDOW_DETAILS)

    def send(self, raw: bytes, fault: Fault | None) -> HttpResponse:
        checked = parse(self.message_schema, raw)
        if isinstance(checked, Invalid):
            return self.invalid(checked)
        if self.fails_now(fault):
            return self.window_closed()
        body = json.loads(raw)
        message_id = self.next_id(self.id_prefix)
        kind: Literal["interactive", "template"] = (
            "template" if body["type"] == "template" else "interactive"
        )
        to = str(body.get("to") or body["recipient"])  # both given: `to` wins, as at Meta
        self.sent[message_id] = Sent(
            self.name, message_id, to, kind, _token_of(body), body,
            window_closed=self.fails_later(fault), user=self.user_for(to),
        )  # fmt: skip
        return self.accepted(message_id, to, kind)

    def accepted(self, message_id: str, to: str, kind: str) -> HttpResponse:
        message: dict[str, Any] = {"id": message_id}
        if kind == "template":
            message["message_status"] = "accepted"
        # wa_id answers a phone send, user_id a BSUID send (never both).
        contact = (
            {"input": to, "wa_id": digits(to)} if is_phone(to) else {"input": to, "user_id": to}
        )
        return json_response(
            200, {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}
        )

    def create_template(self, raw: bytes) -> HttpResponse:
        checked = parse(TemplateCreate, raw)
        if isinstance(checked, Invalid):
            return self.invalid(checked)
        assert isinstance(checked, TemplateCreate)
        template_id = str(900_000_000 + len(self.sent) + 1)
        return json_response(
            200, {"id": template_id, "status": "PENDING", "category": checked.category}
        )

    # -- callbacks -------------------------------------------------------------------

    def callbacks(
        self, sent: Sent, answers: Mapping[str, Any] | None, statuses: tuple[str, ...]
    ) -> list[WebhookCall]:
        now = str(int(self.clock()))
        if sent.window_closed:  # the one and only outcome of that message
            failed = hooks.failed_value(sent, self.window_error, now, scoped=self.scoped)
            return [self.webhook(self.document(failed))]
        values = [hooks.status_value(sent, s, now, scoped=self.scoped) for s in statuses]
        if answers is not None:
            response = (
                {"flow_token": sent.flow_token, **answers} if sent.flow_token else dict(answers)
            )
            message_id = self.next_id("wamid.EMUIN")
            values.append(
                hooks.completion_value(
                    sent, self.nfm_reply(response), message_id, now, scoped=self.scoped
                )
            )
        return [self.webhook(self.document(v)) for v in values]

    def identity_change(self, kind: IdentityChange, before: SimUser, after: SimUser) -> WebhookCall:
        """The system message telling the business a user's number or BSUID changed."""
        now = str(int(self.clock()))
        value = hooks.system_value(kind, before, after, self.next_id("wamid.EMUSYS"), now)
        return self.webhook(self.document(value))

    def nfm_reply(self, response: dict[str, Any]) -> dict[str, Any]:
        return {"name": "flow", "body": "Sent", "response_json": json.dumps(response)}

    def document(self, value: dict[str, Any]) -> dict[str, Any]:
        # A 360dialog key names one number, so its settings carry no ids: Meta's still
        # appear in the webhooks it relays.
        metadata = {
            "display_phone_number": hooks.BUSINESS_NUMBER,
            "phone_number_id": self.secret("phone_number_id") or hooks.PHONE_NUMBER_ID,
        }
        change = {
            "field": "messages",
            "value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.secret("waba_id") or hooks.WABA_ID, "changes": [change]}],
        }

    def webhook(self, doc: dict[str, Any]) -> WebhookCall:
        raw = json.dumps(doc).encode()
        signature = hmac.new(self.secret("app_secret").encode(), raw, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json", "x-hub-signature-256": f"sha256={signature}"}
        return WebhookCall(self.name, self.webhook_url or "", raw, headers)


class Dialog360CloudSim(MetaSim):
    """360dialog Cloud: Meta's payloads at ``/messages``, ``D360-API-KEY``, no signature."""

    name = "dialog360_cloud"
    id_prefix = "wamid.HBgD360"

    def authenticate(self, headers: Mapping[str, str]) -> HttpResponse | None:
        if headers.get("d360-api-key") != self.secret("api_key"):
            return json_response(401, {"error": "Invalid api key"})
        return None

    def operation(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/messages":
            return "message"
        if method == "POST" and path == "/v1/configs/templates":
            return "template"
        if method == "POST" and path == "/whatsapp_business_encryption":
            return "public_key"
        return None

    def not_found(self, path: str) -> HttpResponse:
        return json_response(
            404,
            {
                "meta": {
                    "success": False,
                    "http_code": 404,
                    "developer_message": f"{path} not found",
                }
            },
        )

    def server_error(self) -> HttpResponse:
        body = {
            "meta": {"success": False, "http_code": 503, "developer_message": "Service unavailable"}
        }
        return json_response(503, body)

    def webhook(self, doc: dict[str, Any]) -> WebhookCall:
        raw = json.dumps(doc).encode()
        headers = {"content-type": "application/json"}
        header = self.account.get("webhook_auth_header", "Authorization")
        if self.account.get("webhook_auth_value"):
            headers[str(header).lower()] = self.secret("webhook_auth_value")
        return WebhookCall(self.name, self.webhook_url or "", raw, headers)


def onprem_error(status: int, code: int, title: str, details: str = "") -> HttpResponse:
    error: dict[str, Any] = {"code": code, "title": title}
    if details:
        error["details"] = details
    return json_response(
        status, {"errors": [error], "meta": {"api_status": "stable", "version": "2.51.1"}}
    )


class Dialog360OnPremSim(Dialog360CloudSim):
    """360dialog On-Premise: ``/v1/messages``, ``errors[]``, flat webhooks, galaxy_message."""

    name = "dialog360_onprem"
    message_schema = OnPremMessage
    id_prefix = "gBEGemu"
    scoped = False  # On-Premise knows phones only
    system_messages = False
    window_error = hooks.WINDOW_470

    def operation(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/v1/messages":
            return "message"
        if method == "POST" and path == "/v1/configs/templates":
            return "template"
        if method == "POST" and path == "/v1/settings/business/whatsapp_business_encryption":
            return "public_key"
        return None

    def invalid(self, problem: Invalid) -> HttpResponse:
        if problem.missing:
            return onprem_error(400, 1008, "Required parameter is missing", str(problem))
        return onprem_error(400, 1009, "Parameter value is not valid", str(problem))

    def rate_limited(self, retry_after: int) -> HttpResponse:
        response = onprem_error(429, 1015, "Too many requests")
        return HttpResponse.of(
            429, {**response.headers, "retry-after": str(retry_after)}, response.content
        )

    def server_error(self) -> HttpResponse:
        return onprem_error(500, 1014, "Internal error")

    def window_closed(self) -> HttpResponse:
        return onprem_error(400, 470, str(hooks.WINDOW_470["title"]))

    def identity_change(self, kind: IdentityChange, before: SimUser, after: SimUser) -> WebhookCall:
        raise ValueError(f"{kind} system messages are not emulated for On-Premise")

    def accepted(self, message_id: str, to: str, kind: str) -> HttpResponse:
        body = {
            "contacts": [{"input": to, "wa_id": digits(to)}],
            "messages": [{"id": message_id}],
            "meta": {"api_status": "stable", "version": "2.51.1"},
        }
        return json_response(200, body)

    def nfm_reply(self, response: dict[str, Any]) -> dict[str, Any]:
        # As 360dialog documents On-Premise replies: galaxy_message, response_json as an object.
        return {"name": "galaxy_message", "response_json": response}

    def document(self, value: dict[str, Any]) -> dict[str, Any]:
        return value  # flat: no envelope
