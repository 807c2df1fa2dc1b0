"""An in-process stand-in for Meta's Cloud API (messages, templates, webhooks).

Its request checks are written from the documentation, independently of the adapters
(nothing from ``providers`` is imported), so an adapter bug shows up as a Graph error.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gateway.http import HttpRequest, HttpResponse

_PATH = re.compile(r"^/(v\d+\.\d+)/([^/]+)/(messages|message_templates)$")


class GraphFault(Exception):
    """A request the real API would refuse: becomes a Graph error body."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _need(cond: bool, message: str, code: int = 131009) -> None:
    if not cond:
        raise GraphFault(code, message)


@dataclass
class SentMessage:
    """A message the emulator accepted."""

    message_id: str
    to: str
    body: dict[str, Any]

    @property
    def flow_token(self) -> str | None:
        if self.body.get("type") == "interactive":
            token = self.body["interactive"]["action"]["parameters"].get("flow_token")
            return str(token) if token is not None else None
        for comp in self.body["template"].get("components", []):
            if comp.get("type") == "button":
                for p in comp.get("parameters", []):
                    token = p.get("action", {}).get("flow_token")
                    if token is not None:
                        return str(token)
        return None


@dataclass
class MetaEmulator:
    """Meta's Graph endpoints for one business number, answering like the real thing."""

    access_token: str
    app_secret: str
    phone_number_id: str
    waba_id: str
    business_number: str = "15550001111"
    sent: dict[str, SentMessage] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            return self._handle(request)
        except GraphFault as fault:
            body = {
                "error": {
                    "message": f"(#{fault.code}) {fault.message}",
                    "type": "OAuthException",
                    "code": fault.code,
                    "fbtrace_id": "EMULATOR",
                }
            }
            return _json_response(fault.status, body)

    def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            raise GraphFault(190, "Invalid OAuth access token - Cannot parse access token", 401)
        m = _PATH.match(urlsplit(request.url).path)
        if request.method != "POST" or m is None:
            raise GraphFault(100, "Unsupported post request", 400)
        node, edge = m.group(2), m.group(3)
        try:
            body = json.loads(request.content)
        except ValueError:
            raise GraphFault(100, "Invalid JSON body") from None
        _need(isinstance(body, dict), "Request body must be an object", 100)
        if edge == "messages":
            _need(node == self.phone_number_id, f"Unknown phone number id {node}", 100)
            return self._send(body)
        _need(node == self.waba_id, f"Unknown WhatsApp Business Account {node}", 100)
        return self._create_template(body)

    def _send(self, body: dict[str, Any]) -> HttpResponse:
        _need(body.get("messaging_product") == "whatsapp", "messaging_product is required", 131008)
        to = body.get("to")
        _need(isinstance(to, str) and bool(to), "to is required", 131008)
        kind = body.get("type")
        if kind == "interactive":
            _check_interactive(body.get("interactive"))
        elif kind == "template":
            _check_template_send(body.get("template"))
        else:
            raise GraphFault(131009, f"Unsupported message type {kind!r}")
        wamid = f"wamid.EMU{next(self._ids):08d}"
        self.sent[wamid] = SentMessage(wamid, str(to), body)
        reply: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": str(to).lstrip("+")}],
            "messages": [{"id": wamid}],
        }
        if kind == "template":
            reply["messages"][0]["message_status"] = "accepted"
        return _json_response(200, reply)

    def _create_template(self, body: dict[str, Any]) -> HttpResponse:
        for key in ("name", "language", "category", "components"):
            _need(key in body, f"{key} is required", 100)
        buttons = [
            b
            for c in body["components"]
            if str(c.get("type")).upper() == "BUTTONS"
            for b in c.get("buttons", [])
        ]
        flows = [b for b in buttons if b.get("type") == "FLOW"]
        _need(len(flows) == 1, "exactly one FLOW button expected", 100)
        ids = [k for k in ("flow_id", "flow_name", "flow_json") if k in flows[0]]
        _need(len(ids) == 1, "one of flow_id, flow_name or flow_json is required", 100)
        if "flow_json" in flows[0]:
            _need(isinstance(flows[0]["flow_json"], str), "flow_json must be a string", 100)
        return _json_response(
            200,
            {
                "id": f"{next(self._ids) + 900000000}",
                "status": "PENDING",
                "category": body["category"],
            },
        )

    # -- simulated users -------------------------------------------------------------

    def _envelope(self, value: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.business_number,
                "phone_number_id": self.phone_number_id,
            },
            **value,
        }
        doc = {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.waba_id, "changes": [{"value": value, "field": "messages"}]}],
        }
        raw = json.dumps(doc).encode()
        sig = hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        return raw, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={sig}"}

    def statuses(self, message_id: str, *names: str) -> tuple[bytes, dict[str, str]]:
        """A signed webhook reporting ``names`` (e.g. sent, delivered, read) for a message."""
        sent = self.sent[message_id]
        now = int(time.time())
        items = [
            {
                "id": message_id,
                "status": s,
                "timestamp": str(now),
                "recipient_id": sent.to.lstrip("+"),
            }
            for s in names
        ]
        return self._envelope({"statuses": items})

    def complete_flow(
        self, message_id: str, answers: dict[str, Any]
    ) -> tuple[bytes, dict[str, str]]:
        """A signed ``nfm_reply`` webhook, as if the user submitted the Flow."""
        sent = self.sent[message_id]
        response = {"flow_token": sent.flow_token, **answers} if sent.flow_token else dict(answers)
        user = sent.to.lstrip("+")
        message = {
            "context": {"from": self.business_number, "id": message_id},
            "from": user,
            "id": f"wamid.EMUIN{next(self._ids):08d}",
            "timestamp": str(int(time.time())),
            "type": "interactive",
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {
                    "name": "flow",
                    "body": "Sent",
                    "response_json": json.dumps(response),
                },
            },
        }
        return self._envelope(
            {"contacts": [{"profile": {"name": "Demo User"}, "wa_id": user}], "messages": [message]}
        )


