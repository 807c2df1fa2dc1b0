"""Meta's webhook shapes, shared by every provider that forwards them.

The Cloud envelope ``{object, entry[].changes[].value}`` (Meta, 360dialog Cloud, 1msg's
raw hooks) and the On-Premise flat body ``{contacts, messages, statuses, errors}`` carry
the same ``value`` objects; :class:`MetaInbound` turns either into normalized events.

Users are named by phone (``from``, ``wa_id``, ``recipient_id``) and, since 2026, by
business-scoped user id (``from_user_id``, ``user_id``, ``recipient_user_id`` and their
``parent_`` twins); the phone may be absent or ``""``.
https://developers.facebook.com/docs/whatsapp/business-scoped-user-ids
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.errors import ProviderError, WebhookPayloadError
from gateway.events import (
    DeliveryStatus,
    ErrorDetail,
    ErrorEvent,
    FlowCompleted,
    InboundEvent,
    MessageStatus,
    UnhandledEvent,
    UserIdentityChanged,
)
from gateway.fast import fast_constructor
from gateway.identity import UserRef, e164, is_bsuid, new_user, user_ref
from providers.base import (
    WebhookPart,
    decode_response_json,
    expect_dict,
    expect_list,
    expect_str,
    loads,
    opt_str,
    unix_time,
)
from providers.meta_account_hooks import ACCOUNT_FIELDS, account_event
from providers.meta_codes import Classifier, code_in_text, graph_class, int_or_raw

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
_IDENTITY_CHANGES = {"user_changed_number": "number", "user_changed_user_id": "user_id"}
_SENDER_KEYS = ("from", "from_user_id", "from_parent_user_id", "chatId", "author")
_CHANGED_FROM_TO = re.compile(r"from (\S+) to (\S+?)\.?$")
Contacts = Mapping[str, Mapping[str, Any]]
"""``contacts[]`` entries by every id they carry (wa_id, user_id)."""


def split_envelope(body: bytes) -> list[WebhookPart]:
    """A Cloud envelope cut by the sender each change names (``Adapter.split_webhook`` of
    Meta and 360dialog Cloud): ``value.metadata.phone_number_id``, else, for account-level
    changes (template status, Flows), the WABA ``entry.id`` as ``account_id``.

    One group (nearly every callback) is the original body, bytes untouched; several are
    one re-serialized body each, ``{…, "entry": [{…, "changes": [its own]}]}`` keeping the
    other keys, in order of first appearance. Anything not shaped like an envelope is one
    part naming nobody, for the parser to refuse.
    """
    whole = [WebhookPart(None, None, body)]
    try:
        doc = loads(body)
    except ValueError:
        return whole
    entries = doc.get("entry") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return whole
    # (business_id, account_id) → [(index of its entry, change)], in order of appearance
    groups: dict[tuple[str | None, str | None], list[tuple[int, dict[str, Any]]]] = {}
    for i, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            return whole
        for change in changes:
            if not isinstance(change, dict):
                return whole
            number = _number_in(change.get("value"))
            key = (number, None) if number else (None, opt_str(entry.get("id")))
            groups.setdefault(key, []).append((i, change))
    if len(groups) < 2:
        business_id, account_id = next(iter(groups), (None, None))
        return [WebhookPart(business_id, account_id, body)]
    parts: list[WebhookPart] = []
    for (business_id, account_id), items in groups.items():
        kept: dict[int, list[dict[str, Any]]] = {}
        for i, change in items:
            kept.setdefault(i, []).append(change)
        part = {**doc, "entry": [{**entries[i], "changes": c} for i, c in kept.items()]}
        try:  # ASCII escapes: a lone surrogate the parser accepted cannot break encoding
            text = json.dumps(part, separators=(",", ":"))
        except (ValueError, RecursionError):  # nesting the decoder just managed, say
            return whole
        parts.append(WebhookPart(business_id, account_id, text.encode()))
    return parts


def _number_in(value: Any) -> str | None:
    """The business number a change's ``value`` names: ``metadata.phone_number_id``."""
    metadata = value.get("metadata") if isinstance(value, dict) else None
    return opt_str(metadata.get("phone_number_id")) if isinstance(metadata, dict) else None


