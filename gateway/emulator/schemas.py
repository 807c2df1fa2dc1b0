"""The emulator's own wire schemas, written from reference/providers.md and identity.md.

Deliberately independent of ``providers/``: these models describe what each provider
accepts, so an adapter that drifts (a misspelled key, a wrong type, a missing field) is
refused the way the real API would refuse it. Unknown keys are errors everywhere.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gateway.emulator.users import BSUID, is_bsuid, is_phone

NonEmpty = Annotated[str, Field(min_length=1)]
Cta = Annotated[str, Field(min_length=1, max_length=20)]
Body = Annotated[str, Field(min_length=1, max_length=1024)]
Short = Annotated[str, Field(min_length=1, max_length=60)]
Action = Literal["navigate", "data_exchange"]
Mode = Literal["draft", "published"]
UserId = Annotated[str, Field(pattern=BSUID.pattern)]


def _phone_only(value: str, where: str) -> str:
    if is_bsuid(value):
        raise ValueError(f"a business-scoped user id cannot go in `to` ({where})")
    if not is_phone(value):
        raise ValueError("must be a phone number")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Text(Strict):
    text: Body


class ShortText(Strict):
    text: Short


class TextHeader(Strict):
    type: Literal["text"]
    text: Short


class Payload(Strict):
    screen: NonEmpty
    data: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _data(self) -> Self:
        if self.data is not None and not self.data:
            raise ValueError("data must be a non-empty object")
        return self


def _flow_rules(action: str, payload: Payload | None) -> None:
    if action == "data_exchange" and payload is not None:
        raise ValueError("flow_action_payload must be omitted for data_exchange")


# -- Meta Cloud API (also 360dialog Cloud) and On-Premise ------------------------------


class FlowParameters(Strict):
    flow_message_version: Literal["3"]
    flow_id: NonEmpty | None = None
    flow_name: NonEmpty | None = None
    flow_cta: Cta
    mode: Mode = "published"
    flow_token: NonEmpty | None = None
    flow_action: Action = "navigate"
    flow_action_payload: Payload | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if (self.flow_id is None) == (self.flow_name is None):
            raise ValueError("exactly one of flow_id or flow_name is required")
        _flow_rules(self.flow_action, self.flow_action_payload)
        return self


class FlowAction(Strict):
    name: Literal["flow"]
    parameters: FlowParameters


class Interactive(Strict):
    type: Literal["flow"]
    header: TextHeader | None = None
    body: Text
    footer: ShortText | None = None
    action: FlowAction


class Language(Strict):
    code: Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+)?$")]
    policy: Literal["deterministic"] | None = None


class TextParameter(Strict):
    type: Literal["text"]
    text: NonEmpty


class ButtonAction(Strict):
    flow_token: NonEmpty | None = None
    flow_action_data: dict[str, Any] | None = None


class ActionParameter(Strict):
    type: Literal["action"]
    action: ButtonAction


class BodyComponent(Strict):
    type: Literal["body"]
    parameters: list[TextParameter]


class FlowButtonComponent(Strict):
    type: Literal["button"]
    sub_type: Literal["flow"]
    index: Annotated[str, Field(pattern=r"^[0-9]$")]
    parameters: list[ActionParameter] = []


Component = Annotated[BodyComponent | FlowButtonComponent, Field(discriminator="type")]


class Template(Strict):
    name: NonEmpty
    namespace: NonEmpty | None = None
    language: Language
    components: list[Component] = []


class CloudMessage(Strict):
    """``POST /{phone_number_id}/messages`` (Meta) and ``POST /messages`` (360dialog)."""

    messaging_product: Literal["whatsapp"]
    recipient_type: Literal["individual"] = "individual"
    to: NonEmpty | None = None  # a phone; a BSUID goes in `recipient`; both: `to` wins
    recipient: UserId | None = None
    type: Literal["interactive", "template"]
    interactive: Interactive | None = None
    template: Template | None = None

    @field_validator("to")
    @classmethod
    def _to(cls, value: str | None) -> str | None:
        # Meta moved BSUIDs out of `to` (Feb 2026): refused as an invalid value (131009).
        return None if value is None else _phone_only(value, "send it in `recipient`")

    @model_validator(mode="after")
    def _kind(self) -> Self:
        if self.to is None and self.recipient is None:
            # type "missing": answered as Meta's 131008, like any missing parameter
            raise PydanticCustomError("missing", "one of `to` or `recipient` is required")
        if (self.type == "interactive") != (self.interactive is not None) or (
            self.type == "template"
        ) != (self.template is not None):
            raise ValueError(f"type {self.type!r} needs exactly the {self.type!r} object")
        return self


class OnPremFlowAction(Strict):
    name: Literal["", "flow"]
    parameters: FlowParameters


class OnPremInteractive(Strict):
    type: Literal["galaxy_message", "flow"]
    header: TextHeader | None = None
    body: Text
    footer: ShortText | None = None
    action: OnPremFlowAction


class OnPremTemplate(Template):
    namespace: NonEmpty  # required On-Premise
    language: Language

    @model_validator(mode="after")
    def _policy(self) -> Self:
        if self.language.policy != "deterministic":
            raise ValueError("language.policy must be 'deterministic'")
        return self


class OnPremMessage(Strict):
    """On-Premise ``POST /v1/messages``: Cloud's shape without ``messaging_product``."""

    recipient_type: Literal["individual"] = "individual"
    to: NonEmpty
    type: Literal["interactive", "template"]
    interactive: OnPremInteractive | None = None
    template: OnPremTemplate | None = None

    @field_validator("to")
    @classmethod
    def _to(cls, value: str) -> str:
        return _phone_only(value, "the On-Premise API predates them")

    @model_validator(mode="after")
    def _kind(self) -> Self:
        if (self.type == "interactive") != (self.interactive is not None):
            raise ValueError(f"type {self.type!r} needs exactly the {self.type!r} object")
        return self


