"""What the Meta-speaking simulators share: Cloud API payloads, answers and callbacks.

Meta's Cloud API, 360dialog Cloud and 360dialog On-Premise take the same message
shapes and answer and call back in the same words; each provider's module
(``sims/meta_cloud.py``, ``sims/dialog360_cloud.py``, ``sims/dialog360_onprem.py``)
subclasses :class:`MetaShapedSim` with its own authentication, paths, error shapes and
webhook signing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
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
from gateway.emulator.schemas import CloudMessage, TemplateCreate
from gateway.emulator.users import IdentityChange, SimUser, digits, is_phone
from gateway.http import HttpResponse

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


class MetaShapedSim(Sim):
    """A provider speaking Meta's payloads; subclasses say how it authenticates, where
    its operations live and how its callbacks are signed."""

    message_schema: ClassVar[type[BaseModel]] = CloudMessage
    id_prefix: ClassVar[str]
    scoped: ClassVar[bool] = True  # webhooks carry business-scoped user ids (Cloud API, 2026)
    system_messages = True
    window_error: ClassVar[dict[str, Any]] = hooks.WINDOW_131047

    # -- what each provider decides ---------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> HttpResponse | None:
        """The refusal of a request with the wrong credentials, or None to go on."""
        raise NotImplementedError

    def operation(self, method: str, path: str) -> str | None:
        """``message``, ``template`` or ``public_key`` for a known path, else None."""
        raise NotImplementedError

    def webhook(self, doc: dict[str, Any]) -> WebhookCall:
        """A callback carrying ``doc``, authenticated the provider's way."""
        raise NotImplementedError

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