@dataclass(frozen=True, slots=True)
class MetaInbound:
    """Parses Meta-shaped webhook documents for one provider (and one sender).

    ``business_id`` is used when a document names no business number itself (On-Premise
    bodies); Cloud values name theirs in ``metadata.phone_number_id``.
    """

    provider: str
    sender: str | None = None
    business_id: str | None = None
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
                if field == "messages":
                    value = expect_dict(change.get("value"), f"{cpath}.value")
                    events.extend(self.value(value, f"{cpath}.value"))
                elif field == "user_id_update":
                    events.extend(self._user_id_updates(change))
                elif (
                    isinstance(field, str)
                    and field in ACCOUNT_FIELDS
                    and (event := self._account(entry, change))
                ):
                    events.append(event)
                else:
                    events.append(self.unhandled(f"change:{field}", change, None))
        return events

    def _account(self, entry: dict[str, Any], change: dict[str, Any]) -> InboundEvent | None:
        return account_event(
            str(change.get("field")), change.get("value"), provider=self.provider,
            sender=self.sender, business_id=opt_str(entry.get("id")), time=entry.get("time"),
        )  # fmt: skip

    def unhandled(self, kind: str, raw: Any, business_id: str | None) -> UnhandledEvent:
        return UnhandledEvent(
            provider=self.provider,
            sender=self.sender,
            business_id=business_id,
            kind=kind,
            raw=raw,
        )

    def value(self, value: dict[str, Any], path: str = "") -> list[InboundEvent]:
        """A ``value`` object or an On-Premise flat body: messages, statuses, errors."""
        prefix = f"{path}." if path else ""
        bid = _number_in(value) or self.business_id
        contacts = _contacts(value.get("contacts"))
        events: list[InboundEvent] = []
        if "messages" in value:
            for k, m in enumerate(expect_list(value["messages"], f"{prefix}messages")):
                mpath = f"{prefix}messages[{k}]"
                events.append(self._message(expect_dict(m, mpath), mpath, bid, contacts))
        if "statuses" in value:
            items = expect_list(value["statuses"], f"{prefix}statuses")
            events.extend(self._statuses(items, prefix, bid, contacts))
        if "errors" in value:
            items = expect_list(value["errors"], f"{prefix}errors")
            errors = tuple(self.error_detail(e) for e in items)
            events.append(
                ErrorEvent(
                    provider=self.provider,
                    sender=self.sender,
                    business_id=bid,
                    errors=errors,
                    timestamp=None,
                    raw=items,
                )
            )
        for key, items in value.items():
            if key not in _VALUE_KNOWN_KEYS:  # e.g. message_echoes: passed on, never dropped
                events.append(self.unhandled(f"value:{key}", items, bid))
        return events

    def error_detail(self, err: Any) -> ErrorDetail:
        """One ``errors[]`` entry, classified with this provider's code table."""
        e = err if isinstance(err, dict) else {"message": str(err)}
        code = int_or_raw(e.get("code"))
        title = opt_str(e.get("title"))
        message = opt_str(e.get("message")) or title
        data = e.get("error_data")
        details = opt_str(data.get("details")) if isinstance(data, dict) else None
        details = details or opt_str(e.get("details"))  # On-Premise puts it beside title
        cls = self.classify(code)
        if cls is None:  # no code, or one we do not know: Meta's words may name it
            named = code_in_text(" ".join(t for t in (title, message, details) if t))
            cls = graph_class(named) if named is not None else None
        return ErrorDetail(
            code=code,
            title=title,
            message=message,
            details=details,
            category=(cls or ProviderError).category,
        )

    def flow_completion(
        self,
        m: dict[str, Any],
        path: str,
        *,
        user: UserRef,
        reply_to: str | None,
        business_id: str | None,
    ) -> InboundEvent:
        """A message carrying ``interactive.nfm_reply``: a Flow reply or another nfm."""
        nfm = expect_dict(
            expect_dict(m.get("interactive"), f"{path}.interactive").get("nfm_reply"),
            f"{path}.interactive.nfm_reply",
        )
        name = nfm.get("name")
        if not isinstance(name, str) or name not in self.flow_reply_names:
            return self.unhandled(f"nfm_reply:{name}", m, business_id)
        if not user and not any(opt_str(m.get(k)) for k in _SENDER_KEYS):
            # names nobody at all; a value we cannot read (a doc's "<PHONE>") is kept in raw
            raise WebhookPayloadError(f"{path}: names no user (no from, from_user_id or contact)")
        response = dict(
            decode_response_json(
                nfm.get("response_json"), f"{path}.interactive.nfm_reply.response_json"
            )
        )
        token = response.pop("flow_token", None)
        return FlowCompleted(
            provider=self.provider,
            sender=self.sender,
            business_id=business_id,
            message_id=expect_str(m.get("id"), f"{path}.id"),
            user=user,
            flow_token=opt_str(token),
            response=response,
            reply_to=reply_to,
            timestamp=unix_time(m.get("timestamp", m.get("time"))),
            raw=m,
        )

    def _message(
        self, m: dict[str, Any], path: str, bid: str | None, contacts: Contacts
    ) -> InboundEvent:
        kind = m.get("type")
        interactive = m.get("interactive")
        if kind == "interactive" and isinstance(interactive, dict):
            if interactive.get("type") == "nfm_reply":
                context = m.get("context")
                return self.flow_completion(
                    m,
                    path,
                    user=message_user(m, contacts),
                    reply_to=opt_str(context.get("id")) if isinstance(context, dict) else None,
                    business_id=bid,
                )
        elif kind == "system":
            system = m.get("system")
            change = system.get("type") if isinstance(system, dict) else None
            if isinstance(change, str) and change in _IDENTITY_CHANGES:
                assert isinstance(system, dict)
                return self._identity_change(m, system, bid)
            kind = f"system:{change}"
            return self.unhandled(f"message:{kind}", m, bid)
        return self.unhandled(f"message:{kind}", m, bid)

    def _identity_change(
        self, m: dict[str, Any], system: dict[str, Any], bid: str | None
    ) -> UserIdentityChanged:
        """``user_changed_number`` / ``user_changed_user_id`` system messages (no contacts)."""
        change = _IDENTITY_CHANGES[system["type"]]
        old_phone = m.get("from")
        new_phone = system.get("wa_id") or system.get("new_wa_id") or old_phone
        old_id, new_id = _ids_in_body(system.get("body"))
        previous = user_ref(
            old_phone,
            system.get("previous_user_id") or old_id,
            system.get("previous_parent_user_id"),
        )
        user = user_ref(
            new_phone if change == "number" else old_phone,
            system.get("user_id") or new_id or m.get("from_user_id"),
            system.get("parent_user_id") or m.get("from_parent_user_id"),
        )
        return UserIdentityChanged(
            provider=self.provider,
            sender=self.sender,
            business_id=bid,
            change="number" if change == "number" else "user_id",
            user=user,
            previous=previous,
            message_id=opt_str(m.get("id")),
            timestamp=unix_time(m.get("timestamp")),
            raw=m,
        )

    def _user_id_updates(self, change: dict[str, Any]) -> list[InboundEvent]:
        """The ``user_id_update`` field of Meta's early drafts (not subscribable since
        Aug 2026): parsed should it ever arrive, into the same event."""
        value = change.get("value")
        items = value.get("user_id_update") if isinstance(value, dict) else None
        if not isinstance(items, list):
            return [self.unhandled("change:user_id_update", change, None)]
        bid = _number_in(value)
        events: list[InboundEvent] = []
        for item in items:
            if not isinstance(item, dict):
                events.append(self.unhandled("user_id_update", item, bid))
                continue
            ids, parents = _pair(item.get("user_id")), _pair(item.get("parent_user_id"))
            phone = item.get("wa_id")
            events.append(
                UserIdentityChanged(
                    provider=self.provider,
                    sender=self.sender,
                    business_id=bid or self.business_id,
                    change="user_id",
                    user=user_ref(phone, ids[1], parents[1]),
                    previous=user_ref(phone, ids[0], parents[0]),
                    message_id=None,
                    timestamp=unix_time(item.get("timestamp")),
                    raw=item,
                )
            )
        return events

    def _statuses(
        self, items: list[Any], prefix: str, bid: str | None, contacts: Contacts
    ) -> list[InboundEvent]:
        """The hot path (status floods): one tight loop, names bound locally, paths only
        formatted when something is wrong, and what a batch shares parsed once: its
        timestamps, and the user of phone-only statuses (an immutable UserRef per phone)."""
        out: list[InboundEvent] = []
        append, provider, sender, lookup = out.append, self.provider, self.sender, _STATUSES.get
        times: dict[Any, datetime | None] = {}
        users: dict[Any, UserRef] = {}
        for k, s in enumerate(items):
            if type(s) is not dict:
                expect_dict(s, f"{prefix}statuses[{k}]")
            raw_status = s.get("status")
            status = lookup(raw_status) if type(raw_status) is str else None
            if status is None:
                append(self.unhandled(f"status:{raw_status}", s, bid))
                continue
            message_id = s.get("id")
            if type(message_id) is not str or not message_id:
                message_id = expect_str(message_id, f"{prefix}statuses[{k}].id")
            errors = s.get("errors")
            stamp = s.get("timestamp")
            try:
                when = times[stamp]
            except KeyError:
                when = times[stamp] = unix_time(stamp)
            except TypeError:  # unhashable: not a timestamp at all
                when = None
            details = tuple(map(self.error_detail, errors)) if type(errors) is list else ()
            if contacts or "recipient_user_id" in s or "recipient_type" in s:
                user = status_user(s, contacts)
            else:  # a phone only (pre-2026, On-Premise, failed sends to a phone); parent
                # ids come only beside a recipient_user_id
                phone = s.get("recipient_id")
                try:
                    user = users[phone]
                except KeyError:
                    user = users[phone] = new_user(e164(phone), None, None, None)
                except TypeError:  # unhashable: not a phone at all
                    user = new_user(None, None, None, None)
            append(_new_status(provider, sender, bid, message_id, user, status, details, when, s))
        return out


