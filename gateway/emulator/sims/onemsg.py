"""Simulated 1msg.io: ``/{instance}/{method}?token=…``, HTTP 200 with ``sent:false`` on
failure, acks and messages posted to a webhook URL carrying its own token; Flows,
templates and the public key (``/flows``…) in :mod:`._onemsg_flows`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gateway.emulator.base import (
    Invalid,
    Reply,
    Sent,
    Sim,
    SimRequest,
    WebhookCall,
    check_spec,
    json_response,
)
from gateway.emulator.failures import FailureSite
from gateway.emulator.limits import LimitKind, Limits, LimitSite
from gateway.emulator.meta_shaped import PAIR_DETAILS
from gateway.emulator.sims._onemsg_flows import OneMsgManagement
from gateway.emulator.users import SimUser, Users, is_bsuid
from gateway.http import HttpResponse

_ACK = {"sent": "sent", "delivered": "delivered", "read": "viewed"}
_WINDOW_TEXT = (
    "Re-engagement message: Message failed to send because more than 24 hours have passed "
    "since the customer last replied to this number."
)

# -- what 1msg's spec leaves loose -----------------------------------------------------
# Each request body is first checked against our extract of 1msg's spec
# (gateway/emulator/specs/onemsg.json: keys, types, enums, required sets). The rules below
# are the ones that spec does not state, each saying why we still check it. They ignore
# unknown keys: refusing those is the spec's job.

FLOW_CTA_MAX = 30
"""1msg's spec gives flowCta no maxLength; 1msg relays to Meta's Cloud API, whose v23.0
spec advises 30. Unconfirmed for 1msg: the same number as the adapter's flow_cta_max
(a sender may lower it with flow_cta_max_length)."""
_PHONE_DIGITS = re.compile(r"^[0-9]{6,15}$")  # 1msg's own client: 6 to 15 digits
# 1msg's own client's chat suffixes: phone@c.us, a BSUID (or a username's id) @lid,
# name@username, a group @g.us, @broadcast (github.com/1msg/1msg-n8n-nodes
# utils/recipient.ts CHAT_SUFFIXES)
_CHAT_ID = re.compile(r"^[^@\s]+@(c\.us|lid|username|g\.us|broadcast)$")

NonEmpty = Annotated[str, Field(min_length=1)]
Body = Annotated[str, Field(min_length=1, max_length=1024)]  # Meta's interactive body
Short = Annotated[str, Field(min_length=1, max_length=60)]  # Meta's header / footer text


def _bad(message: str) -> PydanticCustomError:
    return PydanticCustomError("value_error", message)


class _Rules(BaseModel):
    model_config = ConfigDict(extra="ignore")


_RECIPIENTS = ("phone", "chatId", "bsuid")
_TEXT_HEADER = {"type", "text"}


def _recipient(doc: Mapping[str, Any]) -> Invalid | None:
    """The spec is silent on how many recipients: its descriptions say "Required if chatId
    is not set" and "Use phone or chatId", with no ``oneOf``. 1msg delivers to one."""
    given = [k for k in _RECIPIENTS if k in doc]
    if not given:
        return Invalid("phone", "one of phone, chatId or bsuid is required", True)
    if len(given) > 1:
        return Invalid(given[1], f"give one of phone, chatId or bsuid, not {given[0]} too", False)
    return None


class _Recipient(_Rules):
    """The spec gives phones and chat ids no shape."""

    phone: int | str | None = None
    chatId: str | None = None
    bsuid: str | None = None  # 1msg's own client's field (x-overrides in the extract)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: int | str | None) -> int | str | None:
        if value is not None and not _PHONE_DIGITS.match(str(value)):
            raise _bad("must be a phone number with its country code (6 to 15 digits)")
        return value

    @field_validator("chatId")
    @classmethod
    def _chat_id(cls, value: str | None) -> str | None:
        if value is not None and not _CHAT_ID.match(value):
            raise _bad("must be phone@c.us, <BSUID or user id>@lid or a group @g.us")
        return value

    @field_validator("bsuid")
    @classmethod
    def _bsuid(cls, value: str | None) -> str | None:
        if value is not None and not is_bsuid(value):
            raise _bad("must be a business-scoped user id")
        return value


