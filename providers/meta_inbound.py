"""Meta's webhook shapes, shared by every provider that forwards them.

The Cloud envelope ``{object, entry[].changes[].value}`` (Meta, 360dialog Cloud, 1msg's
raw hooks) and the On-Premise flat body ``{contacts, messages, statuses, errors}`` carry
the same ``value`` objects; :class:`MetaInbound` turns either into normalized events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.errors import ProviderError
from gateway.events import (
    DeliveryStatus,
    ErrorDetail,
    ErrorEvent,
    FlowCompleted,
    InboundEvent,
    MessageStatus,
    UnhandledEvent,
    fast_constructor,
)
from providers.base import (
    decode_response_json,
    expect_dict,
    expect_list,
    expect_str,
    opt_str,
    unix_time,
)
from providers.meta_wire import Classifier, graph_class, int_or_raw

_STATUSES: Mapping[str, DeliveryStatus] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}
_new_status = fast_constructor(MessageStatus)
_VALUE_KNOWN_KEYS = frozenset(
    {"messaging_product", "metadata", "contacts", "messages", "statuses", "errors"}
)


@dataclass(frozen=True, slots=True)
class MetaInbound:
    """Parses Meta-shaped webhook documents for one provider."""

    provider: str
    flow_reply_names: frozenset[str] = frozenset({"flow"})
    classify: Classifier = graph_class

    def envelope(self, doc: dict[str, Any]) -> list[InboundEvent]:
        """``{entry[].changes[].value}`` → events, in the order they appear."""
        events: list[InboundEvent] = []
        for i, entry in enumerate(expect_list(doc.get("entry"), "entry")):
            path = f"entry[{i}]"
            changes = expect_list(expect_dict(entry, path).get("changes"), f"{path}.changes")
            for j, change in enumerate(changes):
                cpath = f"{path}.changes[{j}]"
                change = expect_dict(change, cpath)
                field = change.get("field")
                if field != "messages":
                    kind = f"change:{field}"
                    events.append(UnhandledEvent(provider=self.provider, kind=kind, raw=change))
                    continue
                value = expect_dict(change.get("value"), f"{cpath}.value")
                events.extend(self.value(value, f"{cpath}.value"))
        return events

    def value(self, value: dict[str, Any], path: str = "") -> list[InboundEvent]:
        """A ``value`` object or an On-Premise flat body: messages, statuses, errors."""
        prefix = f"{path}." if path else ""
        events: list[InboundEvent] = []
        if "messages" in value:
            for k, m in enumerate(expect_list(value["messages"], f"{prefix}messages")):
                mpath = f"{prefix}messages[{k}]"
                events.append(self._message(expect_dict(m, mpath), mpath))
        if "statuses" in value:
            events.extend(
                self._statuses(expect_list(value["statuses"], f"{prefix}statuses"), prefix)
            )
        if "errors" in value:
            items = expect_list(value["errors"], f"{prefix}errors")
            errors = tuple(self.error_detail(e) for e in items)
            events.append(
                ErrorEvent(provider=self.provider, errors=errors, timestamp=None, raw=items)
            )
        for key, items in value.items():
            if key not in _VALUE_KNOWN_KEYS:  # e.g. message_echoes: passed on, never dropped
                events.append(
                    UnhandledEvent(provider=self.provider, kind=f"value:{key}", raw=items)
                )
        return events

    def error_detail(self, err: Any) -> ErrorDetail:
        """One ``errors[]`` entry, classified with this provider's code table."""
        e = err if isinstance(err, dict) else {"message": str(err)}
        code = int_or_raw(e.get("code"))
        data = e.get("error_data")
        details = opt_str(data.get("details")) if isinstance(data, dict) else None
        cls = self.classify(code) or ProviderError
        return ErrorDetail(
            code=code,
            title=opt_str(e.get("title")),
            message=opt_str(e.get("message")) or details or opt_str(e.get("details")),
            category=cls.category,
        )

    def flow_completion(
        self, m: dict[str, Any], path: str, *, sender: str, reply_to: str | None
    ) -> InboundEvent:
        """A message carrying ``interactive.nfm_reply``: a Flow reply or another nfm."""
        nfm = expect_dict(
            expect_dict(m.get("interactive"), f"{path}.interactive").get("nfm_reply"),
            f"{path}.interactive.nfm_reply",
        )
        name = nfm.get("name")
        if not isinstance(name, str) or name not in self.flow_reply_names:
            return UnhandledEvent(provider=self.provider, kind=f"nfm_reply:{name}", raw=m)
        response = dict(
            decode_response_json(
                nfm.get("response_json"), f"{path}.interactive.nfm_reply.response_json"
            )
        )
        token = response.pop("flow_token", None)
        return FlowCompleted(
            provider=self.provider,
            message_id=expect_str(m.get("id"), f"{path}.id"),
            sender=sender,
            flow_token=opt_str(token),
            response=response,
            reply_to=reply_to,
            timestamp=unix_time(m.get("timestamp", m.get("time"))),
            raw=m,
        )

    def _message(self, m: dict[str, Any], path: str) -> InboundEvent:
        interactive = m.get("interactive")
        if (
            m.get("type") != "interactive"
            or not isinstance(interactive, dict)
            or (interactive.get("type") != "nfm_reply")
        ):
            return UnhandledEvent(provider=self.provider, kind=f"message:{m.get('type')}", raw=m)
        context = m.get("context")
        return self.flow_completion(
            m,
            path,
            sender=expect_str(m.get("from"), f"{path}.from"),
            reply_to=opt_str(context.get("id")) if isinstance(context, dict) else None,
        )

    def _statuses(self, items: list[Any], prefix: str) -> list[InboundEvent]:
        """The hot path (status floods): one tight loop, names bound locally, paths only
        formatted when something is wrong, and a batch's shared timestamps parsed once."""
        out: list[InboundEvent] = []
        append, provider, lookup = out.append, self.provider, _STATUSES.get
        times: dict[Any, datetime | None] = {}
        for k, s in enumerate(items):
            if type(s) is not dict:
                expect_dict(s, f"{prefix}statuses[{k}]")
            raw_status = s.get("status")
            status = lookup(raw_status) if type(raw_status) is str else None
            if status is None:
                append(UnhandledEvent(provider=provider, kind=f"status:{raw_status}", raw=s))
                continue
            message_id = s.get("id")
            if type(message_id) is not str or not message_id:
                message_id = expect_str(message_id, f"{prefix}statuses[{k}].id")
            recipient = s.get("recipient_id")
            if type(recipient) is not str:
                recipient = opt_str(recipient)
            errors = s.get("errors")
            stamp = s.get("timestamp")
            try:
                when = times[stamp]
            except KeyError:
                when = times[stamp] = unix_time(stamp)
            except TypeError:  # unhashable: not a timestamp at all
                when = None
            details = tuple(map(self.error_detail, errors)) if type(errors) is list else ()
            append(_new_status(provider, message_id, recipient, status, details, when, s))
        return out
