"""Sinch Conversation API adapter (``sinch``).

Flows go out as ``channel_specific_message.WHATSAPP`` of type ``FLOWS`` (Sinch's own
field names: ``flow_mode``, no ``flow_message_version``). Authentication is OAuth2
client credentials: this adapter describes the token request and reads the answer; the
gateway performs it and caches the token. Callbacks are signed with HMAC-SHA256 over
``body.nonce.timestamp`` and must be recent. Templates are managed through Sinch's
Provisioning API (:mod:`providers.sinch_manage`); Flows are not (Sinch has no such API).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from gateway.errors import (
    AuthenticationError,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RecipientUnreachable,
    ServiceWindowClosed,
    SignatureError,
    TemplateError,
    UnsupportedFeature,
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
from gateway.identity import UserRef, recipient_kind, user_ref
from gateway.manage import ManageOp
from gateway.model import FlowMessage, ProviderOptions
from gateway.signing import lower_keys, wire
from providers import meta_codes, meta_wire, sinch_manage
from providers.base import (
    BSUID_RECIPIENT,
    DRAFT_MODE,
    FLOW_ID,
    MEDIA_HEADER,
    TEMPLATE_BUTTONS,
    TEMPLATE_HEADER_TEXT,
    TEMPLATE_MANAGEMENT,
    TEMPLATE_SEND,
    Adapter,
    AdapterSettings,
    Secret,
    WebhookPart,
    configured_secret,
    decode_response_json,
    expect_dict,
    expect_str,
    iso_time,
    load_json_body,
    opt_str,
    part_named_by,
)

R = TypeVar("R")
_STATUSES: Mapping[str, DeliveryStatus] = {
    "QUEUED_ON_CHANNEL": "sent",
    "DELIVERED": "delivered",
    "READ": "read",
    "FAILED": "failed",
}
# google.rpc status names → class (HTTP status decides the rest).
RPC_STATUSES: Mapping[str, type[ProviderError]] = {
    "INVALID_ARGUMENT": InvalidRequest,
    "FAILED_PRECONDITION": InvalidRequest,
    "OUT_OF_RANGE": InvalidRequest,
    "NOT_FOUND": InvalidRequest,
    "ALREADY_EXISTS": InvalidRequest,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDenied,
    "RESOURCE_EXHAUSTED": RateLimited,
    "INTERNAL": ProviderUnavailable,
    "UNAVAILABLE": ProviderUnavailable,
    "DEADLINE_EXCEEDED": ProviderUnavailable,
    "UNKNOWN": ProviderUnavailable,
}
# Delivery-report reason codes → class, when no WhatsApp channel_code says more.
REASON_CODES: Mapping[str, type[ProviderError]] = {
    "OUTSIDE_ALLOWED_SENDING_WINDOW": ServiceWindowClosed,
    "RECIPIENT_NOT_REACHABLE": RecipientUnreachable,
    "RECIPIENT_INVALID_CHANNEL_IDENTITY": RecipientUnreachable,
    "RECIPIENT_NOT_OPTED_IN": RecipientUnreachable,
    "NO_CHANNEL_IDENTITY_FOR_CONTACT": RecipientUnreachable,
    "CONTACT_NOT_FOUND": RecipientUnreachable,
    "DELIVERY_TIMED_OUT": RecipientUnreachable,
    "RATE_LIMITED": RateLimited,
    "TEMPLATE_NOT_FOUND": TemplateError,
    "TEMPLATE_INSUFFICIENT_PARAMETERS": TemplateError,
    "TEMPLATE_NON_EXISTING_LANGUAGE_OR_VERSION": TemplateError,
    "BAD_REQUEST": InvalidRequest,
    "MEDIA_TYPE_UNSUPPORTED": InvalidRequest,
    "MEDIA_TOO_LARGE": InvalidRequest,
    "MEDIA_NOT_REACHABLE": InvalidRequest,
    "UNSUPPORTED_OPERATION": InvalidRequest,
    "NO_PERMISSION": PermissionDenied,
    "CHANNEL_BAD_CONFIGURATION": PermissionDenied,
    "CHANNEL_CONFIGURATION_MISSING": PermissionDenied,
    "UNKNOWN_APP": PermissionDenied,
    "DELIVERY_REJECTED_DUE_TO_POLICY": PermissionDenied,
    "INTERNAL_ERROR": ProviderUnavailable,
    "CHANNEL_FAILURE": ProviderUnavailable,
    "CHANNEL_REJECT": InvalidRequest,
}


TTL_MIN, TTL_MAX = 3, 315_576_000_000
"""The range of ``ttl`` in seconds, as Sinch's SDKs (generated from its OpenAPI) describe
it: "an integer with the suffix s (for seconds). Valid integer range is 3 to 315,576,000,000
(inclusive)" (sinch-sdk-node ``SendMessageRequest.ttl``; the Java SDK says the same). The
maximum is protobuf's Duration limit, ten thousand years."""


