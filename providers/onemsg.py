"""1msg.io adapter (``onemsg``): ``sendFlow``, ``sendTemplate``, ``addTemplate``, the Flow
endpoint's public key, and Flows/templates management (:mod:`providers.onemsg_manage`).

1msg keeps a chat-api style API: ``https://api.1msg.io/{instance}/{method}?token=…``,
camelCase flat bodies, and HTTP 200 answers that may still say ``"sent": false``.
Webhooks come normalized (``{instanceId, messages[], ack[]}``) or, with ``rawHooks``, as
Meta's envelope. 1msg does not sign callbacks: a secret token in the callback URL
(``?token=…``) authenticates them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import quote

from pydantic import Field

from gateway.errors import (
    ConfigError,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    RecipientUnreachable,
    ServiceWindowClosed,
    WebhookPayloadError,
)
from gateway.events import (
    DeliveryStatus,
    ErrorDetail,
    FlowCompleted,
    InboundEvent,
    MessageStatus,
    SendReceipt,
    TemplateReceipt,
)
from gateway.http import HttpRequest, HttpResponse
from gateway.identity import UserRef, recipient_kind, user_ref
from gateway.manage import ManageOp
from gateway.model import FlowMessage, FlowTemplate
from gateway.signing import check_shared_secret, lower_keys
from providers import meta_codes, meta_wire, onemsg_manage
from providers.base import (
    BSUID_RECIPIENT,
    DRAFT_MODE,
    FLOW_ID,
    FLOW_MANAGEMENT,
    MEDIA_HEADER,
    PUBLIC_KEY,
    TEMPLATE_BUTTONS,
    TEMPLATE_CREATE,
    TEMPLATE_HEADER_TEXT,
    TEMPLATE_MANAGEMENT,
    TEMPLATE_NAMED_PARAMETERS,
    TEMPLATE_SEND,
    Adapter,
    AdapterSettings,
    Secret,
    WebhookPart,
    answer_object,
    configured_secret,
    expect_dict,
    expect_list,
    expect_str,
    load_json_body,
    loads,
    opt_str,
    part_named_by,
    unix_time,
)
from providers.meta_inbound import MetaInbound

R = TypeVar("R")

# 1msg checks the window itself: "Dialog window is closed" (its own client's wording).
_WINDOW_CLOSED = re.compile(
    r"re-?engagement|outside (of )?the (allowed|24)|dialog window is closed", re.IGNORECASE
)
_ACK_STATUSES: Mapping[str, DeliveryStatus] = {
    "sent": "sent",
    "delivered": "delivered",
    "viewed": "read",
    "read": "read",
    "failed": "failed",
}


class OneMsgSettings(AdapterSettings):
    """Settings of a ``onemsg`` sender."""

    base_url: str = "https://api.1msg.io"
    instance_id: str = Field(min_length=1)
    token: Secret
    namespace: str | None = None
    """Template namespace (``GET /templates``); required for template sends."""
    webhook_token: Secret | None = None
    """Secret expected in the callback URL's query (``?token=…``)."""
    webhook_token_param: str = "token"  # noqa: S105 - a parameter name, not a secret
    allow_unsigned_webhooks: bool = False
    """Accept callbacks without the URL token when none is configured (tests only)."""
    bsuid_address: Literal["chat_id", "bsuid"] = "chat_id"
    """How to address a business-scoped user id: ``chatId: "<BSUID>@lid"`` (1msg's OpenAPI)
    or ``bsuid: "<BSUID>"`` (1msg's own client); unconfirmed for sendFlow, hence a setting."""
    waba_account_id: str | None = None
    """``wabaAccountId`` query of the ``/flows`` calls (1msg: optional; for a channel whose
    token reaches several WhatsApp Business Accounts)."""


# 1msg's own failures, in the words its own client expects (github.com/1msg/1msg-n8n-nodes
# utils/errors.ts): a channel that may not address BSUIDs or usernames, a user it cannot find.
_ONEMSG_TEXTS: tuple[tuple[re.Pattern[str], type[ProviderError]], ...] = (
    (_WINDOW_CLOSED, ServiceWindowClosed),
    (re.compile(r"(bsuid|username) routing is disabled", re.IGNORECASE), PermissionDenied),
    (
        re.compile(r"username is not found|not linked with bsuid", re.IGNORECASE),
        RecipientUnreachable,
    ),
)