def _contacts(items: Any) -> Contacts:
    if type(items) is not list:
        return {}
    found: dict[str, Mapping[str, Any]] = {}
    for c in items:
        if type(c) is dict:
            for key in ("wa_id", "user_id", "parent_user_id"):
                value = c.get(key)
                if type(value) is str and value:
                    found.setdefault(value, c)
    return found


def _contact(contacts: Contacts, *ids: Any) -> Mapping[str, Any]:
    named = False
    for value in ids:
        if type(value) is str and value:
            named = True
            contact = contacts.get(value)
            if contact is not None:
                return contact
    if not named and len({id(c) for c in contacts.values()}) == 1:
        return next(iter(contacts.values()))  # an item naming nobody, in a one-user batch
    return {}


def _username(contact: Mapping[str, Any]) -> Any:
    profile = contact.get("profile")
    return profile.get("username") if type(profile) is dict else None


def message_user(m: Mapping[str, Any], contacts: Contacts) -> UserRef:
    """The user who sent ``m``: ``from`` / ``from_user_id`` / ``from_parent_user_id``,
    completed from the ``contacts[]`` entry that names the same user."""
    phone, user_id, parent = m.get("from"), m.get("from_user_id"), m.get("from_parent_user_id")
    return _completed(contacts, phone, user_id, parent)