class _Payload(_Rules):
    """flowActionPayload: the spec types it ``object`` and says in words "screen is
    required" for navigate and "if data is provided, it must be a non-empty object";
    1msg relays it as Meta's flow_action_payload, which has these two keys only."""

    model_config = ConfigDict(extra="forbid")
    screen: NonEmpty | None = None
    data: dict[str, Any] | None = None

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not value:
            raise _bad("must be a non-empty object")
        return value


class _SendFlowRules(_Recipient):
    """sendFlow beyond the spec: Meta's lengths (1msg relays to the Cloud API), non-empty
    ids, flowMessageVersion "3" (Meta's only version), a screen to navigate to."""

    body: Body
    header: str | dict[str, Any] | None = None
    footer: Short | None = None
    flowId: NonEmpty
    flowToken: NonEmpty
    flowCta: Annotated[str, Field(min_length=1, max_length=FLOW_CTA_MAX)]
    flowAction: str = "navigate"
    flowActionPayload: _Payload | None = None
    flowActionScreen: NonEmpty | None = None
    flowActionData: dict[str, Any] | None = None
    flowMessageVersion: Literal["3"] = "3"

    @field_validator("header")
    @classmethod
    def _header(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        # the spec: "string or text header object"; the object is Meta's text header
        text = value.get("text") if isinstance(value, dict) else value
        if isinstance(value, dict) and (value.get("type"), set(value)) != ("text", _TEXT_HEADER):
            raise _bad('a header object is a text header: type "text" and its text')
        if text is not None and not (isinstance(text, str) and 1 <= len(text) <= 60):
            raise _bad("the header text must have 1 to 60 characters")
        return value

    @field_validator("flowActionData")
    @classmethod
    def _data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not value:  # the shortcut for flowActionPayload.data
            raise _bad("must be a non-empty object")
        return value


def _screen(doc: Mapping[str, Any]) -> Invalid | None:
    """The spec, in words only: flowActionPayload is "Required for flowAction=navigate
    (screen is required). Ignored for data_exchange."; flowActionScreen is its shortcut."""
    payload = doc.get("flowActionPayload") or {}
    screen = doc.get("flowActionScreen") or payload.get("screen")
    if doc.get("flowAction", "navigate") == "navigate" and not screen:
        return Invalid("flowActionPayload.screen", "is required to navigate", True)
    return None


class _Language(_Rules):
    code: NonEmpty
    policy: Literal["deterministic"] = "deterministic"  # the spec: "Must be `deterministic`"


class _SendTemplateRules(_Recipient):
    """sendTemplate beyond the spec, which requires no key: the template, its namespace
    and language, as the same document requires them of sendOrderDetails (its wrapper of
    sendTemplate); params are checked where they feed a Flow (:func:`_flow_buttons`)."""

    template: NonEmpty
    namespace: NonEmpty
    language: _Language


class _FlowButton(_Rules):
    """addTemplate's FLOW button, as Meta's message_templates takes it."""

    type: str
    text: Annotated[str, Field(min_length=1, max_length=25)] | None = None
    flow_id: NonEmpty | None = None
    flow_name: NonEmpty | None = None
    flow_json: NonEmpty | None = None
    flow_action: Literal["navigate", "data_exchange"] = "navigate"

    @model_validator(mode="after")
    def _one_flow(self) -> Self:
        if self.type != "FLOW":
            return self
        if self.text is None:
            raise PydanticCustomError("missing", "a FLOW button needs its text")
        if sum(x is not None for x in (self.flow_id, self.flow_name, self.flow_json)) != 1:
            raise _bad("exactly one of flow_id, flow_name or flow_json is required")
        return self


class _TemplateComponent(_Rules):
    type: Annotated[str, Field(pattern=r"(?i)^(header|body|footer|buttons)$")]
    buttons: list[_FlowButton] | None = None


class _AddTemplateRules(_Rules):
    """addTemplate beyond the spec, which requires no key and types every field a plain
    string: 1msg passes the body to Meta's message_templates (reference/providers.md
    §5.4), which requires all four and names templates and categories this way."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,512}$")]
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    language: NonEmpty
    components: list[_TemplateComponent] = Field(min_length=1)


_OPERATIONS: Mapping[str, tuple[str, type[_Rules]]] = {
    "sendFlow": ("send_flow", _SendFlowRules),
    "sendTemplate": ("send_template", _SendTemplateRules),
    "addTemplate": ("add_template", _AddTemplateRules),
}


def _flow_buttons(params: list[dict[str, Any]]) -> Invalid | None:
    """The spec takes params as free objects ("Component object"). A Flow button's are
    Meta's: an index, then ``{"type": "action", "action": {flow_token?,
    flow_action_data?}}`` with non-empty data (1msg's "Sending WhatsApp Flow" page)."""
    for i, component in enumerate(params):
        if component.get("type") != "button" or component.get("sub_type") != "flow":
            continue
        where = f"params.{i}"
        index = component.get("index")
        # Meta's Cloud API takes a string; 1msg's own sendTemplate example an integer
        if not re.fullmatch(r"[0-9]", str(index)) or isinstance(index, bool):
            return Invalid(f"{where}.index", "must be the button's position, 0 to 9", index is None)
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list):
            return Invalid(f"{where}.parameters", "must be an array", False)
        for k, p in enumerate(parameters):
            at = f"{where}.parameters.{k}"
            action = p.get("action") if isinstance(p, dict) else None
            if not isinstance(p, dict) or p.get("type") != "action" or not isinstance(action, dict):
                return Invalid(at, 'a flow button takes {"type": "action", "action": {…}}', False)
            extra = sorted(set(action) - {"flow_token", "flow_action_data"})
            if extra:
                return Invalid(f"{at}.action.{extra[0]}", "unexpected key", False)
            token, data = action.get("flow_token"), action.get("flow_action_data")
            if token is not None and not (isinstance(token, str) and token):
                return Invalid(f"{at}.action.flow_token", "must be a non-empty string", False)
            if data is not None and not (isinstance(data, dict) and data):
                return Invalid(f"{at}.action.flow_action_data", "must be a non-empty object", False)
    return None