def _json_response(status: int, body: Any) -> HttpResponse:
    return HttpResponse.of(status, {"content-type": "application/json"}, json.dumps(body).encode())


def _check_interactive(obj: Any) -> None:
    _need(isinstance(obj, dict), "interactive is required", 131008)
    _need(obj.get("type") == "flow", "interactive.type must be flow")
    body = obj.get("body")
    _need(
        isinstance(body, dict) and isinstance(body.get("text"), str),
        "interactive.body.text is required",
        131008,
    )
    _need(len(body["text"]) <= 1024, "body text too long")
    action = obj.get("action")
    _need(isinstance(action, dict) and action.get("name") == "flow", "action.name must be flow")
    p = action.get("parameters")
    _need(isinstance(p, dict), "action.parameters is required", 131008)
    _need(p.get("flow_message_version") == "3", 'flow_message_version must be "3"')
    _need(("flow_id" in p) != ("flow_name" in p), "exactly one of flow_id or flow_name is required")
    cta = p.get("flow_cta")
    _need(isinstance(cta, str) and 0 < len(cta) <= 20, "flow_cta must be 1-20 characters")
    _need(p.get("mode", "published") in ("draft", "published"), "mode must be draft or published")
    action_name = p.get("flow_action", "navigate")
    _need(
        action_name in ("navigate", "data_exchange"),
        "flow_action must be navigate or data_exchange",
    )
    payload = p.get("flow_action_payload")
    if action_name == "data_exchange":
        _need(payload is None, "flow_action_payload must be omitted for data_exchange")
    elif payload is not None:
        _need(
            isinstance(payload, dict) and isinstance(payload.get("screen"), str),
            "payload.screen is required",
        )
        _need(
            "data" not in payload or bool(payload["data"]),
            "flow_action_payload.data must be non-empty",
        )


def _check_template_send(obj: Any) -> None:
    _need(
        isinstance(obj, dict) and isinstance(obj.get("name"), str),
        "template.name is required",
        131008,
    )
    lang = obj.get("language")
    _need(
        isinstance(lang, dict) and isinstance(lang.get("code"), str),
        "template.language.code is required",
        131008,
    )
    for comp in obj.get("components", []):
        if comp.get("type") == "button":
            _need(comp.get("sub_type") == "flow", "only flow buttons are emulated")
            _need(isinstance(comp.get("index"), str), "button index must be a string")
