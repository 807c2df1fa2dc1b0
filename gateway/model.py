"""The provider-neutral model (contract): what to send, in Meta's Flows vocabulary.

Every rule is checked at construction, so an invalid message never reaches an adapter.
Violations raise ``pydantic.ValidationError`` whose entries name the field (``loc``) and
the rule (``type``, e.g. ``flow_cta_too_long``).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gateway.http import encodable
from gateway.identity import RecipientKind, phone_problem, recipient_kind

FlowAction = Literal["navigate", "data_exchange"]
FlowMode = Literal["draft", "published"]

CTA_MAX = 30
"""The longest ``flow_cta`` any provider takes (Meta's v23.0 OpenAPI: ``maxLength: 30``,
"advised 30 characters or less"). Each adapter refuses above its own documented limit
(``Adapter.flow_cta_max``) before any request."""
HEADER_MAX = 60
FOOTER_MAX = 60
BODY_MAX = 1024
BUTTON_TEXT_MAX = 25

_PHONE = re.compile(r"\+?[0-9]+")
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_EMOJI_EXTRA = {0x200D, 0x20E3, 0xFE0F}  # ZWJ, keycap, emoji presentation selector


def _has_emoji(text: str) -> bool:
    for ch in text:
        cp = ord(ch)
        if (
            cp in _EMOJI_EXTRA
            or 0x1F000 <= cp <= 0x1FAFF
            or 0x2600 <= cp <= 0x27BF
            or unicodedata.category(ch) in ("So", "Cs")
        ):
            return True
    return False


def _rule(rule: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(rule, message, ctx)


def _text(limit: int, rule: str) -> AfterValidator:
    """A non-blank text of at most ``limit`` characters; ``rule`` names the violation."""

    def check(value: str) -> str:
        if not value.strip():
            raise _rule("empty_string", "must not be empty or blank")
        _unicode(value)
        if len(value) > limit:
            raise _rule(
                rule, "must be at most {limit} characters (got {n})", limit=limit, n=len(value)
            )
        return value

    return AfterValidator(check)


HeaderText = Annotated[str, _text(HEADER_MAX, "header_too_long")]
FooterText = Annotated[str, _text(FOOTER_MAX, "footer_too_long")]
BodyText = Annotated[str, _text(BODY_MAX, "body_too_long")]
CtaText = Annotated[str, _text(CTA_MAX, "flow_cta_too_long")]
ButtonText = Annotated[str, _text(BUTTON_TEXT_MAX, "button_text_too_long")]


MAX_DATA_DEPTH = 64
"""How deep ``data`` may nest: Flow screen data is a few levels; JSON encoders (ours and
the providers') recurse, so an unbounded depth would fail at send time instead of here."""


def _label(key: Any) -> str:
    """A key as it may appear in an error message (which must itself be valid Unicode)."""
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8")


def _lone_surrogate(value: Any, path: str) -> str | None:
    """The path of the first text in ``value`` that is not valid Unicode (a lone
    surrogate such as ``"\\ud800"``, which JSON input can carry), else None. Raises the
    ``data_not_json`` rule for what JSON cannot say (NaN, Infinity, objects) and
    ``data_too_deep`` past :data:`MAX_DATA_DEPTH` levels."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if not encodable(item):
                return where
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise _rule("data_not_json", "{where} is {value}: JSON has no such number",
                        where=where, value=item)  # fmt: skip
        if depth >= MAX_DATA_DEPTH and isinstance(item, dict | list | tuple):
            raise _rule("data_too_deep", "nests deeper than {n} levels", n=MAX_DATA_DEPTH)
        if isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, f"{where} key", depth + 1))
                stack.append((child, f"{where}.{_label(key)}", depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
        elif item is not None and not isinstance(item, bool | int | float):
            raise _rule("data_not_json", "{where} is a {kind}: not a JSON value",
                        where=where, kind=type(item).__name__)  # fmt: skip
    return None


def _unicode(value: Any, path: str = "") -> None:
    """Refuse text no adapter can encode: providers take UTF-8. Runs inside validators
    the fields have anyway, so valid ASCII messages pay one ``isascii()``."""
    if type(value) is str and value.isascii():
        return
    where = _lone_surrogate(value, path)
    if where is not None:
        raise _rule(
            "invalid_unicode",
            "{where} contains a lone surrogate: not valid Unicode text",
            where=where or "the text",
        )


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class _Rare(_Frozen):
    """Values built once per template or option set: every text checked in one place."""

    @model_validator(mode="after")
    def _valid_unicode(self) -> Self:
        for name, value in self.__dict__.items():
            if value is None or isinstance(value, BaseModel):
                continue  # a nested model checked itself
            if isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
                continue
            _unicode(value, name)
        return self


class TemplateMedia(_Rare):
    """A template's media header: an image, video or document by ``link`` or media ``id``."""

    kind: Literal["image", "video", "document"]
    link: str | None = Field(default=None, pattern=r"^https://\S+$", max_length=2048)
    id: str | None = Field(default=None, min_length=1, max_length=128)
    filename: str | None = Field(default=None, min_length=1, max_length=240)
    """A document's file name, shown to the user (documents only)."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.link is None) == (self.id is None):
            raise _rule("media_source", "exactly one of link and id is required")
        if self.filename is not None and self.kind != "document":
            raise _rule("media_filename", "filename is for a document header only")
        return self


class TemplateButton(_Rare):
    """The parameter of another button of the template, beside the FLOW button.

    ``quick_reply``: ``value`` is the payload sent back; ``url``: the dynamic suffix of the
    URL; ``copy_code``: the code copied.
    """

    index: int = Field(ge=0, le=9)
    kind: Literal["quick_reply", "url", "copy_code"]
    value: str = Field(min_length=1, max_length=2000)


_NAMED = re.compile(r"^[a-z_][a-z0-9_]*$")


class TemplateRef(_Rare):
    """An approved template with a FLOW button, for business-initiated sends.

    ``body_parameters``: positional (``("Ana", "10:30")`` for ``{{1}}``, ``{{2}}``) or
    named (``{"first_name": "Ana"}`` for ``{{first_name}}``). The header takes text
    parameters or one media; ``buttons`` fill the other buttons' parameters.
    """

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15, pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+)?$")
    button_index: int = Field(default=0, ge=0, le=9)
    body_parameters: tuple[str, ...] | dict[str, str] = ()
    header_parameters: tuple[str, ...] = ()
    header_media: TemplateMedia | None = None
    buttons: tuple[TemplateButton, ...] = ()

    @field_validator("body_parameters", "header_parameters")
    @classmethod
    def _params_not_blank(
        cls, v: tuple[str, ...] | dict[str, str], info: ValidationInfo
    ) -> tuple[str, ...] | dict[str, str]:
        items = v.items() if isinstance(v, dict) else enumerate(v)
        for key, p in items:
            if isinstance(key, str) and not _NAMED.match(key):
                raise _rule(
                    "parameter_name",
                    "{field}: '{key}' is not a parameter name (lower case, digits, _)",
                    field=info.field_name, key=key,
                )  # fmt: skip
            if not p.strip():
                raise _rule(
                    "empty_string", "{field}[{i}] must not be blank", field=info.field_name, i=key
                )
        return v

    @model_validator(mode="after")
    def _components(self) -> Self:
        if self.header_parameters and self.header_media is not None:
            raise _rule("header_both", "a header has text parameters or a media, not both")
        indexes = [b.index for b in self.buttons]
        if len(set(indexes)) != len(indexes):
            raise _rule("button_repeated", "two parameters for the same button index")
        if self.button_index in indexes:
            raise _rule("button_is_flow", "button {i} is the FLOW button", i=self.button_index)
        return self

    @property
    def named(self) -> bool:
        """Body parameters are named (``{{first_name}}``), not positional."""
        return isinstance(self.body_parameters, dict)


class ProviderOptions(_Rare):
    """One provider's extras for a message, defined by that provider's adapter module so
    that this model names no provider.

    Subclasses set ``provider`` and declare their fields; they are validated when built
    and refuse unknown keys like every model here. Other providers ignore them.
    """

    provider: ClassVar[str]


_INTERACTIVE_ONLY = ("flow_cta", "screen", "header", "body", "footer", "mode", "flow_action")


class FlowMessage(_Frozen):
    """One Flow to one recipient: an interactive message, or a template with a FLOW button.

    Interactive (inside the 24 h window): exactly one of ``flow_id``/``flow_name``, plus
    ``flow_cta`` and ``body``. Template (business-initiated): ``template`` set, no Flow
    identity (the template holds it); ``flow_token`` and ``data`` feed the button.
    """

    to: str
    """A phone number (E.164, ``+`` optional) or a business-scoped user id (BSUID)."""
    flow_id: str | None = None
    flow_name: str | None = None
    flow_cta: CtaText | None = None
    flow_token: str | None = None
    flow_action: FlowAction = "navigate"
    screen: str | None = None
    data: dict[str, Any] | None = None
    mode: FlowMode = "published"
    header: HeaderText | None = None
    body: BodyText | None = None
    footer: FooterText | None = None
    template: TemplateRef | None = None
    sender: str | None = None
    options: tuple[ProviderOptions, ...] = ()
    """Provider-specific extras, at most one object per provider (each adapter module
    defines its own :class:`ProviderOptions` subclass)."""

    @field_validator("to")
    @classmethod
    def _check_to(cls, v: str) -> str:
        if recipient_kind(v) != "phone":  # a well-formed BSUID or parent BSUID
            return v
        if not _PHONE.fullmatch(v):
            raise _rule(
                "invalid_recipient",
                "must be a phone number in E.164 ('+' optional, digits only) or a "
                "business-scoped user id ('US.13491208655302741918', 'US.ENT.…')",
            )
        problem = phone_problem(v)
        if problem is not None:
            raise _rule(
                "invalid_phone",
                "{to} is not a possible phone number ({problem}): give the country calling "
                "code and the full number",
                to=v,
                problem=problem.replace("_", " "),
            )
        return v

    @field_validator("flow_id", "flow_name", "flow_token", "screen", "sender")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None:
            if not v.strip():
                raise _rule("empty_string", "must not be empty or blank")
            _unicode(v)
        return v

    @field_validator("options", mode="before")
    @classmethod
    def _check_options(cls, v: Any) -> Any:
        items = (v,) if isinstance(v, ProviderOptions) else v
        if not isinstance(items, list | tuple):
            return v  # pydantic names the type problem
        seen: set[str] = set()
        for i, item in enumerate(items):
            if not isinstance(item, ProviderOptions) or type(item) is ProviderOptions:
                raise _rule(
                    "options_type",
                    "options[{i}] must be an options object from a provider's adapter "
                    "module, not {kind}",
                    i=i,
                    kind=type(item).__name__,
                )
            if item.provider in seen:
                raise _rule("options_repeated", "two options objects for {p}", p=item.provider)
            seen.add(item.provider)
        return tuple(items)

    @field_validator("flow_cta")
    @classmethod
    def _check_cta(cls, v: str | None) -> str | None:
        if v is not None and _has_emoji(v):
            raise _rule("flow_cta_emoji", "must not contain emoji")
        return v

    @field_validator("data")
    @classmethod
    def _check_data(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            if not v:
                raise _rule("data_empty", "must be a non-empty object when given (or omitted)")
            _unicode(v, "data")
        return v

    @model_validator(mode="after")
    def _check_kind(self) -> Self:
        if self.template is not None:
            self._check_template_send()
        else:
            self._check_interactive()
        return self

    def _check_template_send(self) -> None:
        if self.flow_id is not None or self.flow_name is not None:
            field = "flow_id" if self.flow_id is not None else "flow_name"
            raise _rule(
                "template_flow_identity",
                "{field} is not allowed in a template send: the template's FLOW button "
                "already names the Flow",
                field=field,
            )
        used = [f for f in _INTERACTIVE_ONLY if f in self.model_fields_set]
        if used:
            raise _rule(
                "template_interactive_field",
                "{fields} only apply to interactive Flow messages, not to a template send "
                "(the approved template defines the button, text and first screen)",
                fields=", ".join(used),
            )

    def _check_interactive(self) -> None:
        if (self.flow_id is None) == (self.flow_name is None):
            raise _rule(
                "flow_identity",
                "exactly one of flow_id or flow_name is required for an interactive message",
            )
        if self.flow_cta is None:
            raise _rule("flow_cta_missing", "flow_cta is required for an interactive message")
        if self.body is None:
            raise _rule("body_missing", "body is required for an interactive message")
        if self.flow_action == "navigate" and self.screen is None:
            raise _rule("screen_missing", "screen is required when flow_action is 'navigate'")
        if self.flow_action == "data_exchange":
            if self.screen is not None:
                raise _rule(
                    "screen_forbidden",
                    "screen must be omitted when flow_action is 'data_exchange' "
                    "(the endpoint chooses the first screen)",
                )
            if self.data is not None:
                raise _rule(
                    "data_forbidden",
                    "data must be omitted when flow_action is 'data_exchange' "
                    "(the endpoint provides it on INIT)",
                )

    @property
    def is_template(self) -> bool:
        return self.template is not None

    def options_for(self, provider: str) -> ProviderOptions | None:
        """The extras given for ``provider``, if any."""
        return next((o for o in self.options if o.provider == provider), None)

    @property  # not cached: model_copy(update={"to": …}) would copy a stale value
    def recipient_kind(self) -> RecipientKind:
        """Whether ``to`` is a phone number, a BSUID (``user_id``) or a parent BSUID."""
        return recipient_kind(self.to)


class FlowTemplate(_Rare):
    """A message template with one FLOW button, for ``create_template``."""

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(min_length=2, max_length=15, pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+)?$")
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    body: BodyText
    body_examples: tuple[str, ...] = ()
    button_text: ButtonText
    flow_id: str | None = None
    flow_name: str | None = None
    flow_json: str | None = None
    flow_action: FlowAction = "navigate"
    navigate_screen: str | None = None
    header: HeaderText | None = None
    footer: FooterText | None = None

    @field_validator("category", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("flow_json", mode="before")
    @classmethod
    def _flow_json_text(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        if isinstance(v, str):
            try:
                parsed = json.loads(v)
            except ValueError as exc:
                raise _rule("flow_json_invalid", "is not valid JSON: {err}", err=str(exc)) from None
            if not isinstance(parsed, dict):
                raise _rule("flow_json_invalid", "must encode a JSON object (the Flow JSON)")
        return v

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        given = [f for f in ("flow_id", "flow_name", "flow_json") if getattr(self, f) is not None]
        if len(given) != 1:
            raise _rule(
                "flow_identity",
                "exactly one of flow_id, flow_name or flow_json is required (got {given})",
                given=", ".join(given) or "none",
            )
        if self.flow_action == "navigate" and self.navigate_screen is None:
            raise _rule(
                "navigate_screen_missing",
                "navigate_screen is required when flow_action is navigate",
            )
        if self.flow_action == "data_exchange" and self.navigate_screen is not None:
            raise _rule(
                "navigate_screen_forbidden",
                "navigate_screen must be omitted when flow_action is data_exchange",
            )
        placeholders = {int(n) for n in _PLACEHOLDER.findall(self.body)}
        if self.body_examples and len(self.body_examples) != len(placeholders):
            raise _rule(
                "body_examples_mismatch",
                "body has {p} placeholder(s) but {e} body_examples were given",
                p=len(placeholders),
                e=len(self.body_examples),
            )
        if placeholders and not self.body_examples:
            raise _rule(
                "body_examples_missing",
                "body uses placeholders {{{{n}}}}: give one body_examples entry for each",
            )
        return self
