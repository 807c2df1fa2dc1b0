"""The ``value`` objects of Meta-shaped webhooks (Cloud API, 360dialog Cloud, On-Premise).

Cloud payloads name the user the 2026 way: ``from_user_id`` / ``recipient_user_id``
always, the phone only when the business may see it, a ``contacts`` block on every
message and on sent/delivered/read statuses (``username`` never on ``sent``), none on
failed statuses. On-Premise (``scoped=False``) predates BSUIDs: phone only.
https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids
"""

from __future__ import annotations

from typing import Any

from gateway.emulator.base import Sent
from gateway.emulator.users import IdentityChange, SimUser

BUSINESS_NUMBER = "15550001111"
PHONE_NUMBER_ID = "100000000000360"  # when the account names none (360dialog)
WABA_ID = "200000000000360"
ERROR_CODES_PAGE = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
WINDOW_DETAILS = (
    "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number."
)
WINDOW_131047 = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {"details": WINDOW_DETAILS},
    "href": ERROR_CODES_PAGE,
}
WINDOW_470 = {
    "code": 470,
    "title": "Failed to send message because you are outside the support window for "
    "freeform messages to this user. Please use a valid HSM notification or reconsider.",
}


def _user(sent: Sent) -> SimUser:
    # Meta-family schemas only let phones and BSUIDs through, so a user always resolves.
    assert sent.user is not None, "Meta-family sends always name a user"
    return sent.user


def contact(user: SimUser, *, phone: bool, username: bool, scoped: bool) -> dict[str, Any]:
    """One ``contacts[]`` entry: profile, then ``wa_id`` / ``user_id`` / ``parent_user_id``."""
    profile: dict[str, Any] = {"name": user.name}
    if scoped and username and user.username:
        profile["username"] = user.username
    entry: dict[str, Any] = {"profile": profile}
    if phone:
        entry["wa_id"] = user.phone
    if scoped:
        entry["user_id"] = user.user_id
        if user.parent_user_id:
            entry["parent_user_id"] = user.parent_user_id
    return entry


def status_value(sent: Sent, status: str, now: str, *, scoped: bool) -> dict[str, Any]:
    user = _user(sent)
    phone = user.phone_visible(sent.to_phone)
    item: dict[str, Any] = {"id": sent.message_id, "status": status, "timestamp": now}
    if phone:
        item["recipient_id"] = user.phone
    if not scoped:
        return {"statuses": [item]}
    item["recipient_user_id"] = user.user_id
    if user.parent_user_id:
        item["recipient_parent_user_id"] = user.parent_user_id
    entry = contact(user, phone=phone, username=status != "sent", scoped=True)
    return {"contacts": [entry], "statuses": [item]}


def failed_value(sent: Sent, error: dict[str, Any], now: str, *, scoped: bool) -> dict[str, Any]:
    """A failed status: no ``contacts``; no BSUID when the message went to a phone."""
    user = _user(sent)
    item: dict[str, Any] = {"id": sent.message_id, "status": "failed", "timestamp": now}
    if user.phone_visible(sent.to_phone):
        item["recipient_id"] = user.phone
    if scoped and not sent.to_phone:
        item["recipient_user_id"] = user.user_id
        if user.parent_user_id:
            item["recipient_parent_user_id"] = user.parent_user_id
    item["errors"] = [error]
    return {"statuses": [item]}


def completion_value(
    sent: Sent, nfm_reply: dict[str, Any], message_id: str, now: str, *, scoped: bool
) -> dict[str, Any]:
    """The user's ``nfm_reply`` to the Flow message, with who sent it."""
    user = _user(sent)
    phone = user.phone_visible(sent.to_phone)
    message: dict[str, Any] = {"context": {"from": BUSINESS_NUMBER, "id": sent.message_id}}
    if phone:
        message["from"] = user.phone
    if scoped:
        message["from_user_id"] = user.user_id
        if user.parent_user_id:
            message["from_parent_user_id"] = user.parent_user_id
    message |= {
        "id": message_id,
        "timestamp": now,
        "type": "interactive",
        "interactive": {"type": "nfm_reply", "nfm_reply": nfm_reply},
    }
    entry = contact(user, phone=phone, username=True, scoped=scoped)
    return {"contacts": [entry], "messages": [message]}


def system_value(
    kind: IdentityChange, before: SimUser, after: SimUser, message_id: str, now: str
) -> dict[str, Any]:
    """A ``user_changed_number`` / ``user_changed_user_id`` system message (no contacts)."""
    if kind == "user_changed_number":
        body = f"User {before.name} changed from {before.phone} to {after.phone}"
    else:
        body = f"User {before.name} changed from {before.user_id} to {after.user_id}"
    system: dict[str, Any] = {"type": kind, "body": body}
    if kind == "user_changed_number":
        system["wa_id"] = after.phone
    system |= {"user_id": after.user_id, "previous_user_id": before.user_id}
    if after.parent_user_id:
        system["parent_user_id"] = after.parent_user_id
    if before.parent_user_id:
        system["previous_parent_user_id"] = before.parent_user_id
    message: dict[str, Any] = {}
    if before.phone_visible(False):
        message["from"] = before.phone
    message |= {
        "from_user_id": before.user_id,
        "id": message_id,
        "timestamp": now,
        "type": "system",
        "system": system,
    }
    return {"messages": [message]}
