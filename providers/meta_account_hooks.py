"""Meta's account-level webhook fields: Flows lifecycle and health, template reviews.

``entry[].changes[]`` with ``field`` ``flows`` (reference/management.md §3: FLOW_STATUS_CHANGE,
CLIENT_ERROR_RATE, ENDPOINT_ERROR_RATE, ENDPOINT_LATENCY, ENDPOINT_AVAILABILITY,
FLOW_VERSION_EXPIRY_WARNING) and the template fields (§2: ``message_template_status_update``,
``template_category_update``, ``message_template_quality_update``,
``message_template_components_update``). The entry's ``id`` is the account (WABA) they
concern: it becomes ``business_id``.

Lenient by design: these are notifications, not orders. Unknown events, odd types and
extra keys never raise; what cannot be read as one of our events is an
``UnhandledEvent`` carrying the whole change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from gateway.events import (
    FlowHealthAlert,
    FlowStatus,
    FlowStatusChanged,
    InboundEvent,
    TemplateStatusChanged,
)
from providers.base import unix_time

TEMPLATE_FIELDS: Mapping[str, str] = {
    "message_template_status_update": "status",
    "template_category_update": "category",
    "message_template_quality_update": "quality",
    "message_template_components_update": "components",
}
ACCOUNT_FIELDS = frozenset({"flows", *TEMPLATE_FIELDS})
_ALERT_KEYS = ("event", "message", "flow_id", "alert_state", "errors")
_TEMPLATE_KEYS = (
    "event",
    "message_template_id",
    "message_template_name",
    "message_template_language",
    "reason",
    "message_template_category",
)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # ids arrive as numbers in template webhooks
    return None


def account_event(
    field: str,
    value: Any,
    *,
    provider: str,
    sender: str | None,
    business_id: str | None,
    time: Any,
) -> InboundEvent | None:
    """The event for one account-level change, or None when it is not one we read."""
    if not isinstance(value, dict):
        return None
    when = _when(value.get("timestamp"), time)
    who = {"provider": provider, "sender": sender, "business_id": business_id}
    if field == "flows":
        return _flow_event(value, who, when)
    change = TEMPLATE_FIELDS.get(field)
    return None if change is None else _template_event(change, value, who, when)


def _when(*candidates: Any) -> datetime | None:
    return next((t for t in map(unix_time, candidates) if t is not None), None)


def _flow_event(
    value: dict[str, Any], who: dict[str, Any], when: datetime | None
) -> InboundEvent | None:
    flow_id, event = _text(value.get("flow_id")), _text(value.get("event"))
    if flow_id is None or event is None:
        return None
    if event == "FLOW_STATUS_CHANGE":
        return FlowStatusChanged(
            **who,
            flow_id=flow_id,
            flow_name=_text(value.get("flow_name")),
            old_status=FlowStatus.of(value.get("old_status")),
            new_status=FlowStatus.of(value.get("new_status")),
            warning=_text(value.get("warning")),
            message=_text(value.get("message")),
            timestamp=when,
            raw=value,
        )
    errors = value.get("errors")
    return FlowHealthAlert(
        **who,
        flow_id=flow_id,
        alert=event,
        alert_state=_text(value.get("alert_state")),
        message=_text(value.get("message")) or _text(value.get("warning")),
        metrics={k: v for k, v in value.items() if k not in _ALERT_KEYS},
        errors=tuple(e for e in errors if isinstance(e, dict)) if isinstance(errors, list) else (),
        timestamp=when,
        raw=value,
    )


def _template_event(
    change: str, value: dict[str, Any], who: dict[str, Any], when: datetime | None
) -> InboundEvent:
    pick: Callable[[str], str | None] = lambda key: _text(value.get(key))  # noqa: E731
    if change == "status":
        new, category = pick("event"), pick("message_template_category")
    elif change == "category":  # impending: correct_category; done: new_category
        new = pick("correct_category") or pick("new_category")
        category = pick("new_category")
    elif change == "quality":
        new, category = pick("new_quality_score"), None
    else:
        new, category = None, None
    return TemplateStatusChanged(
        **who,
        template_id=pick("message_template_id"),
        name=pick("message_template_name"),
        language=pick("message_template_language"),
        change=change,
        new_status=new,
        reason=pick("reason"),
        category=category,
        details={k: v for k, v in value.items() if k not in _TEMPLATE_KEYS},
        timestamp=when,
        raw=value,
    )
