"""The emulator's own wire schemas, written from reference/providers.md and identity.md.

Deliberately independent of ``providers/``: these models describe what each provider
accepts, so an adapter that drifts (a misspelled key, a wrong type, a missing field) is
refused the way the real API would refuse it. Unknown keys are errors everywhere.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from gateway.emulator.users import is_bsuid, is_phone

NonEmpty = Annotated[str, Field(min_length=1)]
Cta = Annotated[str, Field(min_length=1, max_length=20)]
Body = Annotated[str, Field(min_length=1, max_length=1024)]
Short = Annotated[str, Field(min_length=1, max_length=60)]
Action = Literal["navigate", "data_exchange"]
Mode = Literal["draft", "published"]


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


# -- Meta's On-Premises API (360dialog On-Premise): no machine-readable spec exists, so
# these hand rules stand (Meta's On-Premises HTML reference). Meta's Cloud API and
# 360dialog Cloud are checked against spec extracts instead (gateway/emulator/specs/).


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


class MediaLink(Strict):
    link: NonEmpty | None = None
    id: NonEmpty | None = None
    filename: NonEmpty | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.link is None) == (self.id is None):
            raise ValueError("exactly one of link or id is required")
        return self


class MediaParameter(Strict):
    type: Literal["image", "video", "document"]
    image: MediaLink | None = None
    video: MediaLink | None = None
    document: MediaLink | None = None

    @model_validator(mode="after")
    def _named(self) -> Self:
        given = [k for k in ("image", "video", "document") if getattr(self, k) is not None]
        if given != [self.type]:
            raise ValueError(f"a {self.type} parameter carries exactly its {self.type!r} object")
        return self


class HeaderComponent(Strict):
    # Meta's On-Premises template messages: a header takes text or one media parameter
    type: Literal["header"]
    parameters: list[Annotated[TextParameter | MediaParameter, Field(discriminator="type")]]


class PayloadParameter(Strict):
    type: Literal["payload"]
    payload: NonEmpty


class OtherButtonComponent(Strict):
    # quick_reply {payload} and url {text}; On-Premise has no copy_code buttons
    type: Literal["button"]
    sub_type: Literal["quick_reply", "url"]
    index: Annotated[str, Field(pattern=r"^[0-9]$")]
    parameters: list[Annotated[PayloadParameter | TextParameter, Field(discriminator="type")]]


def _component_kind(value: Any) -> str:
    if isinstance(value, dict):
        kind, sub = value.get("type"), value.get("sub_type")
        return f"button_{sub}" if kind == "button" and sub != "flow" else str(kind)
    return "unknown"


Component = Annotated[
    Annotated[BodyComponent, Tag("body")]
    | Annotated[HeaderComponent, Tag("header")]
    | Annotated[FlowButtonComponent, Tag("button")]
    | Annotated[OtherButtonComponent, Tag("button_quick_reply")]
    | Annotated[OtherButtonComponent, Tag("button_url")],
    Discriminator(_component_kind),
]


class Template(Strict):
    name: NonEmpty
    namespace: NonEmpty | None = None
    language: Language
    components: list[Component] = []


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
