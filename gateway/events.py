"""Normalized results and inbound events (contract).

Plain frozen dataclasses: cheap to build on the webhook hot path, easy to store. Every
object keeps the provider's original data in ``raw`` so nothing is lost in translation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeAlias, TypeVar

T = TypeVar("T")
SendStatus = Literal["accepted", "queued", "held_for_quality_assessment"]
DeliveryStatus = Literal["queued", "sent", "delivered", "read", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReceipt:
    """The provider took the message: its id, and how far it got.

    ``message_id`` is None only when the provider queued the message without assigning an
    id yet (``status == "queued"``, e.g. 1msg's ``jobId``); ``job_id`` then identifies it.
    """

    provider: str
    message_id: str | None
    recipient: str | None
    status: SendStatus
    raw: Any = field(default=None, repr=False, compare=False)
    sender: str | None = None
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
    """One provider error; ``category`` is a :mod:`gateway.errors` class name."""

    code: int | str | None
    title: str | None
    message: str | None
    category: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowCompleted:
    """A user submitted a Flow: ``response`` is the decoded ``response_json``."""

    provider: str
    message_id: str
    sender: str
    flow_token: str | None
    response: dict[str, Any]
    reply_to: str | None
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageStatus:
    """A delivery status of a message we sent."""

    provider: str
    message_id: str
    recipient: str | None
    status: DeliveryStatus
    errors: tuple[ErrorDetail, ...]
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent:
    """An error the provider reports outside any message (e.g. Meta's value-level errors)."""

    provider: str
    errors: tuple[ErrorDetail, ...]
    timestamp: datetime | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnhandledEvent:
    """Anything else the provider sent (a text message, an unknown event): passed on."""

    provider: str
    kind: str
    raw: Any = field(default=None, repr=False, compare=False)


InboundEvent: TypeAlias = FlowCompleted | MessageStatus | ErrorEvent | UnhandledEvent


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A positional constructor that fills a frozen slots dataclass's slots directly.

    Frozen dataclasses set every field through ``object.__setattr__``, which triples the
    cost of building an event on the webhook hot path; writing the slots through their
    descriptors keeps the instances exactly as frozen. Arguments: all fields, in order.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    scope.update({f"_set{i}": getattr(cls, n).__set__ for i, n in enumerate(names)})
    lines = [f"def make({', '.join(names)}):", "    obj = _new(_cls)"]
    lines += [f"    _set{i}(obj, {n})" for i, n in enumerate(names)]
    lines.append("    return obj")
    exec("\n".join(lines), scope)  # noqa: S102 - generated from our own field names only
    make: Callable[..., T] = scope["make"]
    return make


_EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (FlowCompleted, MessageStatus, ErrorEvent, UnhandledEvent)
}


def event_to_dict(event: InboundEvent) -> dict[str, Any]:
    """A JSON-ready dict (``type`` names the class) that :func:`event_from_dict` reverses."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif f.name == "errors":
            value = [asdict(e) for e in value]
        out[f.name] = value
    return out


def event_from_dict(data: dict[str, Any]) -> InboundEvent:
    """Rebuild an event stored with :func:`event_to_dict`."""
    values = dict(data)
    cls = _EVENT_TYPES[values.pop("type")]
    if values.get("timestamp") is not None:
        values["timestamp"] = datetime.fromisoformat(values["timestamp"])
    if "errors" in values:
        values["errors"] = tuple(ErrorDetail(**e) for e in values["errors"])
    event: InboundEvent = cls(**values)
    return event
