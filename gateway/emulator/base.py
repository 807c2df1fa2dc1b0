"""What every simulated provider shares: operations, faults, sent messages, webhooks."""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ValidationError

from gateway.emulator import specs
from gateway.emulator.failures import FailureSite, Where
from gateway.emulator.limits import LimitKind, Limits, LimitSite, LimitState, Refused
from gateway.emulator.users import IdentityChange, SimUser, Users, is_bsuid, is_phone
from gateway.http import HttpResponse

FaultKind = Literal["rate_limit", "server_error", "slow", "drop", "window_closed", "expire_token"]
FAULTS: tuple[str, ...] = (
    "rate_limit",
    "server_error",
    "slow",
    "drop",
    "window_closed",
    "expire_token",
)


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour, applied to the next send or template request."""

    kind: FaultKind
    retry_after: int = 1
    delay: float = 2.0


@dataclass
class Reply:
    """What the emulator answers; ``delay``/``drop`` are applied by the HTTP layer."""

    response: HttpResponse
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class SimRequest:
    """A request as a simulated provider sees it: path below its prefix, headers lower-cased."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Sent:
    """A message a simulated provider accepted.

    ``to`` is the recipient as sent (phone, BSUID, ``…@lid``…); ``user`` the simulated
    user it reached; ``window_closed``: its failure is still to be reported by webhook;
    ``number``: the business number it was sent from, where a provider serves several.
    """

    provider: str
    message_id: str
    to: str
    kind: Literal["interactive", "template"]
    flow_token: str | None
    body: dict[str, Any]
    window_closed: bool = False
    user: SimUser | None = None
    number: str | None = None

    @property
    def to_phone(self) -> bool:
        """Was it addressed to the phone number (not to a BSUID)?"""
        return not is_bsuid(self.to.removesuffix("@lid"))


@dataclass(frozen=True)
class WebhookCall:
    """A callback to deliver: where, and exactly what the provider would send.

    ``not_before``: the emulator's timer value before which it is not posted (a message
    still in Sinch's app queue); 0: at once.
    """

    provider: str
    url: str
    body: bytes
    headers: dict[str, str]
    not_before: float = 0.0


@dataclass
class Invalid:
    """A body refused by the emulator's schema: the first problem, provider-neutral."""

    field: str
    problem: str
    missing: bool

    @classmethod
    def of(cls, exc: ValidationError) -> Invalid:
        errors = exc.errors()
        # A misspelled key shows up twice (unexpected + missing): name the key sent.
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        where = ".".join(str(p) for p in err["loc"]) or "body"
        problem = "unexpected key" if err["type"] == "extra_forbidden" else err["msg"]
        return cls(where, problem, err["type"] == "missing")

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> HttpResponse:
    hdrs = {"content-type": "application/json", **(headers or {})}
    return HttpResponse.of(status, hdrs, json.dumps(body).encode())


def form_fields(req: SimRequest) -> dict[str, tuple[str | None, bytes]] | None:
    """A ``multipart/form-data`` body as ``{name: (filename, bytes)}``; None if it is not
    one (the stdlib's MIME parser: the emulator needs no multipart library)."""
    ctype = req.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + req.body)
    if not message.is_multipart():
        return None
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            out[name] = (part.get_filename(), payload)
    return out


def check_spec(provider: str, operation: str, body: bytes) -> dict[str, Any] | Invalid:
    """The JSON body if it follows ``provider``'s specification for ``operation``
    (:mod:`gateway.emulator.specs`), else the first :class:`Invalid` thing in it."""
    try:
        doc = json.loads(body)
    except ValueError:
        return Invalid("body", "is not JSON", False)
    problem = specs.check(provider, operation, doc)
    if problem is not None:
        return Invalid(problem.field, problem.problem, problem.missing)
    if not isinstance(doc, dict):  # every request body in the specs is an object
        return Invalid("body", "must be a JSON object", False)
    return doc