def text_class(text: str) -> type[ProviderError] | None:
    """Classify a free-text failure: the Meta code it names (by number or by Meta's own
    words), or 1msg's own wording."""
    cls = meta_codes.text_class(text)
    if cls is not None:
        return cls
    return next((c for pattern, c in _ONEMSG_TEXTS if pattern.search(text)), None)


def chat_user(item: Mapping[str, Any], *bsuid_keys: str) -> UserRef:
    """The user of a chat: ``chatId`` ``<phone>@c.us`` or ``<BSUID>@lid`` (users who hide
    their number), completed by 1msg's own BSUID fields (``authorBsuid``, ``bsuid``)."""
    chat = opt_str(item.get("chatId")) or opt_str(item.get("author")) or ""
    address, _, domain = chat.partition("@")
    bsuid = next((item[k] for k in bsuid_keys if opt_str(item.get(k))), None)
    username = item.get("authorUserName") or item.get("userName")  # production captures
    if domain == "lid" or recipient_kind(address) != "phone":
        return user_ref(item.get("phone"), bsuid or address, username=username)
    return user_ref(address or item.get("phone"), bsuid, username=username)


class OneMsgAdapter(Adapter):
    """Flows through 1msg.io's chat-api style methods."""

    name = "onemsg"
    # 1msg's OpenAPI gives flowCta no maxLength; 1msg relays to Meta's Cloud API (v23.0:
    # 30). Unconfirmed: the sender setting flow_cta_max_length overrides it.
    flow_cta_max = 30
    # sendTemplate's params are "Template components in WhatsApp Cloud API format" (1msg's
    # OpenAPI, sendTemplate): header text or media, named body parameters and the other
    # buttons are Meta's components, relayed as they are.
    capabilities = frozenset(
        {
            FLOW_ID, DRAFT_MODE, TEMPLATE_SEND, TEMPLATE_CREATE, BSUID_RECIPIENT, PUBLIC_KEY,
            FLOW_MANAGEMENT, TEMPLATE_MANAGEMENT, MEDIA_HEADER, TEMPLATE_NAMED_PARAMETERS,
            TEMPLATE_HEADER_TEXT, TEMPLATE_BUTTONS,
        }
    )  # fmt: skip
    manage_alternative = onemsg_manage.ALTERNATIVE
    Settings: ClassVar[type[AdapterSettings]] = OneMsgSettings
    settings: OneMsgSettings

    def __init__(self, settings: AdapterSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self._inbound = MetaInbound(self.name, self.sender, self.business_id)

    @property
    def business_id(self) -> str | None:
        return self.settings.instance_id

    @property
    def account_id(self) -> str | None:
        return self.settings.waba_account_id

    @classmethod
    def split_webhook(cls, body: bytes) -> list[WebhookPart]:
        """The whole body, for the instance its ``instanceId`` names (also on rawHooks,
        whose Meta envelope is one instance's, so never cut)."""
        return part_named_by(body, "instanceId")

    # -- outbound --------------------------------------------------------------------

    def _request(self, method: str, payload: dict[str, Any]) -> HttpRequest:
        s = self.settings
        token = quote(s.token.get_secret_value(), safe="")
        url = f"{s.base_url.rstrip('/')}/{quote(s.instance_id, safe='')}/{method}?token={token}"
        return HttpRequest.for_json("POST", url, payload)

    def build_send(self, msg: FlowMessage) -> HttpRequest:
        self.check_message(msg)
        if msg.template is None:
            return self._request("sendFlow", self._flow_body(msg))
        if not self.settings.namespace:
            raise ConfigError("namespace", "required for 1msg template sends (GET /templates)")
        body = _recipient(msg.to, as_int=False, bsuid_address=self.settings.bsuid_address)
        body["template"] = msg.template.name
        body["namespace"] = self.settings.namespace
        body["language"] = {"policy": "deterministic", "code": msg.template.language}
        # "Template components in WhatsApp Cloud API format" (1msg OpenAPI, params)
        body["params"] = meta_wire.template_components(msg)
        return self._request("sendTemplate", body)

    def _flow_body(self, msg: FlowMessage) -> dict[str, Any]:
        # the sendFlow schema types phone as integer
        body = _recipient(msg.to, as_int=True, bsuid_address=self.settings.bsuid_address)
        body["body"] = msg.body
        if msg.header is not None:
            body["header"] = msg.header
        if msg.footer is not None:
            body["footer"] = msg.footer
        body["flowId"] = msg.flow_id
        body["flowToken"] = msg.flow_token or meta_wire.DEFAULT_FLOW_TOKEN
        body["flowCta"] = msg.flow_cta
        body["flowAction"] = msg.flow_action
        payload = meta_wire.flow_action_payload(msg)
        if payload is not None:
            body["flowActionPayload"] = payload
        body["mode"] = msg.mode
        body["flowMessageVersion"] = "3"
        return body

    def build_create_template(self, tpl: FlowTemplate) -> HttpRequest:
        return self._request("addTemplate", meta_wire.template_create_body(tpl))

    def build_register_public_key(self, public_key_pem: str) -> HttpRequest:
        # setWhatsappBusinessEncryption (1msg's OpenAPI; 1msg-sdk FlowsApi): JSON, and 1msg
        # signs the key with Meta for this channel's number
        return self._request(
            "whatsapp_business_encryption", {"business_public_key": public_key_pem}
        )

    def build_manage(self, op: ManageOp[R]) -> HttpRequest:
        request = onemsg_manage.build(self, op)
        return super().build_manage(op) if request is None else request

    # -- responses -------------------------------------------------------------------

    def failure(self, resp: HttpResponse) -> ProviderError:
        """A failed answer as its class: Meta's code where 1msg relays one, else its words."""
        exc = meta_wire.parse_failure(self.name, resp)
        if exc.code is None:
            better = text_class(exc.message)
            if better is not None and better is not type(exc):
                return better(
                    exc.message,
                    provider=self.name,
                    status_code=resp.status_code,
                    code=meta_codes.code_in_text(exc.message),
                    retry_after=exc.retry_after,
                    raw=exc.raw,
                )
        return exc

    def _body(self, resp: HttpResponse) -> dict[str, Any]:
        if not resp.ok:
            raise self.failure(resp)
        body = answer_object(self.name, resp)
        if "error" in body:  # an error inside a 200
            raise self.failure(resp)
        return body

    def parse_send_response(self, resp: HttpResponse) -> SendReceipt:
        body = self._body(resp)
        message_id = opt_str(body.get("id"))
        if body.get("sent") is True and message_id:
            return self.receipt(message_id, "accepted", body)
        job_id = opt_str(body.get("jobId"))
        if job_id and not message_id:
            # Queued for later delivery: not a failure, and not safe to send again.
            return self.receipt(None, "queued", body, job_id=job_id)
        text = opt_str(body.get("message")) or opt_str(body.get("description")) or "not sent"
        cls = text_class(text) or InvalidRequest
        raise cls(
            text,
            provider=self.name,
            status_code=resp.status_code,
            code=meta_codes.code_in_text(text),
            raw=body,
        )

    def parse_create_template_response(
        self, resp: HttpResponse, tpl: FlowTemplate
    ) -> TemplateReceipt:
        self._body(resp)
        return meta_wire.parse_template_success(self.name, resp, tpl)

    def parse_register_public_key_response(self, resp: HttpResponse) -> bool:
        """1msg answers ``{"success": true}``; 400 "Missing or invalid PEM key"."""
        return self._body(resp).get("success") is not False

    def parse_manage(self, op: ManageOp[R], resp: HttpResponse) -> R:
        result: R = onemsg_manage.parse(self, op, resp)
        return result

    # -- webhooks --------------------------------------------------------------------

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> None:
        s = self.settings
        secret = configured_secret(
            s.webhook_token,
            s.allow_unsigned_webhooks,
            "webhook_token is not configured: 1msg does not sign callbacks, so put a "
            f"secret ?{s.webhook_token_param}=… in the webhook URL and set it here",
        )
        if secret is None:
            return
        given = (query or {}).get(s.webhook_token_param)
        if given is None:  # a proxy may move it into a header
            given = lower_keys(headers).get("x-webhook-token")
        check_shared_secret(given, secret, "webhook URL token")

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        doc = expect_dict(load_json_body(body), "")
        instance = opt_str(doc.get("instanceId"))
        if instance is not None and instance != self.settings.instance_id:
            mine = self.settings.instance_id
            raise WebhookPayloadError(f"instanceId {instance!r} is not this sender's ({mine!r})")
        if "entry" in doc:  # rawHooks: Meta's envelope
            return self._inbound.envelope(doc)
        events: list[InboundEvent] = []
        for k, m in enumerate(expect_list(doc.get("messages", []), "messages")):
            events.append(self._message(expect_dict(m, f"messages[{k}]"), f"messages[{k}]"))
        for k, a in enumerate(expect_list(doc.get("ack", []), "ack")):
            events.append(self._ack(expect_dict(a, f"ack[{k}]"), f"ack[{k}]"))
        for key, value in doc.items():
            if key not in ("instanceId", "messages", "ack"):
                events.append(self._inbound.unhandled(f"hook:{key}", value, self.business_id))
        return events

    def _message(self, m: dict[str, Any], path: str) -> InboundEvent:
        kind = f"message:{m.get('type')}"
        if m.get("fromMe") is True:
            return self._inbound.unhandled("message:from_me", m, self.business_id)
        user = chat_user(m, "authorBsuid", "bsuid")
        reply_to = opt_str(m.get("quotedMsgId"))
        interactive = m.get("interactive")
        if isinstance(interactive, dict) and interactive.get("type") == "nfm_reply":
            return self._inbound.flow_completion(
                m, path, user=user, reply_to=reply_to, business_id=self.business_id
            )
        # Without rawHooks the Flow reply arrives as a message whose body is response_json.
        text = m.get("body")
        response = _json_object(text) if isinstance(text, str) else None
        if response is None or "flow_token" not in response:
            return self._inbound.unhandled(kind, m, self.business_id)
        if not user:
            raise WebhookPayloadError(f"{path}: names no user (no chatId or authorBsuid)")
        token = response.pop("flow_token")
        return FlowCompleted(
            provider=self.name,
            sender=self.sender,
            business_id=self.business_id,
            message_id=expect_str(m.get("id"), f"{path}.id"),
            user=user,
            flow_token=opt_str(token),
            response=response,
            reply_to=reply_to,
            timestamp=unix_time(m.get("time")),
            raw=m,
        )

    def _ack(self, a: dict[str, Any], path: str) -> InboundEvent:
        raw_status = a.get("status")
        status = _ACK_STATUSES.get(raw_status) if isinstance(raw_status, str) else None
        if status is None:
            return self._inbound.unhandled(f"status:{raw_status}", a, self.business_id)
        error = opt_str(a.get("error"))
        return MessageStatus(
            provider=self.name,
            sender=self.sender,
            business_id=self.business_id,
            message_id=expect_str(a.get("id"), f"{path}.id"),
            user=chat_user(a, "bsuid"),
            status=status,
            errors=(ack_error(error),) if error else (),
            timestamp=unix_time(a.get("time")),
            raw=a,
        )


def ack_error(text: str) -> ErrorDetail:
    """A failed ack's ``error``: 1msg relays Meta's words, so it reads as Meta's code."""
    code = meta_codes.code_in_text(text)
    cls = text_class(text) or ProviderError
    return ErrorDetail(code=code, title=text, message=text, details=None, category=cls.category)


def _recipient(to: str, *, as_int: bool, bsuid_address: str) -> dict[str, Any]:
    """``phone`` (digits, no ``+``), or, for a user who hides it, the BSUID as configured."""
    if recipient_kind(to) != "phone":
        return {"bsuid": to} if bsuid_address == "bsuid" else {"chatId": f"{to}@lid"}
    digits = to.removeprefix("+")
    return {"phone": int(digits) if as_int else digits}


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