def _ttl_range(seconds: int) -> int:
    if not TTL_MIN <= seconds <= TTL_MAX:
        raise PydanticCustomError(
            "ttl_out_of_range",
            "Sinch takes a ttl of {min} to {max} seconds, not {given}",
            {"min": TTL_MIN, "max": TTL_MAX, "given": seconds},
        )
    return seconds


class SinchOptions(ProviderOptions):
    """Sinch-only extras of a message: ``FlowMessage(..., options=[SinchOptions(…)])``.
    Echoed in Sinch's callbacks; other providers ignore them."""

    provider: ClassVar[str] = "sinch"
    contact_id: str | None = Field(default=None, pattern=r"^[0-9A-Za-z]{1,64}$")
    """Address this Conversation API contact instead of ``to``'s channel identity
    (``to`` still names the user for routing and receipts)."""
    correlation_id: str | None = Field(default=None, min_length=1, max_length=128)
    message_metadata: str | None = Field(default=None, max_length=1024)
    callback_url: str | None = Field(default=None, pattern=r"^https?://")
    """Per-message callback destination, overriding the app's webhook."""
    ttl_seconds: Annotated[int, AfterValidator(_ttl_range)] | None = None
    """Give up delivery after this many seconds (sent as ``ttl: "<n>s"``), from 3 to
    315,576,000,000."""


class SinchSettings(AdapterSettings):
    """Settings of a ``sinch`` sender."""

    base_url: str = ""
    """Defaults to ``https://{region}.conversation.api.sinch.com``."""
    project_id: str = Field(min_length=1)
    app_id: str = Field(min_length=1)
    region: Literal["us", "eu", "br"] = "us"
    key_id: str = Field(min_length=1)
    key_secret: Secret
    auth: Literal["oauth", "basic"] = "oauth"
    """``basic`` sends key_id:key_secret on every request (Sinch: not for production)."""
    auth_url: str = "https://auth.sinch.com/oauth2/token"
    webhook_secret: Secret | None = None
    signature_max_age: float = Field(default=300.0, gt=0)
    """Refuse callbacks whose signed timestamp is further than this from now (seconds)."""
    allow_unsigned_webhooks: bool = False
    callback_url: str | None = None
    """Default per-message callback URL (a message's ``sinch.callback_url`` wins)."""
    # Sinch documents WhatsApp template parameter keys, but none for a FLOW button.
    template_body_key: str = "body[{n}]text"
    template_flow_token_key: str = "button[{index}]flow[1]flow_token"  # noqa: S105 - a key
    template_flow_data_key: str = "button[{index}]flow[1]flow_action_data"
    provisioning_base_url: str = sinch_manage.PROVISIONING_BASE_URL
    """Sinch's Provisioning API (templates; global, not regional). Its callbacks carry the
    same signature headers and are checked like the Conversation API's [unconfirmed]."""

    @model_validator(mode="after")
    def _default_base(self) -> SinchSettings:
        if not self.base_url:
            object.__setattr__(
                self, "base_url", f"https://{self.region}.conversation.api.sinch.com"
            )
        return self


def rpc_error(provider: str, resp: HttpResponse) -> ProviderError:
    """``{"error": {code, message, status, details}}`` (google.rpc) as a typed error."""
    try:
        body = resp.json()
    except ValueError:
        return meta_wire.http_error(provider, resp)
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return meta_wire.parse_failure(provider, resp)  # e.g. {"error": "text"}
    status = opt_str(err.get("status"))
    cls = RPC_STATUSES.get(status or "") or class_for_status(resp.status_code)
    message = opt_str(err.get("message")) or resp.text()
    if status == "NOT_FOUND" or resp.status_code == 404:
        message += " (a wrong region also answers 404: check the sender's region)"
    return cls(
        message,
        provider=provider,
        status_code=resp.status_code,
        code=status,
        retry_after=resp.retry_after(),
        raw=body,
    )


