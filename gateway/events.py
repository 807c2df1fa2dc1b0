"""Normalized results and inbound events (contract).

Plain frozen dataclasses: cheap to build on the webhook hot path, easy to store. Every
object keeps the provider's original data in ``raw`` so nothing is lost in translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeAlias

from gateway.errors import CATEGORIES, ProviderError
from gateway.identity import UserRef

SendStatus = Literal["accepted", "queued", "held_for_quality_assessment"]
DeliveryStatus = Literal["queued", "sent", "delivered", "read", "failed"]
IdentityChange = Literal["number", "user_id"]


class FlowStatus(StrEnum):
    """A Flow's lifecycle state (Meta's Flows lifecycle; reference/flows.md §C2).

    DRAFT → PUBLISHED → DEPRECATED (terminal); the system moves a PUBLISHED flow to
    THROTTLED and BLOCKED and back. A StrEnum, so ``status == "PUBLISHED"`` reads as it
    should; a state Meta adds later stays the provider's string rather than an error.
    """

    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    DEPRECATED = "DEPRECATED"
    THROTTLED = "THROTTLED"
    BLOCKED = "BLOCKED"

    @classmethod
    def of(cls, value: Any) -> FlowStatus | str | None:
        """The member for ``value`` (any case); an unknown non-empty string as it is."""
        if not isinstance(value, str) or not value:
            return None
        try:
            return cls(value.upper())
        except ValueError:
            return value


# Every receipt and event says who in the same words: ``sender`` is the configured
# sender's name (None from a bare adapter), ``business_id`` the provider's id of the
# business number (Meta phone_number_id, Sinch app_id, 1msg instance, 360dialog number),
# ``user`` the WhatsApp user.


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReceipt:
    """The provider took the message: its id, and how far it got.

    ``message_id`` is None only when the provider queued the message without assigning an
    id yet (``status == "queued"``, e.g. 1msg's ``jobId``); ``job_id`` then identifies it.
    ``user`` is the recipient as the provider resolved it (Meta's ``wa_id``/``user_id``),
    else as it was addressed.
    """

    provider: str
    sender: str | None
    business_id: str | None
    message_id: str | None
    user: UserRef
    status: SendStatus
    raw: Any = field(default=None, repr=False, compare=False)
    job_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateReceipt:
    """A template creation request was accepted (review status as reported)."""

    provider: str
    template_id: str | None
    name: str
    status: str | None
    category: str | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorDetail:
    """One provider error, in the provider's own words.

    ``message`` is the short text, ``details`` the explanation when the provider gives one
    (Meta's ``error_data.details``: "more than 24 hours have passed…"); ``category`` is a
    :mod:`gateway.errors` class name, so a failed status and a failed send read alike.
    """

    code: int | str | None
    title: str | None
    message: str | None
    details: str | None
    category: str

    @property
    def error_class(self) -> type[ProviderError]:
        """The :class:`~gateway.errors.ProviderError` subclass named by ``category``."""
        return CATEGORIES.get(self.category, ProviderError)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowCompleted:
    """A user submitted a Flow: ``response`` is the decoded ``response_json``.

    Correlate it by ``flow_token`` or ``reply_to``, never by phone: users with a username
    may withhold it (``user.phone`` None, ``user.user_id`` set).
    """

    provider: str
    sender: str | None
    business_id: str | None
    message_id: str
    user: UserRef
    flow_token: str | None
    response: dict[str, Any]
    reply_to: str | None
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageStatus:
    """A delivery status of a message we sent."""

    provider: str
    sender: str | None
    business_id: str | None
    message_id: str
    user: UserRef
    status: DeliveryStatus
    errors: tuple[ErrorDetail, ...]
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserIdentityChanged:
    """A user changed phone number (``change="number"``) or got a new business-scoped
    user id (``"user_id"``): re-key what you store from ``previous`` to ``user``."""

    provider: str
    sender: str | None
    business_id: str | None
    change: IdentityChange
    user: UserRef
    previous: UserRef
    message_id: str | None
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent:
    """An error the provider reports outside any message (e.g. Meta's value-level errors)."""

    provider: str
    sender: str | None
    business_id: str | None
    errors: tuple[ErrorDetail, ...]
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnhandledEvent:
    """Anything else the provider sent (a text message, an unknown event): passed on."""

    provider: str
    sender: str | None
    business_id: str | None
    kind: str
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowStatusChanged:
    """A Flow moved in its lifecycle (Meta's ``flows`` webhook, ``FLOW_STATUS_CHANGE``).

    ``old_status`` is None when the flow was just created; ``warning`` carries Meta's
    notice (e.g. a version about to freeze) when it sends one.
    """

    provider: str
    sender: str | None
    business_id: str | None
    flow_id: str
    flow_name: str | None
    old_status: FlowStatus | str | None
    new_status: FlowStatus | str | None
    warning: str | None
    message: str | None
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowHealthAlert:
    """A Flow's health crossed a threshold, or recovered (Meta's ``flows`` webhook).

    ``alert`` is Meta's event (``CLIENT_ERROR_RATE``, ``ENDPOINT_ERROR_RATE``,
    ``ENDPOINT_LATENCY``, ``ENDPOINT_AVAILABILITY``, ``FLOW_VERSION_EXPIRY_WARNING``, or one
    added later); ``alert_state`` ``ACTIVATED`` / ``DEACTIVATED`` when given; ``metrics``
    the numbers that came with it (``error_rate``, ``threshold``, ``p90_latency``…),
    ``errors`` the per-error-type breakdown.
    """

    provider: str
    sender: str | None
    business_id: str | None
    flow_id: str
    alert: str
    alert_state: str | None
    message: str | None
    metrics: dict[str, Any]
    errors: tuple[dict[str, Any], ...]
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateStatusChanged:
    """A template's review status, category or quality changed (template webhooks).

    ``change`` names what changed (``status``, ``category``, ``quality``, ``components``);
    ``new_status`` is the status event (``APPROVED``, ``REJECTED``, ``PAUSED``…) for a
    status change, the new category or quality score for the others; ``reason`` Meta's
    reason code or the provider's words; ``details`` the rest of what came.
    """

    provider: str
    sender: str | None
    business_id: str | None
    template_id: str | None
    name: str | None
    language: str | None
    change: str
    new_status: str | None
    reason: str | None
    category: str | None
    details: dict[str, Any]
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


InboundEvent: TypeAlias = (
    FlowCompleted
    | MessageStatus
    | UserIdentityChanged
    | FlowStatusChanged
    | FlowHealthAlert
    | TemplateStatusChanged
    | ErrorEvent
    | UnhandledEvent
)


_EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        FlowCompleted,
        MessageStatus,
        UserIdentityChanged,
        FlowStatusChanged,
        FlowHealthAlert,
        TemplateStatusChanged,
        ErrorEvent,
        UnhandledEvent,
    )
}
_USER_FIELDS = ("user", "previous")


def event_to_dict(event: InboundEvent) -> dict[str, Any]:
    """A JSON-ready dict (``type`` names the class) that :func:`event_from_dict` reverses."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif f.name == "errors":
            value = [e if isinstance(e, dict) else _plain(e) for e in value]
        elif f.name in _USER_FIELDS:
            value = _plain(value)
        out[f.name] = value
    return out


def event_from_dict(data: dict[str, Any]) -> InboundEvent:
    """Rebuild an event stored with :func:`event_to_dict`."""
    values = dict(data)
    cls = _EVENT_TYPES[values.pop("type")]
    if values.get("timestamp") is not None:
        values["timestamp"] = datetime.fromisoformat(values["timestamp"])
    if "errors" in values:
        make = dict if cls is FlowHealthAlert else (lambda e: ErrorDetail(**e))
        values["errors"] = tuple(make(e) for e in values["errors"])
    for name in _USER_FIELDS:
        if name in values:
            values[name] = UserRef(**values[name])
    if cls is FlowStatusChanged:
        for name in ("old_status", "new_status"):
            values[name] = FlowStatus.of(values[name])
    event: InboundEvent = cls(**values)
    return event


def _plain(obj: ErrorDetail | UserRef) -> dict[str, Any]:
    # dataclasses.asdict deep-copies every value; these hold only scalars.
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
