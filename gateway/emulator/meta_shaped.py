"""What the Meta-speaking simulators share: Cloud API payloads, answers and callbacks.

Meta's Cloud API, 360dialog Cloud and 360dialog On-Premise take the same message
shapes and answer and call back in the same words; each provider's module
(``sims/meta_cloud.py``, ``sims/dialog360_cloud.py``, ``sims/dialog360_onprem.py``)
subclasses :class:`MetaShapedSim` with its own authentication, paths, error shapes and
webhook signing.

Request bodies are checked against our extract of Meta's published OpenAPI (v23.0,
``specs/meta_cloud.json``) first, then by the few hand rules below that the
specification leaves loose (each says so). 360dialog Cloud adds its own envelope
(``specs/dialog360_cloud.json``); On-Premise has no machine-readable spec and keeps
hand-written models (``schemas.OnPremMessage``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl

from gateway.emulator import meta_hooks as hooks
from gateway.emulator import specs
from gateway.emulator.base import (
    Fault,
    Invalid,
    Reply,
    Sent,
    Sim,
    SimRequest,
    WebhookCall,
    check_spec,
    json_response,
)
from gateway.emulator.limits import LimitKind, Limits, LimitSite
from gateway.emulator.users import IdentityChange, SimUser, digits, is_bsuid, is_phone
from gateway.http import HttpResponse

PEM_HEADER = "-----BEGIN PUBLIC KEY-----"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"
THROTTLED = 429
"""The HTTP status of Meta's throttling errors (130429, 131056) here, as the injected
``rate_limit`` fault answers: third-party pages disagree (400, 403, 429)."""
PAIR_DETAILS = (
    "Message failed to send because there were too many messages sent from this phone "
    "number to the same phone number in a short period of time."
)


def graph_error(
    status: int, code: int, message: str, details: str = "", **extra: Any
) -> HttpResponse:
    error: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AEmulatorTrace",
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return json_response(status, {"error": error}, extra.get("headers"))


def _token_of(body: dict[str, Any]) -> str | None:
    if body.get("type") == "interactive":
        token = body["interactive"]["action"]["parameters"].get("flow_token")
        return str(token) if token else None
    for comp in body["template"].get("components", []):
        for param in comp.get("parameters", []):
            token = (
                param.get("action", {}).get("flow_token") if param.get("type") == "action" else None
            )
            if token:
                return str(token)
    return None


def _fields(content_type: str, body: bytes) -> dict[str, Any] | Invalid:
    """The fields of a form (urlencoded or multipart) or JSON body."""
    media = content_type.split(";")[0].strip().lower()
    if media == FORM:
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if media == MULTIPART:
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        doc = BytesParser(policy=HTTP).parsebytes(head + body)
        assert isinstance(doc, EmailMessage)  # the HTTP policy builds EmailMessage
        if not doc.is_multipart():
            return Invalid("body", "is not a multipart/form-data body", False)
        fields: dict[str, Any] = {}
        for part in doc.iter_parts():
            assert isinstance(part, EmailMessage)
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                fields[name] = part.get_content()
        return fields
    try:
        doc_json = json.loads(body)
    except ValueError:
        return Invalid("body", "is not JSON", False)
    return doc_json if isinstance(doc_json, dict) else Invalid("body", "must be an object", False)


def cloud_rules(body: dict[str, Any]) -> dict[str, Any] | Invalid:
    """What Meta refuses in a spec-valid Cloud API message: the rules the spec leaves loose."""
    to, recipient = body.get("to"), body.get("recipient")
    if to is None and recipient is None:
        # the spec requires `to`; since BSUIDs (2026) `recipient` may stand in for it, so
        # the extract requires neither and this rule requires one.
        return Invalid("to", "one of `to` or `recipient` is required", True)
    if body["recipient_type"] == "group":
        # the spec: `to` is "group-id for group message"; it is silent on the id's shape.
        if to is None:
            return Invalid("to", "a group message names the group id in `to`", True)
    elif to is not None:
        # the spec is silent on the shape ("The recipient's phone number for individual
        # messages"); Meta refuses a BSUID there since Feb 2026 (131009).
        if is_bsuid(to):
            return Invalid(
                "to", "a business-scoped user id cannot go in `to` (use `recipient`)", False
            )
        if not is_phone(to):
            return Invalid("to", "must be a phone number", False)
    if recipient is not None and not is_bsuid(recipient):
        # not in the v23.0 spec at all (Meta's business-scoped user ids page)
        return Invalid("recipient", "must be a business-scoped user id", False)
    problem = _flow_rules(body["interactive"]) if body["type"] == "interactive" else None
    return body if problem is None else problem


def _flow_rules(interactive: dict[str, Any]) -> Invalid | None:
    header = interactive.get("header")
    if header is not None and header["type"] not in header:
        # the spec lists text/image/document/video side by side; Meta needs the one named
        kind = header["type"]
        return Invalid(f"interactive.header.{kind}", f"is required for a {kind} header", True)
    params = interactive["action"]["parameters"]
    where = "interactive.action.parameters.flow_action_payload"
    payload = params.get("flow_action_payload")
    if payload is not None and params.get("flow_action") == "data_exchange":
        # the spec is silent; Meta's Flow message reference: "Required if flow_action is
        # navigate. Should be omitted otherwise."
        return Invalid(where, "flow_action_payload must be omitted for data_exchange", False)
    if payload is not None and "data" in payload and not payload["data"]:
        # the spec says only "object"; Meta's reference: "a non-empty object"
        return Invalid(f"{where}.data", "data must be a non-empty object", False)
    return None


class MetaShapedSim(Sim):
    """A provider speaking Meta's payloads; subclasses say how it authenticates, where
    its operations live and how its callbacks are signed."""

    public_key_spec: ClassVar[str] = "meta_cloud"
    """Whose extract checks a public-key upload (operation ``public_key``)."""
    public_key_media: ClassVar[tuple[str, ...]] = (FORM, MULTIPART)
    """Meta's spec declares multipart/form-data; its reference's sample request sends
    x-www-form-urlencoded (developers.facebook.com/docs/whatsapp/cloud-api/reference/
    whatsapp-business-encryption): both are documented, so both are taken."""
    id_prefix: ClassVar[str]
    default_limits: ClassVar[Limits] = Limits(throughput=80.0, pair_interval=6.0, pair_burst=10)
    limit_sites: ClassVar[Mapping[LimitKind, LimitSite]] = {
        "throughput": LimitSite(
            "130429",
            "429 Graph error 130429 + `Retry-After`",
            "reference/management.md §7.1; realworld meta_cloud/err_130429_metadocs.json",
            "confirmed",
        ),
        "pair": LimitSite(
            "131056",
            '429 Graph error 131056 "(Business Account, Consumer Account) pair rate limit '
            'hit" + `Retry-After`',
            "reference/management.md §7.2; realworld meta_cloud/err_131056_courier.json",
            "confirmed",
        ),
    }
    scoped: ClassVar[bool] = True  # webhooks carry business-scoped user ids (Cloud API, 2026)
    system_messages = True
    window_error: ClassVar[dict[str, Any]] = hooks.WINDOW_131047

    # -- what each provider decides ---------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> HttpResponse | None:
        """The refusal of a request with the wrong credentials, or None to go on."""
        raise NotImplementedError

    def operation(self, method: str, path: str) -> str | None:
        """``message``, ``template`` or ``public_key`` for a known path, else None."""
        raise NotImplementedError

    def sending_number(self, path: str) -> str:
        """The business number a message request sends from (its limits' key): the
        account's, where the path names none."""
        return self.secret("phone_number_id") or hooks.PHONE_NUMBER_ID

    def number_of(self, account: Mapping[str, Any]) -> str | None:
        # A 360dialog key names one number: the account's, as its webhooks report it.
        if not self.same_credentials(account):
            return None
        return str(account.get("phone_number_id") or hooks.PHONE_NUMBER_ID)

    def webhook(self, doc: dict[str, Any]) -> WebhookCall:
        """A callback carrying ``doc``, authenticated the provider's way."""
        raise NotImplementedError

    # -- requests --------------------------------------------------------------------

    def handle(self, req: SimRequest) -> Reply:
        method, path, headers, body = req.method, req.path, req.headers, req.body
        denied = self.authenticate(headers)
        if denied is not None:
            return Reply(denied)
        op = self.operation(method, path)
        if op is None:
            return Reply(self.not_found(path))
        if op == "public_key":
            return Reply(self.store_public_key(body, headers))
        fault = self.take_fault()
        if op == "template":
            return self.apply_transport_fault(fault, lambda: Reply(self.create_template(body)))
        number = self.sending_number(path)
        return self.apply_transport_fault(fault, lambda: Reply(self.send(body, fault, number)))

    def store_public_key(self, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """``business_public_key`` in one of the documented encodings (``public_key_media``)."""
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() not in self.public_key_media:
            expected = " or ".join(self.public_key_media)
            return self.invalid(Invalid("body", f"must be sent as {expected}", False))
        fields = _fields(content_type, body)
        if isinstance(fields, Invalid):
            return self.invalid(fields)
        problem = specs.check(self.public_key_spec, "public_key", fields)
        if problem is not None:
            return self.invalid(Invalid(problem.field, problem.problem, problem.missing))
        return self.keep_public_key(str(fields["business_public_key"]), "business_public_key")

    def keep_public_key(self, key: str, field: str) -> HttpResponse:
        # the spec is silent on the content: "The business public key in PEM format"
        if not key.strip().startswith(PEM_HEADER):
            return self.invalid(Invalid(field, "must be a PEM public key", False))
        self.public_key = key
        return json_response(200, {"success": True})

    def not_found(self, path: str) -> HttpResponse:
        return graph_error(400, 100, f"Unsupported post request. Object does not exist: {path}")

    def invalid(self, problem: Invalid) -> HttpResponse:
        code = (
            131008 if problem.missing else (100 if problem.problem == "unexpected key" else 131009)
        )
        title = "Required parameter is missing" if problem.missing else "Invalid parameter"
        return graph_error(400, code, title, str(problem))

    def rate_limited(self, retry_after: int) -> HttpResponse:
        return graph_error(
            THROTTLED,
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
            headers={"retry-after": str(retry_after)},
        )

    def pair_limited(self, retry_after: int) -> HttpResponse:
        return graph_error(
            THROTTLED,
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            PAIR_DETAILS,
            headers={"retry-after": str(retry_after)},
        )

    def server_error(self) -> HttpResponse:
        return graph_error(503, 2, "Service temporarily unavailable")

    def window_closed(self) -> HttpResponse:
        """The synchronous variant (``failure_locations["window_closed"] == "response"``)."""
        return graph_error(400, 131047, "Re-engagement message", hooks.WINDOW_DETAILS)

    def check_message(self, raw: bytes) -> dict[str, Any] | Invalid:
        """The body if Meta's spec and the rules it leaves loose accept it."""
        body = check_spec("meta_cloud", "message", raw)
        return body if isinstance(body, Invalid) else cloud_rules(body)

    def send(self, raw: bytes, fault: Fault | None, number: str) -> HttpResponse:
        """Accept a message from ``number`` or refuse it."""
        body = self.check_message(raw)
        if isinstance(body, Invalid):
            return self.invalid(body)
        to = str(body.get("to") or body["recipient"])  # both given: `to` wins, as at Meta
        user = self.user_for(to)
        refused = self.limit_send(number, to, user, fault)
        if refused is not None:
            return refused
        if self.fails_now(fault):
            return self.window_closed()
        message_id = self.next_id(self.id_prefix)
        kind: Literal["interactive", "template"] = (
            "template" if body["type"] == "template" else "interactive"
        )
        self.sent[message_id] = Sent(
            self.name, message_id, to, kind, _token_of(body), body,
            window_closed=self.fails_later(fault), user=user, number=number,
        )  # fmt: skip
        return self.accepted(message_id, to, kind)

    def accepted(self, message_id: str, to: str, kind: str) -> HttpResponse:
        message: dict[str, Any] = {"id": message_id}
        if kind == "template":
            message["message_status"] = "accepted"
        # wa_id answers a phone send, user_id a BSUID send (never both); a group id: input.
        contact: dict[str, Any] = {"input": to}
        if is_phone(to):
            contact["wa_id"] = digits(to)
        elif is_bsuid(to):
            contact["user_id"] = to
        return json_response(
            200, {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}
        )

    def create_template(self, raw: bytes) -> HttpResponse:
        # 360dialog's template creation takes Meta's body too (its prose docs).
        body = check_spec("meta_cloud", "template_create", raw)
        if isinstance(body, Invalid):
            return self.invalid(body)
        template_id = str(900_000_000 + len(self.sent) + 1)
        return json_response(
            200, {"id": template_id, "status": "PENDING", "category": body["category"]}
        )

    # -- callbacks -------------------------------------------------------------------

    def callbacks(
        self, sent: Sent, answers: Mapping[str, Any] | None, statuses: tuple[str, ...]
    ) -> list[WebhookCall]:
        if sent.user is None:
            raise ValueError(
                f"{sent.to!r} names no simulated user (a group?): its callbacks are not emulated"
            )
        now = str(int(self.clock()))
        if sent.window_closed:  # the one and only outcome of that message
            failed = hooks.failed_value(sent, self.window_error, now, scoped=self.scoped)
            return [self.webhook(self.document(failed, sent.number))]
        values = [hooks.status_value(sent, s, now, scoped=self.scoped) for s in statuses]
        if answers is not None:
            response = (
                {"flow_token": sent.flow_token, **answers} if sent.flow_token else dict(answers)
            )
            message_id = self.next_id("wamid.EMUIN")
            values.append(
                hooks.completion_value(
                    sent, self.nfm_reply(response), message_id, now, scoped=self.scoped
                )
            )
        return [self.webhook(self.document(v, sent.number)) for v in values]

    def identity_change(self, kind: IdentityChange, before: SimUser, after: SimUser) -> WebhookCall:
        """The system message telling the business a user's number or BSUID changed."""
        now = str(int(self.clock()))
        value = hooks.system_value(kind, before, after, self.next_id("wamid.EMUSYS"), now)
        return self.webhook(self.document(value))

    def nfm_reply(self, response: dict[str, Any]) -> dict[str, Any]:
        return {"name": "flow", "body": "Sent", "response_json": json.dumps(response)}

    def document(self, value: dict[str, Any], number: str | None = None) -> dict[str, Any]:
        """``value`` in Meta's envelope, from ``number`` (default: the account's)."""
        # A 360dialog key names one number, so its settings carry no ids: Meta's still
        # appear in the webhooks it relays.
        metadata = {
            "display_phone_number": hooks.BUSINESS_NUMBER,
            "phone_number_id": number or self.secret("phone_number_id") or hooks.PHONE_NUMBER_ID,
        }
        change = {
            "field": "messages",
            "value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.secret("waba_id") or hooks.WABA_ID, "changes": [change]}],
        }
