"""The toy provider's adapter: a made-up BSP, small enough to read in one sitting.

Its API (invented for tests/toy, documented here): ``POST {base}/v1/accounts/{account_id}
/flows`` with ``X-Toy-Api-Key``, a body ``{"to": digits, "flow": {...}}`` or ``{"to",
"template": {...}}``; ``200 {"accepted": true, "ref": id}``, failures ``{"problem":
{"code", "text"}}``; callbacks ``{"account", "events": [...]}`` signed ``X-Toy-Signature``
(hex HMAC-SHA256 of the body).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.errors import (
    AuthenticationError,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    ServiceWindowClosed,
    class_for_status,
)
from gateway.events import (
    DeliveryStatus,
    ErrorDetail,
    FlowCompleted,
    InboundEvent,
    MessageStatus,
    SendReceipt,
    UnhandledEvent,
)
from gateway.http import HttpRequest, HttpResponse
from gateway.identity import user_ref
from gateway.model import FlowMessage
from gateway.signing import check_shared_secret, hmac_sha256_hex, lower_keys
from providers.base import (
    FLOW_ID,
    TEMPLATE_SEND,
    Adapter,
    AdapterSettings,
    Secret,
    configured_secret,
    expect_dict,
    expect_list,
    expect_str,
    load_json_body,
    opt_str,
    unix_time,
)

CODES: Mapping[str, type[ProviderError]] = {
    "BAD_KEY": AuthenticationError,
    "BAD_REQUEST": InvalidRequest,
    "THROTTLED": RateLimited,
    "WINDOW_CLOSED": ServiceWindowClosed,
    "UNAVAILABLE": ProviderUnavailable,
}
STATES: Mapping[str, DeliveryStatus] = {s: s for s in ("sent", "delivered", "read", "failed")}


class ToySettings(AdapterSettings):
    base_url: str = "https://api.toy.example"
    account_id: str
    api_key: Secret
    webhook_secret: Secret | None = None
    allow_unsigned_webhooks: bool = False


class ToyAdapter(Adapter):
    name = "toy"
    capabilities: ClassVar[frozenset[str]] = frozenset({FLOW_ID, TEMPLATE_SEND})
    Settings = ToySettings
    settings: ToySettings

    @property
    def business_id(self) -> str | None:
        return self.settings.account_id

    def build_send(self, msg: FlowMessage) -> HttpRequest:
        self.check_message(msg)
        body: dict[str, Any] = {"to": msg.to.lstrip("+")}
        token = msg.flow_token or "unused"
        if msg.template is not None:
            params = msg.template.body_parameters
            template: dict[str, Any] = {
                "name": msg.template.name,
                "language": msg.template.language,
                "params": dict(params) if isinstance(params, Mapping) else list(params),
                "button": msg.template.button_index,
                "flow_token": token,
            }
            if msg.data:
                template["flow_data"] = msg.data
            body["template"] = template
        else:
            flow: dict[str, Any] = {"id": msg.flow_id, "cta": msg.flow_cta, "token": token}
            flow |= {"action": msg.flow_action, "text": msg.body}
            optional = {"title": msg.header, "note": msg.footer, "screen": msg.screen}
            flow |= {k: v for k, v in optional.items() if v is not None}
            if msg.data:
                flow["data"] = msg.data
            body["flow"] = flow
        url = f"{self.settings.base_url}/v1/accounts/{self.settings.account_id}/flows"
        key = self.settings.api_key.get_secret_value()
        return HttpRequest.for_json("POST", url, body, {"X-Toy-Api-Key": key})

    def parse_send_response(self, resp: HttpResponse) -> SendReceipt:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.ok and isinstance(body, dict) and isinstance(body.get("ref"), str):
            return self.receipt(body["ref"], "accepted", body)
        problem = body.get("problem") if isinstance(body, dict) else None
        code = problem.get("code") if isinstance(problem, dict) else None
        text = problem.get("text") if isinstance(problem, dict) else None
        cls = CODES.get(code) if isinstance(code, str) else None
        if cls is None:
            cls = class_for_status(resp.status_code) if not resp.ok else ProviderError
        raise cls(
            text if isinstance(text, str) and text else resp.text() or "no answer",
            provider=self.name,
            status_code=resp.status_code,
            code=code if isinstance(code, str) else None,
            retry_after=resp.retry_after(),
            raw=body if body is not None else resp.text(),
        )

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> None:
        secret = configured_secret(
            self.settings.webhook_secret,
            self.settings.allow_unsigned_webhooks,
            "no webhook_secret configured",
        )
        if secret is not None:
            given = lower_keys(headers).get("x-toy-signature")
            check_shared_secret(given, hmac_sha256_hex(secret, body), "X-Toy-Signature")

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        doc = expect_dict(load_json_body(body), "")
        items = expect_list(doc.get("events"), "events")
        return [self._event(expect_dict(e, f"events[{i}]"), i) for i, e in enumerate(items)]

    def _event(self, e: dict[str, Any], i: int) -> InboundEvent:
        who: dict[str, Any] = {
            "provider": self.name, "sender": self.sender, "business_id": self.business_id
        }  # fmt: skip
        kind, state = e.get("kind"), e.get("state")
        if kind == "status" and isinstance(state, str) and state in STATES:
            problem = e.get("problem")
            errors = () if problem is None else (self._error(problem, i),)
            return MessageStatus(
                **who, message_id=expect_str(e.get("ref"), f"events[{i}].ref"),
                user=user_ref(e.get("number")), status=STATES[state], errors=errors,
                timestamp=unix_time(e.get("at")), raw=e,
            )  # fmt: skip
        if kind == "flow_reply":
            response = dict(expect_dict(e.get("answers"), f"events[{i}].answers"))
            token = opt_str(response.pop("flow_token", None))
            return FlowCompleted(
                **who, message_id=expect_str(e.get("id"), f"events[{i}].id"),
                user=user_ref(e.get("number")), flow_token=token,
                response=response, reply_to=opt_str(e.get("reply_to")),
                timestamp=unix_time(e.get("at")), raw=e,
            )  # fmt: skip
        return UnhandledEvent(**who, kind=opt_str(kind) or "unknown", raw=e)

    def _error(self, problem: Any, i: int) -> ErrorDetail:
        p = expect_dict(problem, f"events[{i}].problem")
        code = opt_str(p.get("code"))
        return ErrorDetail(
            code=code, title=None, message=opt_str(p.get("text")), details=None,
            category=CODES.get(code or "", ProviderError).category,
        )  # fmt: skip
