"""What every adapter is, and the small pure helpers adapters share.

An adapter translates and nothing else: neutral model → :class:`HttpRequest`,
:class:`HttpResponse` → receipt or typed error, webhook bytes → normalized events. No
sockets, sleeps or clocks, so one adapter serves the sync and the async gateway.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_core import PydanticCustomError

from gateway.errors import (
    ConfigError,
    LimitExceeded,
    ProviderError,
    SignatureError,
    UnsupportedFeature,
    WebhookPayloadError,
)
from gateway.events import InboundEvent, SendReceipt, SendStatus, TemplateReceipt
from gateway.http import HttpRequest, HttpResponse
from gateway.identity import UserRef
from gateway.manage import ManageOp
from gateway.model import CTA_MAX, FlowMessage, FlowTemplate, ProviderOptions

# Capability names an adapter may declare.
FLOW_ID = "flow_id"
FLOW_NAME = "flow_name"
DRAFT_MODE = "draft_mode"
TEMPLATE_SEND = "template_send"
TEMPLATE_CREATE = "template_create"
FLOW_MANAGEMENT = "flow_management"
MEDIA_HEADER = "media_header"
TEMPLATE_NAMED_PARAMETERS = "template_named_parameters"
TEMPLATE_HEADER_TEXT = "template_header_text"
TEMPLATE_BUTTONS = "template_buttons"
TEMPLATE_MANAGEMENT = "template_management"
PUBLIC_KEY = "public_key"
BSUID_RECIPIENT = "bsuid_recipient"

R = TypeVar("R")

CAPABILITIES: dict[str, str] = {
    FLOW_ID: "send an interactive Flow by `flow_id`",
    FLOW_NAME: "send (and create templates) by `flow_name` instead of `flow_id`",
    DRAFT_MODE: 'send a draft Flow (`mode="draft"`)',
    TEMPLATE_SEND: "send a template with a FLOW button",
    TEMPLATE_CREATE: "create a FLOW-button template (`create_template`)",
    PUBLIC_KEY: "register the Flow endpoint's public key (`register_public_key`)",
    BSUID_RECIPIENT: "send `to` a business-scoped user id (a user without a phone number)",
    FLOW_MANAGEMENT: "manage Flows (`gw.flows`: create, update, publish, deploy…)",
    MEDIA_HEADER: "a media header (image, video, document) on a template send",
    TEMPLATE_NAMED_PARAMETERS: "named body parameters on a template send (`{{first_name}}`)",
    TEMPLATE_HEADER_TEXT: "header text parameters on a template send",
    TEMPLATE_BUTTONS: "parameters of the template's other buttons (quick reply, URL, code)",
    TEMPLATE_MANAGEMENT: "list, get and delete templates (`gw.templates`)",
}
"""Every capability an adapter may declare, with what it means (the README's matrix)."""


def _present(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not text.strip():
        raise PydanticCustomError(
            "empty_secret",
            "must not be empty: an empty key signs and verifies anything (is the variable "
            "it reads from set but empty?)",
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise PydanticCustomError("invalid_secret", "must be valid Unicode text") from None
    return value


Secret = Annotated[SecretStr, AfterValidator(_present)]
"""A credential setting: hidden from reprs, never empty."""


class AdapterSettings(BaseModel):
    """Base of every adapter's settings; secrets are ``SecretStr`` so reprs hide them."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str
    flow_cta_max_length: int | None = Field(default=None, ge=1, le=CTA_MAX)
    """Overrides the adapter's documented ``flow_cta`` limit (for when a provider changes
    it before we do); None: :attr:`Adapter.flow_cta_max`."""
    throughput: float | None = Field(default=None, gt=0)
    """Messages per second this number may send (its tier); None: the provider's
    documented default, :attr:`Adapter.default_throughput`."""
    pair_interval: float | None = Field(default=None, ge=0)
    """Seconds between messages to the same user, on average (Meta's pair rate: one per
    6 s, error 131056); None: :attr:`Adapter.default_pair_interval`; 0: unpaced."""
    pair_burst: int = Field(default=3, ge=1)
    """Messages to one user that may go at once before the pair interval applies (Meta
    allows short bursts that borrow from later quota)."""

    def secret_values(self) -> list[str]:
        return [
            v.get_secret_value()
            for v in (getattr(self, name) for name in type(self).model_fields)
            if isinstance(v, SecretStr)
        ]


@dataclass(frozen=True, slots=True)
class WebhookPart:
    """One part of a callback body, for the sender it names.

    :meth:`Adapter.split_webhook` cuts a callback that names several senders into one
    part per sender; the receiver gives each part to the sender whose
    :attr:`Adapter.business_id` (else :attr:`Adapter.account_id`) it names. A body cut
    in parts is re-serialized, so a signature over the original body (Meta's
    ``X-Hub-Signature-256``) checks the original body, never ``body``.
    """

    business_id: str | None
    """phone_number_id (Meta, 360dialog Cloud), app_id (Sinch), instanceId (1msg); None
    when the part names no sender."""
    account_id: str | None
    """The WABA id (Meta's ``entry.id``) of account-level changes that name no number."""
    body: bytes
    """What that sender's adapter parses: the original body when there is one part."""


class Adapter(ABC):
    """The contract every provider adapter fulfils."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]
    Settings: ClassVar[type[AdapterSettings]]
    Options: ClassVar[type[ProviderOptions] | None] = None
    """This provider's per-message extras (a :class:`ProviderOptions` subclass), if any."""
    default_throughput: ClassVar[float] = 80.0
    """Messages/s a number may send when its settings do not say (Meta's default tier:
    80; reference/management.md §7.1)."""
    default_pair_interval: ClassVar[float] = 6.0
    """Seconds between messages to one user (Meta's pair rate, 131056; §7.2)."""
    flow_cta_max: ClassVar[int] = 20
    """The longest ``flow_cta`` this provider documents (each adapter cites its source);
    20 is what Meta's older pages and Sinch's SDK say."""

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        clock: Callable[[], float] = time.time,
        sender: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        """Wall clock (Unix seconds) for checks such as signature timestamps; injectable."""
        self.sender = sender
        """The configured sender's name, stamped on receipts and events (None when bare)."""

    @property
    def business_id(self) -> str | None:
        """The provider's id of this sender's business number, when the settings name it."""
        return None

    @property
    def account_id(self) -> str | None:
        """The id of this sender's business account (WABA), when the settings name it:
        account-level callbacks that name no number are routed by it."""
        return None

    @classmethod
    def split_webhook(cls, body: bytes) -> list[WebhookPart]:
        """``body`` cut into one part per sender it names, in order of first appearance.

        Pure and total: the receiver calls it before it knows the sender, so it never
        raises; junk (not JSON, wrong types, nesting too deep) is one part naming nobody,
        for the sender's own parser to refuse with its typed error. Default: one part.
        """
        return [WebhookPart(None, None, body)]

    def receipt(
        self,
        message_id: str | None,
        status: SendStatus,
        raw: Any,
        *,
        user: UserRef | None = None,
        job_id: str | None = None,
    ) -> SendReceipt:
        """A receipt from this sender; ``user`` empty when the provider does not echo the
        recipient (the gateway then names the user as the message addressed them)."""
        return SendReceipt(
            provider=self.name,
            sender=self.sender,
            business_id=self.business_id,
            message_id=message_id,
            user=user or UserRef(),
            status=status,
            raw=raw,
            job_id=job_id,
        )

    def for_sender(self, name: str) -> Self:
        """This adapter serving the sender ``name`` (a copy unless already so named)."""
        if self.sender == name:
            return self
        return type(self)(self.settings, clock=self.clock, sender=name)

    @classmethod
    def from_settings(
        cls, *, key_prefix: str = "", sender: str | None = None, **values: Any
    ) -> Self:
        """Validate ``values`` against :attr:`Settings`; errors name the offending key."""
        try:
            settings = cls.Settings.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(sorted(cls.Settings.model_fields))
                msg = f"unknown setting for provider {cls.name!r} (allowed: {allowed})"
            raise ConfigError(f"{key_prefix}{key}", msg) from None
        return cls(settings, sender=sender)

    def __repr__(self) -> str:
        shown = {
            k: ("***" if isinstance(v, SecretStr) else v)
            for k, v in self.settings.model_dump().items()
            if v is not None
        }
        return f"{type(self).__name__}({shown})"

    # -- capability checks -------------------------------------------------------------

    def require(self, feature: str, detail: str = "") -> None:
        if feature not in self.capabilities:
            raise UnsupportedFeature(self.name, feature, detail)

    def check_message(self, msg: FlowMessage) -> None:
        """Refuse what this provider cannot express, before any request is built."""
        limit = self.settings.flow_cta_max_length or self.flow_cta_max
        if msg.flow_cta is not None and len(msg.flow_cta) > limit:
            raise LimitExceeded(
                self.name, "flow_cta", "flow_cta_too_long", limit, len(msg.flow_cta)
            )
        if msg.recipient_kind != "phone":
            self.require(BSUID_RECIPIENT, "send to the user's phone number instead")
        if msg.template is not None:
            self.require(TEMPLATE_SEND)
            t = msg.template
            if t.named:
                self.require(TEMPLATE_NAMED_PARAMETERS, "use positional body_parameters")
            if t.header_parameters:
                self.require(TEMPLATE_HEADER_TEXT)
            if t.header_media is not None:
                self.require(MEDIA_HEADER)
            if t.buttons:
                self.require(TEMPLATE_BUTTONS)
            return
        if msg.flow_name is not None:
            self.require(FLOW_NAME, "send the Flow by flow_id instead")
        if msg.mode == "draft":
            self.require(DRAFT_MODE)

    # -- the translation contract ------------------------------------------------------

    @abstractmethod
    def build_send(self, msg: FlowMessage) -> HttpRequest:
        """The request that sends ``msg``."""

    def build_create_template(self, tpl: FlowTemplate) -> HttpRequest:
        """The request that creates ``tpl``."""
        raise UnsupportedFeature(self.name, TEMPLATE_CREATE)

    @abstractmethod
    def parse_send_response(self, resp: HttpResponse) -> SendReceipt:
        """A receipt, or raise the matching :class:`~gateway.errors.ProviderError`."""

    def parse_create_template_response(
        self, resp: HttpResponse, tpl: FlowTemplate
    ) -> TemplateReceipt:
        raise UnsupportedFeature(self.name, TEMPLATE_CREATE)

    @abstractmethod
    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> None:
        """Raise :class:`~gateway.errors.SignatureError` unless the callback is authentic.

        ``query`` is the callback URL's query string, for providers that cannot sign and
        are authenticated by a secret token in the URL instead.
        """

    @abstractmethod
    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[InboundEvent]:
        """Normalized events; unknown content becomes ``UnhandledEvent``."""

    def build_register_public_key(self, public_key_pem: str) -> HttpRequest:
        """The request that registers the Flow endpoint's business public key."""
        raise UnsupportedFeature(self.name, PUBLIC_KEY, "register it with the provider")

    def parse_register_public_key_response(self, resp: HttpResponse) -> bool:
        """True when the provider stored the key; raise the matching ProviderError."""
        raise UnsupportedFeature(self.name, PUBLIC_KEY)

    def verify_challenge(self, params: Mapping[str, str]) -> str:
        """Answer a subscription handshake (Meta's ``hub.challenge``)."""
        raise UnsupportedFeature(self.name, "webhook_challenge")

    # -- Flows and templates management (gateway.manage) -------------------------------

    manage_alternative: ClassVar[str] = ""
    """Where to manage Flows and templates instead, for a provider whose API cannot."""
    manage_create_with_json: ClassVar[bool] = True
    """:class:`~gateway.manage.FlowCreate` may carry ``flow_json`` and ``publish`` (Meta);
    False: the provider creates an empty DRAFT, and ``gw.flows.create`` uploads the JSON
    and publishes in calls of their own (360dialog's Partner API)."""

    def build_manage(self, op: ManageOp[R]) -> HttpRequest:
        """The request for a management call (``op``: a :mod:`gateway.manage` operation).

        Raises :class:`UnsupportedFeature` naming the alternative where the provider has
        no such call; an adapter that has some overrides this and calls ``super()`` for
        the rest.
        """
        raise UnsupportedFeature(self.name, op.name, self.manage_alternative)

    def parse_manage(self, op: ManageOp[R], resp: HttpResponse) -> R:
        """The result of a management call, or raise the matching ProviderError."""
        raise UnsupportedFeature(self.name, op.name, self.manage_alternative)

    # -- bearer tokens the gateway fetches for the adapter (OAuth client credentials) ---

    def token_request(self) -> HttpRequest | None:
        """The request that obtains a bearer token, or None if requests carry their own auth."""
        return None

    def parse_token_response(self, resp: HttpResponse) -> tuple[str, float]:
        """``(access_token, expires_in_seconds)``, or raise a ProviderError."""
        raise UnsupportedFeature(self.name, "token")

    def authorize(self, request: HttpRequest, token: str) -> HttpRequest:
        """``request`` carrying ``token``."""
        return replace(request, headers={**request.headers, "Authorization": f"Bearer {token}"})

    def token_expired(self, resp: HttpResponse) -> bool:
        """True when a response says the token expired (refresh once and resend)."""
        return False


# -- pure helpers ----------------------------------------------------------------------


def loads(text: bytes | str) -> Any:
    """``json.loads`` whose every failure is a ``ValueError``: invalid JSON, bytes that
    are not UTF-8, and nesting deeper than the parser recurses (RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def load_json_body(body: bytes | str) -> Any:
    """Decode a webhook body, or raise :class:`WebhookPayloadError` saying why."""
    try:
        return loads(body)
    except ValueError as exc:
        raise WebhookPayloadError(f"body is not valid JSON ({exc})") from None


def expect_dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookPayloadError(f"{path or 'body'}: expected an object, got {_kind(value)}")
    return value


def expect_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise WebhookPayloadError(f"{path}: expected an array, got {_kind(value)}")
    return value


def expect_str(value: Any, path: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise WebhookPayloadError(f"{path}: expected a non-empty string, got {_kind(value)}")
    return str(value)


def opt_str(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, bool | dict | list):
        return None
    return str(value)


def part_named_by(body: bytes, key: str) -> list[WebhookPart]:
    """The whole body as one part, for the sender its top-level ``key`` names (Sinch's
    ``app_id``, 1msg's ``instanceId``); never raises: junk names no sender."""
    try:
        doc = loads(body)
    except ValueError:
        doc = None
    business_id = opt_str(doc.get(key)) if isinstance(doc, dict) else None
    return [WebhookPart(business_id, None, body)]


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def iso_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (``2024-06-15T14:23:45.123Z``) as aware UTC, else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def unix_time(value: Any) -> datetime | None:
    """A Unix-seconds timestamp (number or digit string) as aware UTC, else None."""
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def configured_secret(secret: SecretStr | None, allow_unsigned: bool, missing: str) -> str | None:
    """The secret callbacks are checked against; None when unsigned ones are allowed."""
    if secret is not None:
        return secret.get_secret_value()
    if allow_unsigned:
        return None
    raise SignatureError(missing)


def answer_object(provider: str, resp: HttpResponse, what: str = "answer") -> dict[str, Any]:
    """A success answer's JSON object, or the ProviderError saying it is not one."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderError(
            f"the {what} is not a JSON object: {resp.text()!r}",
            provider=provider,
            status_code=resp.status_code,
            raw=resp.content.decode("utf-8", "replace"),
        )
    return body


def decode_response_json(raw: Any, path: str) -> dict[str, Any]:
    """``response_json`` arrives as a JSON string (Cloud) or an object (On-Premise docs)."""
    if isinstance(raw, str):
        try:
            raw = loads(raw)
        except ValueError as exc:
            raise WebhookPayloadError(f"{path}: not valid JSON ({exc})") from None
    return expect_dict(raw, path)