class TemplateButton(Strict):
    type: Literal["FLOW"]
    text: Annotated[str, Field(min_length=1, max_length=25)]
    flow_id: NonEmpty | None = None
    flow_name: NonEmpty | None = None
    flow_json: NonEmpty | None = None
    flow_action: Action = "navigate"
    navigate_screen: NonEmpty | None = None
    icon: Literal["DOCUMENT", "PROMOTION", "REVIEW"] | None = None

    @model_validator(mode="after")
    def _one_flow(self) -> Self:
        if sum(x is not None for x in (self.flow_id, self.flow_name, self.flow_json)) != 1:
            raise ValueError("exactly one of flow_id, flow_name or flow_json is required")
        return self


class TemplateComponent(Strict):
    type: Annotated[str, Field(pattern=r"(?i)^(header|body|footer|buttons)$")]
    format: Literal["TEXT"] | None = None
    text: NonEmpty | None = None
    example: dict[str, Any] | None = None
    buttons: list[TemplateButton] | None = None


class TemplateCreate(Strict):
    """Template creation: Meta ``message_templates``, 360dialog, 1msg ``addTemplate``."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,512}$")]
    language: NonEmpty
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    components: list[TemplateComponent] = Field(min_length=1)
    allow_category_change: bool | None = None


# -- Sinch Conversation API ------------------------------------------------------------


class ChannelIdentity(Strict):
    channel: Literal["WHATSAPP"]
    identity: NonEmpty  # a phone, or a BSUID since Sinch's 2026 WhatsApp user-id support

    @field_validator("identity")
    @classmethod
    def _identity(cls, value: str) -> str:
        if not (is_phone(value) or is_bsuid(value)):
            raise ValueError("must be a phone number or a business-scoped user id")
        return value


class IdentifiedBy(Strict):
    channel_identities: list[ChannelIdentity] = Field(min_length=1)


class SinchRecipient(Strict):
    identified_by: IdentifiedBy | None = None
    contact_id: NonEmpty | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.identified_by is None) == (self.contact_id is None):
            raise ValueError("exactly one of identified_by or contact_id")
        return self


class SinchFlow(Strict):
    header: TextHeader | None = None
    body: Text | None = None
    footer: ShortText | None = None
    flow_id: NonEmpty
    flow_cta: Cta
    flow_token: NonEmpty | None = None
    flow_mode: Mode = "published"
    flow_action: Action = "navigate"
    flow_action_payload: Payload | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        _flow_rules(self.flow_action, self.flow_action_payload)
        return self


class SinchWhatsAppFlows(Strict):
    message_type: Literal["FLOWS"]
    message: SinchFlow


class SinchChannelSpecific(Strict):
    WHATSAPP: SinchWhatsAppFlows


class SinchWhatsAppTemplate(Strict):
    template_id: NonEmpty
    language_code: Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+)?$")]
    parameters: dict[str, str] = {}


class SinchChannelTemplate(Strict):
    WHATSAPP: SinchWhatsAppTemplate


class SinchTemplateMessage(Strict):
    channel_template: SinchChannelTemplate


class SinchAppMessage(Strict):
    channel_specific_message: SinchChannelSpecific | None = None
    template_message: SinchTemplateMessage | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.channel_specific_message is None) == (self.template_message is None):
            raise ValueError("exactly one message kind is required")
        return self


class SinchSend(Strict):
    """``POST /v1/projects/{project}/messages:send``."""

    app_id: NonEmpty
    recipient: SinchRecipient
    message: SinchAppMessage
    correlation_id: Annotated[str, Field(max_length=128)] | None = None
    message_metadata: Annotated[str, Field(max_length=1024)] | None = None
    callback_url: NonEmpty | None = None
    ttl: Annotated[str, Field(pattern=r"^[0-9]+s$")] | None = None
    queue: Literal["NORMAL_PRIORITY", "HIGH_PRIORITY"] | None = None
    processing_strategy: Literal["DEFAULT", "DISPATCH_ONLY"] | None = None


# -- 1msg.io ---------------------------------------------------------------------------


_CHAT_ID = r"(@(c|g)\.us|^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}@lid)$"


class _OneMsgRecipient(Strict):
    phone: int | Annotated[str, Field(pattern=r"^[0-9]{6,15}$")] | None = None
    # `<digits>@c.us`, a group `@g.us`, or a BSUID `<BSUID>@lid` (1msg OpenAPI v2)
    chatId: Annotated[str, Field(pattern=_CHAT_ID)] | None = None
    # 1msg's own client sends a BSUID in its own field (github.com/1msg/1msg-n8n-nodes
    # utils/recipient.ts)
    bsuid: Annotated[str, Field(pattern=BSUID.pattern)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if sum(v is not None for v in (self.phone, self.chatId, self.bsuid)) != 1:
            raise ValueError("exactly one of phone, chatId or bsuid is required")
        return self


class OneMsgSendFlow(_OneMsgRecipient):
    body: Body
    header: Short | None = None
    footer: Short | None = None
    flowId: NonEmpty
    flowToken: NonEmpty
    flowCta: Cta
    flowAction: Action = "navigate"
    flowActionPayload: Payload | None = None
    flowActionScreen: NonEmpty | None = None
    flowActionData: dict[str, Any] | None = None
    flowMessageVersion: Literal["3"] = "3"
    mode: Mode | None = None
    quotedMsgId: NonEmpty | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        _flow_rules(self.flowAction, self.flowActionPayload)
        return self


class OneMsgSendTemplate(_OneMsgRecipient):
    template: NonEmpty
    namespace: NonEmpty
    language: Language
    params: list[Component] = []
    use_mMlite: bool | None = None
    message_activity_sharing: bool | None = None
    message_send_ttl_seconds: int | None = None
