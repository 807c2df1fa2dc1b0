"""Meta WhatsApp Cloud API adapter (``meta_cloud``)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from gateway.errors import ConfigError, SignatureError
from gateway.events import InboundEvent, SendReceipt, TemplateReceipt
from gateway.http import HttpRequest, HttpResponse
from gateway.manage import ManageOp
from gateway.model import FlowMessage, FlowTemplate
from gateway.signing import check_hub_signature, wire
from providers import meta_manage, meta_wire
from providers.base import (
    BSUID_RECIPIENT,
    DRAFT_MODE,
    FLOW_ID,
    FLOW_MANAGEMENT,
    FLOW_NAME,
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
    configured_secret,
    expect_dict,
    load_json_body,
)
from providers.meta_inbound import MetaInbound, split_envelope

DEFAULT_API_VERSION = "v24.0"
R = TypeVar("R")


class MetaCloudSettings(AdapterSettings):
    """Settings of a ``meta_cloud`` sender."""

    base_url: str = "https://graph.facebook.com"
    phone_number_id: str = Field(min_length=1)
    access_token: Secret
    app_secret: Secret | None = None
    waba_id: str | None = None
    api_version: str = Field(default=DEFAULT_API_VERSION, pattern=r"^v\d+\.\d+$")
    verify_token: Secret | None = None
    allow_unsigned_webhooks: bool = False
    """Accept webhooks without ``X-Hub-Signature-256`` when no app_secret is set (tests only)."""


class MetaCloudAdapter(Adapter):
    """Interactive Flow messages, FLOW-button templates and webhooks of the Cloud API."""

    name = "meta_cloud"
    # Meta's v23.0 OpenAPI, ActionObject flow parameters: flow_cta maxLength 30.
    flow_cta_max = 30
    capabilities = frozenset(
        {
            FLOW_ID,
            FLOW_NAME,
            DRAFT_MODE,
            TEMPLATE_SEND,
            TEMPLATE_CREATE,
            PUBLIC_KEY,
            BSUID_RECIPIENT,
            TEMPLATE_NAMED_PARAMETERS,
            TEMPLATE_HEADER_TEXT,
            MEDIA_HEADER,
            TEMPLATE_BUTTONS,
            FLOW_MANAGEMENT,
            TEMPLATE_MANAGEMENT,
        }
    )
    Settings: ClassVar[type[AdapterSettings]] = MetaCloudSettings
    settings: MetaCloudSettings

    def __init__(self, settings: AdapterSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self._inbound = MetaInbound(self.name, self.sender)

    @property
    def business_id(self) -> str | None:
        return self.settings.phone_number_id

    @property
    def account_id(self) -> str | None:
        return self.settings.waba_id

    @classmethod
    def split_webhook(cls, body: bytes) -> list[WebhookPart]:
        """One part per ``metadata.phone_number_id`` (account-level changes: per WABA)."""
        return split_envelope(body)

    def _url(self, node: str, edge: str) -> str:
        s = self.settings
        return f"{s.base_url.rstrip('/')}/{s.api_version}/{node}/{edge}"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.access_token.get_secret_value()}"}

    def build_send(self, msg: FlowMessage) -> HttpRequest:
        self.check_message(msg)
        return HttpRequest.for_json(
            "POST",
            self._url(self.settings.phone_number_id, "messages"),
            meta_wire.message_body(msg),
            self._auth(),
        )

    def build_create_template(self, tpl: FlowTemplate) -> HttpRequest:
        if not self.settings.waba_id:
            raise ConfigError(
                "waba_id", "required to create templates (POST /{waba_id}/message_templates)"
            )
        return HttpRequest.for_json(
            "POST",
            self._url(self.settings.waba_id, "message_templates"),
            meta_wire.template_create_body(tpl),
            self._auth(),
        )

    # -- Flows and templates management (providers.meta_manage) -----------------------

    def graph(self) -> meta_manage.Graph:
        """Where management calls go: this sender's Graph version and WABA (``waba_id``)."""
        s = self.settings
        root = f"{s.base_url.rstrip('/')}/{s.api_version}"
        return meta_manage.Graph(self.name, self.sender, root, s.waba_id, self._auth())

    def build_manage(self, op: ManageOp[R]) -> HttpRequest:
        return meta_manage.build(self.graph(), op)

    def parse_manage(self, op: ManageOp[R], resp: HttpResponse) -> R:
        return meta_manage.parse(self.graph(), op, resp)

    def build_register_public_key(self, public_key_pem: str) -> HttpRequest:
        """``POST /{phone_number_id}/whatsapp_business_encryption``, form-encoded
        (:func:`meta_wire.public_key_form`)."""
        url = self._url(self.settings.phone_number_id, "whatsapp_business_encryption")
        body = meta_wire.public_key_form(public_key_pem)
        headers = {**self._auth(), "Content-Type": meta_wire.PUBLIC_KEY_CONTENT_TYPE}
        return HttpRequest("POST", url, headers, None, body)

    def parse_register_public_key_response(self, resp: HttpResponse) -> bool:
        if not resp.ok:
            raise meta_wire.parse_failure(self.name, resp)
        return meta_wire.parse_public_key_success(self.name, resp)

    def parse_send_response(self, resp: HttpResponse) -> SendReceipt:
        if not resp.ok:
            raise meta_wire.parse_failure(self.name, resp)
        return meta_wire.parse_send_success(self, resp)

    def parse_create_template_response(
        self, resp: HttpResponse, tpl: FlowTemplate
    ) -> TemplateReceipt:
        if not resp.ok:
            raise meta_wire.parse_failure(self.name, resp)
        return meta_wire.parse_template_success(self.name, resp, tpl)

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> None:
        secret = configured_secret(
            self.settings.app_secret,
            self.settings.allow_unsigned_webhooks,
            "app_secret is not configured, so X-Hub-Signature-256 cannot be verified",
        )
        if secret is not None:
            check_hub_signature(body, headers, secret)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        return self._inbound.envelope(expect_dict(load_json_body(body), ""))

    def verify_challenge(self, params: Mapping[str, str]) -> str:
        """Answer ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``."""
        expected = self.settings.verify_token
        if expected is None:
            raise SignatureError("verify_token is not configured")
        if params.get("hub.mode") != "subscribe":
            raise SignatureError("hub.mode must be 'subscribe'")
        given = params.get("hub.verify_token", "")
        if not hmac.compare_digest(wire(given), expected.get_secret_value().encode()):
            raise SignatureError("hub.verify_token does not match")
        challenge = params.get("hub.challenge")
        if not challenge:
            raise SignatureError("hub.challenge is missing")
        return challenge