def check_request(method: str, raw: bytes) -> dict[str, Any] | Invalid:
    """A request body as 1msg would take it: the spec first, then the hand rules above."""
    operation, rules = _OPERATIONS[method]
    doc = check_spec("onemsg", operation, raw)
    if isinstance(doc, Invalid):
        return doc
    problem = None if method == "addTemplate" else _recipient(doc)
    if problem is not None:
        return problem
    try:
        rules.model_validate(doc)
    except ValidationError as exc:
        return Invalid.of(exc)
    if method == "sendFlow":
        return _screen(doc) or doc
    if method == "sendTemplate":
        return _flow_buttons(doc.get("params", [])) or doc
    return doc


def _to(body: Mapping[str, Any]) -> str:
    """The one recipient a send names (checked by :func:`_recipient`)."""
    return str(body.get("phone") or body.get("chatId") or body.get("bsuid"))


def _chat(sent: Sent) -> str:
    """``<digits>@c.us`` while the phone is visible, else ``<BSUID>@lid``."""
    user = sent.user
    if user is None:  # a chat id as sent (a username's @lid, a group), else a phone's
        return sent.to if "@" in sent.to else f"{sent.to.lstrip('+')}@c.us"
    if user.phone and user.phone_visible(sent.to_phone):
        return f"{user.phone}@c.us"
    return f"{user.user_id}@lid"