def parse(model: type[BaseModel], body: bytes) -> BaseModel | Invalid:
    """Validate a JSON body against a wire schema."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        return Invalid.of(exc)


class Sim:
    """One simulated provider: its auth, schemas, answers, errors and callbacks."""

    name: str
    """The provider's registry name (also the name of its module in ``sims/``)."""
    failure_sites: ClassVar[Mapping[str, FailureSite]]
    """Where this provider reports each fault it can be given (docs/testing.md)."""
    default_webhook_path: str = ""
    system_messages = False  # emits user_changed_number / user_changed_user_id
    default_limits: ClassVar[Limits] = Limits()
    """The provider's documented limits (:mod:`gateway.emulator.limits`); none by default."""
    limit_sites: ClassVar[Mapping[LimitKind, LimitSite]] = {}
    """What this provider answers for each limit it has (the "Limits" table of docs/testing.md)."""
    credentials: ClassVar[tuple[str, ...]] = ()
    """The account keys a sender must share with the simulator's account to be served."""

    def __init__(
        self,
        account: Mapping[str, Any],
        clock: Callable[[], float] = time.time,
        users: Users | None = None,
    ) -> None:
        self.account = dict(account)
        self.clock = clock
        self.users = users if users is not None else Users()
        self.sent: dict[str, Sent] = {}
        self.faults: deque[Fault] = deque()
        self.webhook_url: str | None = None
        self.public_key: str | None = None
        self.tokens: set[str] = set()  # bearer tokens it issued (OAuth), never to be logged
        # fault -> where this provider reports it; a setting (Emulator.set_failure_location)
        self.failure_locations: dict[str, Where] = {
            fault: site.where for fault, site in self.failure_sites.items()
        }
        self.limits = LimitState(self.default_limits)
        self._ids = itertools.count(1)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}"

    def secret(self, key: str) -> str:
        value = self.account.get(key)
        return str(value) if value is not None else ""

    def take_fault(self) -> Fault | None:
        return self.faults.popleft() if self.faults else None

    def fails_now(self, fault: Fault | None) -> bool:
        """Is ``fault`` a window_closed to refuse in the send's own answer?"""
        return self._window(fault) == "response"

    def fails_later(self, fault: Fault | None) -> bool:
        """Is ``fault`` a window_closed to accept now and report as a failed status?"""
        return self._window(fault) == "webhook"

    def _window(self, fault: Fault | None) -> Where | None:
        if fault is None or fault.kind != "window_closed":
            return None
        return self.failure_locations["window_closed"]

    def number_of(self, account: Mapping[str, Any]) -> str | None:
        """The business number (Sinch: the app) ``account`` sends from, the key its
        limits are kept and counted under; None if this simulator does not serve it (its
        :attr:`credentials` differ)."""
        return self.name if self.same_credentials(account) else None

    def same_credentials(self, account: Mapping[str, Any]) -> bool:
        return all(account.get(k) == self.account.get(k) for k in self.credentials)

    def serve(self, account: Mapping[str, Any]) -> str | None:
        """Serve another sender's ``account`` too where this provider can (another number
        of the same Meta app); its business number, or None if it is not served."""
        return self.number_of(account)

    def not_before(self, sent: Sent) -> float:
        """The timer value before which ``sent``'s callbacks are held (0: none)."""
        return 0.0

    def user_for(self, recipient: str) -> SimUser | None:
        """The simulated user a recipient names (None for e.g. a Sinch contact id)."""
        ref = recipient.removesuffix("@lid").removesuffix("@c.us")
        return self.users.resolve(ref) if is_phone(ref) or is_bsuid(ref) else None

    # Implemented per provider ------------------------------------------------------

    def handle(self, req: SimRequest) -> Reply:
        """Answer one request whose path is relative to this provider's prefix."""
        raise NotImplementedError

    def callbacks(
        self, sent: Sent, answers: Mapping[str, Any] | None, statuses: tuple[str, ...]
    ) -> list[WebhookCall]:
        """The webhooks a user's phone causes: statuses, then the Flow completion."""
        raise NotImplementedError

    def identity_change(self, kind: IdentityChange, before: SimUser, after: SimUser) -> WebhookCall:
        """The system message for a user's new number or BSUID (Meta and 360dialog Cloud)."""
        raise ValueError(f"{kind} system messages are not emulated for {self.name}")

    def take_outbox(self) -> list[WebhookCall]:
        """Callbacks the provider sends on its own after a request (account webhooks such
        as Meta's Flow status changes), emptied; the HTTP app posts them. None here."""
        return []

    # Shared fault handling ---------------------------------------------------------

    def apply_transport_fault(self, fault: Fault | None, reply: Callable[[], Reply]) -> Reply:
        """rate_limit/server_error replace the answer; slow/drop wrap it."""
        if fault is None or fault.kind in ("window_closed", "expire_token"):
            return reply()
        if fault.kind == "rate_limit":
            return Reply(self.rate_limited(fault.retry_after))
        if fault.kind == "server_error":
            return Reply(self.server_error())
        result = reply()
        if fault.kind == "slow":
            result.delay = fault.delay
        else:
            result.drop = True
        return result

    def rate_limited(self, retry_after: int) -> HttpResponse:
        raise NotImplementedError

    def pair_limited(self, retry_after: int) -> HttpResponse:
        """Too many messages to one user (Meta's 131056); by default the rate limit."""
        return self.rate_limited(retry_after)

    # Limits (gateway.emulator.limits) ------------------------------------------------

    def limit_send(
        self, number: str, recipient: str, user: SimUser | None, fault: Fault | None
    ) -> HttpResponse | None:
        """The refusal of a send to ``recipient`` (``user``: :meth:`user_for` it) over
        ``number``'s throughput or pair rate, in this provider's shape; None: the send
        goes on and is counted."""
        key = user.user_id if user is not None else recipient.removesuffix("@c.us").lstrip("+")
        refused = self.limits.check_send(number, key)
        return None if refused is None else self.refuse(number, refused, fault)

    def refuse(self, number: str, refused: Refused, fault: Fault | None) -> HttpResponse:
        """``refused`` answered in this provider's shape and counted under ``number``; an
        injected ``window_closed`` goes back to the front of the queue for the next send."""
        if fault is not None and fault.kind == "window_closed":
            self.faults.appendleft(fault)
        site = self.limit_sites.get(refused.kind)
        self.limits.count(number, site.code if site else refused.kind)
        if refused.kind == "pair":
            return self.pair_limited(refused.retry_after)
        return self.rate_limited(refused.retry_after)

    def server_error(self) -> HttpResponse:
        raise NotImplementedError