class SinchAdapter(Adapter):
    """WhatsApp Flows through Sinch's Conversation API."""

    name = "sinch"
    # Sinch's SDK models (node whatsapp-flow.ts): "20 characters maximum, emoji not supported".
    flow_cta_max = 20
    capabilities = frozenset(
        {FLOW_ID, DRAFT_MODE, TEMPLATE_SEND, BSUID_RECIPIENT, MEDIA_HEADER}
        | {TEMPLATE_HEADER_TEXT, TEMPLATE_BUTTONS, TEMPLATE_MANAGEMENT}
    )
    manage_alternative = sinch_manage.FLOWS_ALTERNATIVE
    Settings: ClassVar[type[AdapterSettings]] = SinchSettings
    Options: ClassVar[type[ProviderOptions] | None] = SinchOptions
    settings: SinchSettings

    @property
    def business_id(self) -> str | None:
        return self.settings.app_id

    @classmethod
    def split_webhook(cls, body: bytes) -> list[WebhookPart]:
        """The whole body (one event per callback), for the app its ``app_id`` names."""
        return part_named_by(body, "app_id")

    # -- auth ------------------------------------------------------------------------

    def _basic(self) -> str:
        pair = f"{self.settings.key_id}:{self.settings.key_secret.get_secret_value()}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    def token_request(self) -> HttpRequest | None:
        if self.settings.auth != "oauth":
            return None
        body = b"grant_type=client_credentials"
        headers = {
            "Authorization": self._basic(),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        return HttpRequest("POST", self.settings.auth_url, headers, None, body)

    def parse_token_response(self, resp: HttpResponse) -> tuple[str, float]:
        if not resp.ok:
            raise rpc_error(self.name, resp)
        try:
            body = resp.json()
            token, expires_in = body["access_token"], float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise AuthenticationError(
                "token response has no access_token", provider=self.name, status_code=200
            ) from None
        if not isinstance(token, str) or not token:
            raise AuthenticationError("empty access_token", provider=self.name, status_code=200)
        if not math.isfinite(expires_in) or expires_in <= 0:
            raise AuthenticationError(
                f"token response has an unusable expires_in ({expires_in})",
                provider=self.name,
                status_code=200,
            )
        return token, expires_in

    def token_expired(self, resp: HttpResponse) -> bool:
        return "expired" in (resp.header("www-authenticate") or "").lower()

    # -- outbound --------------------------------------------------------------------

    def build_send(self, msg: FlowMessage) -> HttpRequest:
        self.check_message(msg)
        s = self.settings
        options = msg.options_for(self.name)
        if options is not None and not isinstance(options, SinchOptions):
            raise UnsupportedFeature(self.name, "options", f"{type(options).__name__} is not ours")
        contact_id = options.contact_id if options else None
        recipient = {"contact_id": contact_id} if contact_id else _recipient(msg.to)
        payload: dict[str, Any] = {"app_id": s.app_id, "recipient": recipient}
        template = sinch_manage.template_message(self.name, s, msg) if msg.template else None
        payload["message"] = template or self._flow(msg)
        callback_url = options.callback_url if options and options.callback_url else s.callback_url
        if options is not None:
            if options.correlation_id is not None:
                payload["correlation_id"] = options.correlation_id
            if options.message_metadata is not None:
                payload["message_metadata"] = options.message_metadata
            if options.ttl_seconds is not None:
                payload["ttl"] = f"{options.ttl_seconds}s"
        if callback_url:
            payload["callback_url"] = callback_url
        url = f"{s.base_url.rstrip('/')}/v1/projects/{s.project_id}/messages:send"
        headers = {"Authorization": self._basic()} if s.auth == "basic" else {}
        return HttpRequest.for_json("POST", url, payload, headers)

    @staticmethod
    def _flow(msg: FlowMessage) -> dict[str, Any]:
        flow: dict[str, Any] = {}
        if msg.header is not None:
            flow["header"] = {"type": "text", "text": msg.header}
        flow["body"] = {"text": msg.body}
        if msg.footer is not None:
            flow["footer"] = {"text": msg.footer}
        flow["flow_id"] = msg.flow_id
        flow["flow_token"] = msg.flow_token or meta_wire.DEFAULT_FLOW_TOKEN
        flow["flow_mode"] = msg.mode
        flow["flow_cta"] = msg.flow_cta
        flow["flow_action"] = msg.flow_action
        payload = meta_wire.flow_action_payload(msg)
        if payload is not None:
            flow["flow_action_payload"] = payload
        whatsapp = {"message_type": "FLOWS", "message": flow}
        return {"channel_specific_message": {"WHATSAPP": whatsapp}}

    # -- templates (Provisioning API); Flows: UnsupportedFeature naming the alternative --

    def build_manage(self, op: ManageOp[R]) -> HttpRequest:
        request = sinch_manage.build_template_op(self.name, self.settings, op)
        return request if request is not None else super().build_manage(op)

    def parse_manage(self, op: ManageOp[R], resp: HttpResponse) -> R:
        if op.capability != TEMPLATE_MANAGEMENT:
            return super().parse_manage(op, resp)
        result: R = sinch_manage.parse_template_op(self.name, self.sender, op, resp)
        return result

    def parse_send_response(self, resp: HttpResponse) -> SendReceipt:
        if not resp.ok:
            raise rpc_error(self.name, resp)
        try:
            body = resp.json()
        except ValueError:
            body = None
        message_id = opt_str(body.get("message_id")) if isinstance(body, dict) else None
        if message_id is None:
            raise ProviderError(
                f"success response has no message_id: {resp.text()!r}",
                provider=self.name,
                status_code=resp.status_code,
                raw=body,
            )
        # Sinch accepts into its queue; delivery is reported by callbacks.
        return self.receipt(message_id, "queued", body)

    # -- callbacks -------------------------------------------------------------------

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> None:
        s = self.settings
        secret = configured_secret(
            s.webhook_secret,
            s.allow_unsigned_webhooks,
            "webhook_secret is not configured, so x-sinch-webhook-signature cannot be verified",
        )
        if secret is None:
            return
        h = lower_keys(headers)
        given = h.get("x-sinch-webhook-signature")
        nonce = h.get("x-sinch-webhook-signature-nonce")
        timestamp = h.get("x-sinch-webhook-signature-timestamp")
        if not (given and nonce and timestamp):
            raise SignatureError("missing x-sinch-webhook-signature, -nonce or -timestamp header")
        try:
            age = abs(self.clock() - float(timestamp))
        except ValueError:
            age = math.nan
        if not math.isfinite(age):  # "nan" would pass every comparison below
            raise SignatureError("x-sinch-webhook-signature-timestamp is not a number")
        if age > s.signature_max_age:
            raise SignatureError(
                f"signature timestamp is {age:.0f}s away from now (limit "
                f"{s.signature_max_age:.0f}s): stale or replayed callback"
            )
        expected = base64.b64encode(sinch_signature(secret, body, nonce, timestamp)).decode()
        if not hmac.compare_digest(expected.encode(), wire(given.strip())):
            raise SignatureError("x-sinch-webhook-signature does not match the body")

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        doc = expect_dict(load_json_body(body), "")
        if sinch_manage.is_provisioning_event(doc):
            return [sinch_manage.provisioning_event(self.name, self.sender, self.business_id, doc)]
        if "message" in doc:
            return [self._inbound(expect_dict(doc["message"], "message"), doc)]
        if "message_delivery_report" in doc:
            report = expect_dict(doc["message_delivery_report"], "message_delivery_report")
            return [self._delivery(report, doc)]
        known = ("app_id", "project_id", "accepted_time", "event_time", "message_metadata")
        kinds = [k for k, v in doc.items() if isinstance(v, dict) and k not in known]
        kind = f"event:{kinds[0]}" if kinds else "event:unknown"
        return [self._unhandled(kind, doc)]

    def _business_id(self, doc: dict[str, Any]) -> str | None:
        return opt_str(doc.get("app_id")) or self.business_id

    def _unhandled(self, kind: str, doc: dict[str, Any]) -> UnhandledEvent:
        return UnhandledEvent(
            provider=self.name,
            sender=self.sender,
            business_id=self._business_id(doc),
            kind=kind,
            raw=doc,
        )

    def _inbound(self, m: dict[str, Any], doc: dict[str, Any]) -> InboundEvent:
        contact = expect_dict(m.get("contact_message"), "message.contact_message")
        specific = contact.get("channel_specific_message")
        if not isinstance(specific, dict) or specific.get("message_type") != "nfm_reply":
            kinds = [k for k in contact if k != "reply_to"]
            return self._unhandled(f"message:{kinds[0]}" if kinds else "message:unknown", doc)
        path = "message.contact_message.channel_specific_message.message"
        inner = expect_dict(specific.get("message"), path)
        nfm = expect_dict(inner.get("nfm_reply"), f"{path}.nfm_reply")
        name = nfm.get("name")
        if name != "flow":
            return self._unhandled(f"nfm_reply:{name}", doc)
        response = dict(
            decode_response_json(nfm.get("response_json"), f"{path}.nfm_reply.response_json")
        )
        token = response.pop("flow_token", None)
        identity = expect_dict(m.get("channel_identity"), "message.channel_identity")
        user = whatsapp_user(
            expect_str(identity.get("identity"), "message.channel_identity.identity")
        )
        reply_to = contact.get("reply_to")
        return FlowCompleted(
            provider=self.name,
            sender=self.sender,
            business_id=self._business_id(doc),
            message_id=expect_str(m.get("id"), "message.id"),
            user=user,
            flow_token=opt_str(token),
            response=response,
            reply_to=opt_str(reply_to.get("message_id")) if isinstance(reply_to, dict) else None,
            timestamp=iso_time(m.get("accept_time")) or iso_time(doc.get("accepted_time")),
            raw=doc,
        )

    def _delivery(self, report: dict[str, Any], doc: dict[str, Any]) -> InboundEvent:
        raw_status = report.get("status")
        status = _STATUSES.get(raw_status) if isinstance(raw_status, str) else None
        if status is None:
            return self._unhandled(f"status:{raw_status}", doc)
        identity = report.get("channel_identity")
        reason = report.get("reason")
        return MessageStatus(
            provider=self.name,
            sender=self.sender,
            business_id=self._business_id(doc),
            message_id=expect_str(report.get("message_id"), "message_delivery_report.message_id"),
            user=whatsapp_user(identity.get("identity") if isinstance(identity, dict) else None),
            status=status,
            errors=(_reason(reason),) if isinstance(reason, dict) and status == "failed" else (),
            # event_time is optional in Sinch's schema; accepted_time is always there
            timestamp=iso_time(doc.get("event_time")) or iso_time(doc.get("accepted_time")),
            raw=doc,
        )


def sinch_signature(secret: str, body: bytes, nonce: str, timestamp: str) -> bytes:
    """HMAC-SHA256(secret, body + "." + nonce + "." + timestamp), raw digest."""
    signed = body + b"." + wire(nonce) + b"." + wire(timestamp)
    return hmac.new(secret.encode(), signed, hashlib.sha256).digest()


def _reason(reason: dict[str, Any]) -> ErrorDetail:
    """A delivery failure reason; WhatsApp's own ``channel_code`` classifies it like Meta."""
    code = opt_str(reason.get("code"))
    channel_code = meta_codes.int_or_raw(reason.get("channel_code"))
    cls = meta_codes.graph_class(channel_code) if channel_code is not None else None
    cls = cls or REASON_CODES.get(code or "") or ProviderError
    sub_code = opt_str(reason.get("sub_code"))
    return ErrorDetail(
        code=channel_code if channel_code is not None else code,
        title=code,
        message=opt_str(reason.get("description")),
        details=sub_code if sub_code != "UNSPECIFIED_SUB_CODE" else None,
        category=cls.category,
    )


def _recipient(to: str) -> dict[str, Any]:
    """The WhatsApp channel identity: a phone number, or a business-scoped user id."""
    identity = {"channel": "WHATSAPP", "identity": to}
    return {"identified_by": {"channel_identities": [identity]}}


def whatsapp_user(identity: Any) -> UserRef:
    """A WhatsApp ``channel_identity.identity``: a phone number or, for users who hide it,
    a business-scoped user id (Sinch, March 2026)."""
    if isinstance(identity, str) and recipient_kind(identity) == "user_id":
        return user_ref(user_id=identity)
    if isinstance(identity, str) and recipient_kind(identity) == "parent_user_id":
        return user_ref(parent_user_id=identity)
    return user_ref(phone=identity)