class OneMsgSim(Sim):
    """1msg.io: ``/{instance}/{method}?token=…``, HTTP 200 with ``sent:false`` on failure."""

    name = "onemsg"
    credentials = ("instance_id", "token")
    default_limits: ClassVar[Limits] = Limits(throughput=80.0, pair_interval=6.0, pair_burst=10)
    limit_sites: ClassVar[Mapping[LimitKind, LimitSite]] = {
        "throughput": LimitSite(
            "429",
            '429 `{"error": "Too many requests"}` + `Retry-After` (1msg\'s own throttling)',
            "reference/providers.md §5.5 (429 = per-channel throttling); Meta's 80 msg/s "
            "per number behind it (management.md §7.1)",
            "likely",
        ),
        "pair": LimitSite(
            "131056",
            '429 with Meta\'s error nested: `{"error": {"message": "(#131056) …", '
            '"code": 131056}}` + `Retry-After`',
            "reference/providers.md §5.5 (upstream failures nest Meta's error)",
            "unconfirmed",
        ),
    }
    failure_sites: ClassVar[Mapping[str, FailureSite]] = {
        "window_closed": FailureSite(
            "response",
            '400 `{"message": "Dialog window is closed"}` (1msg checks the window itself)',
            "1msg's own client (github.com/1msg/1msg-n8n-nodes utils/errors.ts, "
            "test/waba.test.js: 400 'Dialog window is closed'); 1msg OpenAPI: sendFlow "
            "'Only if the dialogue has an Open Session'",
            "likely",
            (
                "webhook",
                '200 `sent: true` + id, then one `ack` with status "failed" and an `error` '
                'text "Re-engagement message: …" (should Meta refuse it later; realworld '
                "onemsg/wh_ack_failed_experiment_ebor94.json shows failed acks carry Meta's "
                "words)",
            ),
        ),
        "rate_limit": FailureSite(
            "response",
            '429 `{"error"}` + `Retry-After`',
            "reference/providers.md §5.5",
            "confirmed",
        ),
        "server_error": FailureSite(
            "response",
            '500 `{"error"}`',
            "reference/providers.md §5.2, §5.5 (500 `ErrorResponse`)",
            "confirmed",
        ),
    }

    def __init__(
        self,
        account: Mapping[str, Any],
        clock: Callable[[], float] = time.time,
        users: Users | None = None,
    ) -> None:
        super().__init__(account, clock, users)
        self.manage = OneMsgManagement(self.clock, self.secret("waba_account_id") or "1msg-waba")
        """Flows, templates and the public key; ``manage.not_implemented`` picks the
        routes that answer 501 (1msg documents it for create, list, assets, metadata)."""

    def handle(self, req: SimRequest) -> Reply:
        method, path, query, body = req.method, req.path, req.query, req.body
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != self.secret("instance_id"):
            return Reply(json_response(404, {"error": "Instance not found"}))
        if query.get("token") != self.secret("token"):
            return Reply(
                json_response(
                    401, {"error": "Wrong token. Please provide token as a GET parameter."}
                )
            )
        managed = self.manage.handle(method, parts[1:], query, body)
        if managed is not None:
            self.public_key = self.manage.public_key
            return Reply(managed)
        if method != "POST" or len(parts) != 2:
            return Reply(json_response(404, {"error": f"Unknown method {'/'.join(parts[1:])}"}))
        if parts[1] not in _OPERATIONS:
            return Reply(json_response(404, {"error": f"Unknown method {parts[1]}"}))
        fault = self.take_fault()

        def answer() -> Reply:
            checked = check_request(parts[1], body)
            if isinstance(checked, Invalid):
                return Reply(json_response(400, {"error": f"Validation failed: {checked}"}))
            if parts[1] == "addTemplate":
                name, language = checked["name"], checked["language"]
                added = self.manage.templates.add(
                    name, language, checked["category"], checked["components"], "PENDING"
                )
                tpl = {k: added[k] for k in ("id", "status", "category")}
                return Reply(json_response(200, tpl))
            to = _to(checked)
            user = self.user_for(to)
            refused = self.limit_send(self.secret("instance_id"), to, user, fault)
            if refused is not None:
                return Reply(refused)
            if self.fails_now(fault):
                # 1msg checks the window itself; its own client expects these words
                return Reply(json_response(400, {"message": "Dialog window is closed"}))
            return Reply(self._sent(checked, parts[1], self.fails_later(fault), user))

        return self.apply_transport_fault(fault, answer)

    def _sent(
        self, body: dict[str, Any], method: str, closed: bool, user: SimUser | None
    ) -> HttpResponse:
        to = _to(body)
        kind: Literal["interactive", "template"]
        if method == "sendFlow":
            kind, token = "interactive", body.get("flowToken")
        else:
            kind = "template"
            token = next(
                (
                    p["action"].get("flow_token")
                    for c in body.get("params", [])
                    for p in c.get("parameters", [])
                    if p.get("type") == "action"
                ),
                None,
            )
        message_id = self.next_id("gBGGemu")
        self.sent[message_id] = Sent(
            self.name, message_id, to, kind, token, body,
            window_closed=closed, user=user,
        )  # fmt: skip
        return json_response(
            200,
            {
                "sent": True,
                "id": message_id,
                "message": f"Sent to {to}",
                "description": "Message has been sent to the provider",
            },
        )

    def rate_limited(self, retry_after: int) -> HttpResponse:
        return json_response(429, {"error": "Too many requests"}, {"retry-after": str(retry_after)})

    def pair_limited(self, retry_after: int) -> HttpResponse:
        error = {
            "message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "code": 131056,
            "error_data": {"details": PAIR_DETAILS},
        }
        return json_response(429, {"error": error}, {"retry-after": str(retry_after)})

    def number_of(self, account: Mapping[str, Any]) -> str | None:
        return str(account.get("instance_id")) if self.same_credentials(account) else None

    def server_error(self) -> HttpResponse:
        return json_response(500, {"error": "Internal server error"})

    def callbacks(
        self, sent: Sent, answers: Mapping[str, Any] | None, statuses: tuple[str, ...]
    ) -> list[WebhookCall]:
        chat, instance = _chat(sent), self.secret("instance_id")
        who = {"chatId": chat}
        if sent.user is not None:  # as 1msg's own acks carry it
            who["bsuid"] = sent.user.user_id
        if sent.window_closed:  # the one and only outcome of that message
            failed: dict[str, Any] = {"id": sent.message_id, "status": "failed"}
            failed["error"] = _WINDOW_TEXT
            if sent.user and sent.user.phone and sent.user.phone_visible(sent.to_phone):
                failed["phone"] = sent.user.phone
            return self._calls([{"instanceId": instance, "ack": [failed | who]}])
        docs: list[dict[str, Any]] = [
            {
                "instanceId": instance,
                "ack": [{"id": sent.message_id, **who, "status": _ACK[s]}],
            }
            for s in statuses
        ]
        if answers is not None:
            response = (
                {"flow_token": sent.flow_token, **answers} if sent.flow_token else dict(answers)
            )
            message: dict[str, Any] = {
                "id": self.next_id("gBGGemuIN"),
                "body": json.dumps(response),
                "fromMe": False,
                "self": 0,
                "isForwarded": False,
                "author": chat,
                "time": int(self.clock()),
                "chatId": chat,
                "type": "interactive",
                "senderName": sent.user.name if sent.user else "Emulated User",
                "caption": None,
                "quotedMsgId": sent.message_id,
            }
            if sent.user is not None:  # as in 1msg's captured inbound messages
                message["authorBsuid"] = sent.user.user_id
            docs.append({"instanceId": instance, "messages": [message]})
        return self._calls(docs)

    def flow_status_calls(self) -> list[WebhookCall]:
        """The ``flows`` FLOW_STATUS_CHANGE hooks for the status changes since the last
        call, in order: Meta's envelope as 1msg forwards it with ``rawHooks`` on (its
        channel setting; that 1msg forwards the ``flows`` field is unconfirmed)."""
        instance = self.secret("instance_id")
        return self._calls([{"instanceId": instance, **d} for d in self.manage.status_documents()])

    def _calls(self, docs: list[dict[str, Any]]) -> list[WebhookCall]:
        url = self.webhook_url or ""
        token = self.secret("webhook_token")
        if token:  # 1msg cannot sign: the secret rides in the webhook URL
            url += ("&" if "?" in url else "?") + urlencode({"token": token})
        return [
            WebhookCall(
                self.name, url, json.dumps(doc).encode(), {"content-type": "application/json"}
            )
            for doc in docs
        ]


SIMULATOR = OneMsgSim