def status_user(s: Mapping[str, Any], contacts: Contacts) -> UserRef:
    """The recipient of a status: ``recipient_id`` / ``recipient_user_id`` / the parent id
    (spelled ``parent_recipient_user_id`` in Meta's April 2026 draft); for a group status,
    the participant it is about."""
    if s.get("recipient_type") == "group":
        phone = s.get("recipient_participant_id")
        user_id = s.get("recipient_participant_user_id")
        parent = s.get("recipient_participant_parent_user_id")
    else:
        phone, user_id = s.get("recipient_id"), s.get("recipient_user_id")
        parent = s.get("recipient_parent_user_id") or s.get("parent_recipient_user_id")
    if not contacts:  # failed statuses and pre-2026 payloads: the cheap path
        return user_ref(phone, user_id, parent)
    return _completed(contacts, phone, user_id, parent)


def _completed(contacts: Contacts, phone: Any, user_id: Any, parent: Any) -> UserRef:
    """The user an item names, completed from the ``contacts[]`` entry naming the same."""
    c = _contact(contacts, user_id, phone, parent)
    return user_ref(
        phone or c.get("wa_id"),
        user_id or c.get("user_id"),
        parent or c.get("parent_user_id"),
        _username(c),
    )


def _ids_in_body(body: Any) -> tuple[str | None, str | None]:
    """The BSUIDs in "User A changed from <OLD_BSUID> to <NEW_BSUID>", when they are."""
    m = _CHANGED_FROM_TO.search(body) if isinstance(body, str) else None
    if m is None or not (is_bsuid(m.group(1)) and is_bsuid(m.group(2))):
        return None, None
    return m.group(1), m.group(2)


def _pair(value: Any) -> tuple[Any, Any]:
    """``{"previous": …, "current": …}`` → (previous, current)."""
    if isinstance(value, dict):
        return value.get("previous"), value.get("current")
    return None, None
