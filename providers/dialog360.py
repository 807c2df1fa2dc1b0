"""360dialog adapters: Cloud API (``dialog360_cloud``) and On-Premise (``dialog360_onprem``).

Both speak Meta's wire format (shared through :mod:`providers.meta_wire` and
:mod:`providers.meta_inbound`) on 360dialog's hosts with the ``D360-API-KEY`` header.
360dialog does not sign callbacks; it echoes headers configured with the webhook, so a
callback is authentic when it carries the configured shared header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

from gateway.errors import (
    ConfigError,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QualityLimited,
    RateLimited,
    RecipientUnreachable,
    ServiceWindowClosed,
    TemplateError,
    UnsupportedFeature,
)
from gateway.events import InboundEvent, SendReceipt, TemplateReceipt
from gateway.http import HttpRequest, HttpResponse
from gateway.manage import ManageOp
from gateway.model import FlowMessage, FlowTemplate
from gateway.signing import check_shared_secret, lower_keys
from providers import meta_codes, meta_wire
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
from providers.dialog360_manage import HUB_URL, AssetsEncoding, Hub, Templates, failure
from providers.meta_inbound import MetaInbound, split_envelope

R = TypeVar("R")


class Dialog360Settings(AdapterSettings):
    """Settings shared by both 360dialog adapters."""

    api_key: Secret
    webhook_auth_header: str = "Authorization"
    """The header configured with the webhook (``POST /v1/configs/webhook {headers}``)."""
    webhook_auth_value: Secret | None = None
    """Its secret value; callbacks without it are refused."""
    allow_unsigned_webhooks: bool = False
    """Accept callbacks when no ``webhook_auth_value`` is set (tests only)."""


class Dialog360CloudSettings(Dialog360Settings):
    base_url: str = "https://waba-v2.360dialog.io"
    phone_number_id: str | None = None
    """Meta's id of the number (``metadata.phone_number_id`` in its webhooks): stamped as
    ``business_id`` on receipts; webhooks carry their own."""
    partner_api_key: Secret | None = None
    """The partner's ``X-API-Key`` for 360dialog's Partner API, where Flows are managed
    (a channel's ``api_key`` cannot); with ``partner_id`` and ``waba_account_id``."""
    partner_id: str | None = None
    waba_account_id: str | None = None
    """360dialog's id of the WhatsApp Business Account (the hub's ``…WA`` id, not Meta's)."""
    partner_base_url: str = HUB_URL
    partner_assets_encoding: AssetsEncoding = "multipart"
    """How Flow JSON is uploaded to ``…/flows/{id}/assets``: ``multipart`` (a ``file``
    part, as a partner's code does and Meta's own upload) or ``json`` [unconfirmed]."""


class Dialog360OnPremSettings(Dialog360Settings):
    base_url: str = "https://waba.360dialog.io"
    namespace: str | None = None
    """The template namespace; required for template sends."""
    interactive_type: Literal["galaxy_message", "flow"] = "galaxy_message"
    """Interactive type of Flow messages: 360dialog documents ``galaxy_message``."""
    channel_id: str | None = None
    """Your id of this number (e.g. 360dialog's channel id): On-Premise callbacks name no
    business number, so receipts and events carry this as ``business_id``."""


class _Dialog360(Adapter):
    """What both 360dialog adapters share: auth, error shapes, webhook auth."""

    settings: Dialog360Settings
    _messages_path: ClassVar[str]
    _inbound: MetaInbound

    def _request(self, path: str, payload: dict[str, Any]) -> HttpRequest:
        url = f"{self.settings.base_url.rstrip('/')}{path}"
        key = {"D360-API-KEY": self.settings.api_key.get_secret_value()}
        return HttpRequest.for_json("POST", url, payload, key)

    def _classify(self, code: Any) -> type[ProviderError] | None:
        return meta_codes.graph_class(code)

    def _payload(self, msg: FlowMessage) -> dict[str, Any]:
        return meta_wire.message_body(msg)

    def build_send(self, msg: FlowMessage) -> HttpRequest:
        self.check_message(msg)
        return self._request(self._messages_path, self._payload(msg))

    def build_create_template(self, tpl: FlowTemplate) -> HttpRequest:
        return self._request("/v1/configs/templates", meta_wire.template_create_body(tpl))

    _public_key_path: ClassVar[str]

    def build_register_public_key(self, public_key_pem: str) -> HttpRequest:
        """On-Premise ``/v1/settings/business/whatsapp_business_encryption``, JSON
        ``{"public_key": …}``: Meta's On-Premises reference (settings/business-whatsapp-
        business-encryption) and 360dialog's Flows page (seed 002)."""
        return self._request(self._public_key_path, {"public_key": public_key_pem})

    def parse_register_public_key_response(self, resp: HttpResponse) -> bool:
        if not resp.ok:
            raise meta_wire.parse_failure(self.name, resp, self._classify)
        return meta_wire.parse_public_key_success(self.name, resp)

    def parse_send_response(self, resp: HttpResponse) -> SendReceipt:
        if not resp.ok:
            raise meta_wire.parse_failure(self.name, resp, self._classify)
        return meta_wire.parse_send_success(self, resp)

    def parse_create_template_response(
        self, resp: HttpResponse, tpl: FlowTemplate
    ) -> TemplateReceipt:
        if not resp.ok:
            raise meta_wire.parse_failure(self.name, resp, self._classify)
        return meta_wire.parse_template_success(self.name, resp, tpl)

    # -- management: templates here (both), Flows in the Cloud adapter --------------------

    def _templates(self) -> Templates:
        s = self.settings
        key = s.api_key.get_secret_value()
        return Templates(provider=self.name, sender=self.sender, base_url=s.base_url, api_key=key)

    def build_manage(self, op: ManageOp[R]) -> HttpRequest:
        if op.capability == TEMPLATE_MANAGEMENT:
            return self._templates().build(op)
        return super().build_manage(op)

    def parse_manage(self, op: ManageOp[R], resp: HttpResponse) -> R:
        if op.capability != TEMPLATE_MANAGEMENT:
            return super().parse_manage(op, resp)
        if not resp.ok:
            raise failure(self.name, op, resp, self._classify)
        result: R = self._templates().parse(op, resp)
        return result

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> None:
        s = self.settings
        secret = configured_secret(
            s.webhook_auth_value,
            s.allow_unsigned_webhooks,
            "webhook_auth_value is not configured: 360dialog does not sign callbacks, so "
            "configure a shared header with the webhook and set it here",
        )
        if secret is not None:
            given = lower_keys(headers).get(s.webhook_auth_header.lower())
            check_shared_secret(given, secret, s.webhook_auth_header)


class Dialog360CloudAdapter(_Dialog360):
    """360dialog Cloud API: Meta's payloads at ``/messages`` (no version, no phone id)."""

    name = "dialog360_cloud"
    # 360dialog Cloud relays Meta's Cloud API payloads: Meta's v23.0 OpenAPI, maxLength 30.
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
            # Meta's template components, relayed (providers.meta_wire.template_components)
            TEMPLATE_NAMED_PARAMETERS,
            TEMPLATE_HEADER_TEXT,
            MEDIA_HEADER,
            TEMPLATE_BUTTONS,
            FLOW_MANAGEMENT,  # Partner API (dialog360_manage)
            TEMPLATE_MANAGEMENT,
        }
    )
    manage_alternative = (
        "set partner_api_key, partner_id and waba_account_id for 360dialog's Partner API, "
        "or manage Flows in WhatsApp Manager or the 360dialog hub"
    )
    manage_create_with_json = False  # the Partner API creates empty DRAFTs
    Settings: ClassVar[type[AdapterSettings]] = Dialog360CloudSettings
    settings: Dialog360CloudSettings
    _messages_path = "/messages"
    _public_key_path = "/whatsapp_business_encryption"

    def __init__(self, settings: AdapterSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self._inbound = MetaInbound(self.name, self.sender)

    @property
    def business_id(self) -> str | None:
        return self.settings.phone_number_id

    @property
    def account_id(self) -> str | None:
        # 360dialog's hub id of the WABA (its "…WA" id); account-level callbacks carry
        # Meta's WABA id in entry.id, so they match only where the two were set alike.
        return self.settings.waba_account_id

    @classmethod
    def split_webhook(cls, body: bytes) -> list[WebhookPart]:
        """Meta's envelope, relayed: one part per ``metadata.phone_number_id``."""
        return split_envelope(body)

    def build_register_public_key(self, public_key_pem: str) -> HttpRequest:
        """``POST /whatsapp_business_encryption``: Meta's Cloud API upload, relayed.

        360dialog's Messaging API reference (1.41.0/1.44.0) shows the body as a bare
        string; the name it gives the key is ``business_public_key`` (its GET answer,
        ``BusinessEncryptionInfo``), the field of Meta's upload, whose bodies 360dialog
        Cloud follows (docs.360dialog.com/partner/integration/waba-integration). So:
        Meta's field in Meta's documented encoding (:func:`meta_wire.public_key_form`),
        not the On-Premise ``public_key``.
        """
        url = f"{self.settings.base_url.rstrip('/')}{self._public_key_path}"
        headers = {
            "D360-API-KEY": self.settings.api_key.get_secret_value(),
            "Content-Type": meta_wire.PUBLIC_KEY_CONTENT_TYPE,
        }
        return HttpRequest("POST", url, headers, None, meta_wire.public_key_form(public_key_pem))

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        return self._inbound.envelope(expect_dict(load_json_body(body), ""))

    def _hub(self, op: ManageOp[Any]) -> Hub:
        s = self.settings
        return Hub.of(
            self.name, self.sender, op.name, api_key=s.partner_api_key, partner_id=s.partner_id,
            waba_account_id=s.waba_account_id, base_url=s.partner_base_url,
            assets_encoding=s.partner_assets_encoding,
        )  # fmt: skip

    def build_manage(self, op: ManageOp[R]) -> HttpRequest:
        if op.capability == FLOW_MANAGEMENT:
            return self._hub(op).build(op)
        return super().build_manage(op)

    def parse_manage(self, op: ManageOp[R], resp: HttpResponse) -> R:
        if op.capability != FLOW_MANAGEMENT:
            return super().parse_manage(op, resp)
        if not resp.ok:
            raise failure(self.name, op, resp, self._classify)
        result: R = self._hub(op).parse(op, resp)
        return result


# On-Premise error codes (reference/providers.md §3) → class.
ONPREM_CODES: Mapping[int, type[ProviderError]] = {
    400: InvalidRequest,
    402: PermissionDenied,
    408: InvalidRequest,
    410: InvalidRequest,
    429: RateLimited,
    430: PermissionDenied,
    432: PermissionDenied,
    433: PermissionDenied,
    470: ServiceWindowClosed,
    471: QualityLimited,
    472: RecipientUnreachable,
    480: RecipientUnreachable,
    500: ProviderUnavailable,
    1000: ProviderUnavailable,
    1005: PermissionDenied,
    1006: InvalidRequest,
    1008: InvalidRequest,
    1009: InvalidRequest,
    1011: ProviderUnavailable,
    1013: RecipientUnreachable,
    1014: ProviderUnavailable,
    1015: RateLimited,
    1016: ProviderUnavailable,
    1026: RecipientUnreachable,
}


onprem_class = meta_codes.code_table(
    ONPREM_CODES, ((2000, 2999, TemplateError),), fallback=meta_codes.graph_class
)
"""On-Premise code → class; Cloud codes passed through are understood too."""


class Dialog360OnPremAdapter(_Dialog360):
    """360dialog On-Premise API: ``/v1/messages``, no ``messaging_product``, flat webhooks."""

    name = "dialog360_onprem"
    # Meta's On-Premises reference (no OpenAPI; sunset) says 20 characters.
    flow_cta_max = 20
    # Meta's On-Premises template messages: header (text or media) and quick-reply/URL
    # button parameters; no named parameters (Cloud API, 2024) nor copy-code buttons.
    capabilities = frozenset(
        {
            FLOW_ID, DRAFT_MODE, TEMPLATE_SEND, TEMPLATE_CREATE, PUBLIC_KEY,
            TEMPLATE_HEADER_TEXT, MEDIA_HEADER, TEMPLATE_BUTTONS,
            TEMPLATE_MANAGEMENT,  # /v1/configs/templates; no Flows API
        }
    )  # fmt: skip
    manage_alternative = (
        "360dialog On-Premise has no Flows API: build and publish Flows in WhatsApp "
        "Manager or the 360dialog hub"
    )
    Settings: ClassVar[type[AdapterSettings]] = Dialog360OnPremSettings
    settings: Dialog360OnPremSettings
    _messages_path = "/v1/messages"
    _public_key_path = "/v1/settings/business/whatsapp_business_encryption"

    def __init__(self, settings: AdapterSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        # 360dialog documents the reply name galaxy_message; Meta's is flow: take both.
        self._inbound = MetaInbound(
            self.name,
            self.sender,
            self.business_id,
            frozenset({"flow", "galaxy_message"}),
            classify=onprem_class,
        )

    @property
    def business_id(self) -> str | None:
        return self.settings.channel_id

    def _classify(self, code: Any) -> type[ProviderError] | None:
        return onprem_class(code)

    def _payload(self, msg: FlowMessage) -> dict[str, Any]:
        s = self.settings
        if msg.template is not None and not s.namespace:
            raise ConfigError("namespace", "required for On-Premise template sends")
        galaxy = s.interactive_type == "galaxy_message"
        return meta_wire.message_body(
            msg,
            messaging_product=False,
            interactive_type=s.interactive_type,
            action_name="" if galaxy else "flow",  # seed 002 shows an empty name for galaxy
            namespace=s.namespace if msg.template is not None else None,
            provider=self.name,
        )

    def build_create_template(self, tpl: FlowTemplate) -> HttpRequest:
        for key in ("flow_name", "flow_json"):
            if getattr(tpl, key) is not None:
                raise UnsupportedFeature(self.name, key, "Meta supports it on Cloud API only")
        return super().build_create_template(tpl)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        doc = expect_dict(load_json_body(body), "")
        if "entry" in doc:  # forwarded in the Cloud envelope
            return self._inbound.envelope(doc)
        return self._inbound.value(doc)
