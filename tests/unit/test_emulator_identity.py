"""Users without phone numbers (BSUIDs), checked on the wire: send answers and raw webhooks.

The expected shapes are reference/identity.md §2.2–2.5 (Meta's business-scoped user id
page), §5 (Sinch) and §6 (1msg).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gateway.emulator import Emulator, bsuid_for
from tests.unit.emulator_wire import (
    CLOUD,
    PHONE,
    control,
    docs,
    emulator,
    meta_body,
    request,
    send,
    value,
)

DIGITS = PHONE.lstrip("+")
HIDDEN = "+5511987654321"
PARENT = "US.ENT.11815799212886844830"
BSUID_RE = re.compile(r"^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$")


def _hidden_user(emu: Emulator) -> str:
    user = emu.register_user(
        HIDDEN, username="pablo.m", hide_phone=True, parent_user_id=PARENT, name="Pablo M."
    )
    return user.user_id


def _cloud_flow(emu: Emulator, provider: str, message_id: str) -> list[dict[str, Any]]:
    calls = emu.callbacks(message_id, {"ok": True}, ("sent", "delivered", "read"))
    return [value(d) for d in docs(calls)]


# -- BSUIDs ----------------------------------------------------------------------------


def test_bsuids_are_derived_from_the_phone() -> None:
    bsuid = bsuid_for(PHONE)
    assert BSUID_RE.match(bsuid)
    assert bsuid == bsuid_for(DIGITS) == bsuid_for("+1 (650) 555-1234")
    assert bsuid.startswith("US.")
    assert bsuid_for(HIDDEN).startswith("BR.")
    assert bsuid_for("+16505551235") != bsuid
    assert bsuid_for(PHONE, 1) != bsuid
    assert emulator().register_user(PHONE).user_id == bsuid


def test_registration_is_checked() -> None:
    emu = emulator()
    with pytest.raises(ValueError, match="phone"):
        emu.register_user("US.123")
    with pytest.raises(ValueError, match="parent"):
        emu.register_user(PHONE, parent_user_id="US.123")
    with pytest.raises(ValueError, match="username"):
        emu.register_user(PHONE, username="..bad")
    with pytest.raises(KeyError):
        emu.user("+4930123456")
    emu.register_user(PHONE, parent_user_id=PARENT)
    with pytest.raises(ValueError, match="another"):
        emu.register_user(HIDDEN, parent_user_id=PARENT)  # a parent names one user
    emu.register_user(HIDDEN)
    with pytest.raises(ValueError, match="another"):
        emu.user_changed_number("meta_cloud", PHONE, HIDDEN)
    assert emu.user(PHONE).user_id == bsuid_for(PHONE)  # a refused change changes nothing


# -- sending ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", CLOUD)
def test_cloud_send_answers_name_the_recipient_as_sent(provider: str) -> None:
    emu = emulator()
    bsuid = _hidden_user(emu)
    phone_resp, _ = send(emu, provider, PHONE)
    assert phone_resp.json()["contacts"] == [{"input": PHONE, "wa_id": DIGITS}]
    bsuid_resp, _ = send(emu, provider, bsuid)
    assert bsuid_resp.json()["contacts"] == [{"input": bsuid, "user_id": bsuid}]
    parent_resp, _ = send(emu, provider, PARENT)
    assert parent_resp.json()["contacts"] == [{"input": PARENT, "user_id": PARENT}]
    both = emu.respond(request(provider, body=meta_body(to=PHONE, recipient=bsuid)))
    assert both.json()["contacts"] == [{"input": PHONE, "wa_id": DIGITS}]  # `to` wins
    assert [m.to for m in emu.sent(provider)] == [PHONE, bsuid, PARENT, PHONE]


@pytest.mark.parametrize("provider", CLOUD)
@pytest.mark.parametrize(
    ("recipient", "code", "fragment"),
    [
        ({"to": "US.13491208655302741918"}, 131009, "recipient"),
        ({}, 131008, "`to` or `recipient`"),
        ({"recipient": "+16505551234"}, 131009, "recipient"),
        ({"recipient": "us.123"}, 131009, "recipient"),
        ({"to": "hello"}, 131009, "phone number"),
    ],
)
def test_cloud_refuses_misplaced_recipients(
    provider: str, recipient: dict[str, str], code: int, fragment: str
) -> None:
    emu = emulator()
    resp = emu.respond(request(provider, body=meta_body(**recipient)))
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == code
    assert fragment in error["error_data"]["details"]
    assert emu.sent() == []


def test_on_premise_refuses_bsuids_its_own_way() -> None:
    emu = emulator()
    body = json.loads(request("dialog360_onprem").content)
    for bad in ({**body, "to": "US.13491208655302741918"}, {**body, "recipient": PARENT}):
        resp = emu.respond(request("dialog360_onprem", body=bad))
        assert resp.status_code == 400
        [error] = resp.json()["errors"]
        assert error["code"] == 1009
        assert "meta" in resp.json()
    assert emu.sent() == []


def test_sinch_and_onemsg_take_bsuids_where_their_apis_do() -> None:
    emu = emulator()
    bsuid = _hidden_user(emu)
    send(emu, "sinch", bsuid)
    send(emu, "onemsg", f"{bsuid}@lid")
    template = {
        "chatId": f"{bsuid}@lid",
        "template": "signup_flow",
        "namespace": "ns",
        "language": {"policy": "deterministic", "code": "en"},
        "params": [{"type": "button", "sub_type": "flow", "index": "0"}],
    }
    resp = emu.respond(request("onemsg", body=template, method="sendTemplate"))
    assert resp.json()["sent"] is True
    assert emu.respond(request("sinch", "not-an-identity")).status_code == 400
    # any <id>@lid is a chat id 1msg takes (usernames too: issue 16); no other domain is
    assert emu.respond(request("onemsg", "hello@nowhere")).status_code == 400
    assert len(emu.sent()) == 3


# -- callbacks: Meta and 360dialog Cloud ------------------------------------------------


@pytest.mark.parametrize("provider", CLOUD)
def test_visible_phone_callbacks_are_todays_plus_the_user_id(provider: str) -> None:
    emu = emulator()
    _, message_id = send(emu, provider, PHONE)
    values = _cloud_flow(emu, provider, message_id)
    bsuid = bsuid_for(PHONE)
    for status, val in zip(("sent", "delivered", "read"), values, strict=False):
        [item] = val["statuses"]
        assert item == {
            "id": message_id,
            "status": status,
            "timestamp": item["timestamp"],
            "recipient_id": DIGITS,
            "recipient_user_id": bsuid,
        }
        profile = {"name": "Emulated User"}
        assert val["contacts"] == [{"profile": profile, "wa_id": DIGITS, "user_id": bsuid}]
        assert val["metadata"]["phone_number_id"]
    [message] = values[3]["messages"]
    assert values[3]["contacts"] == [
        {"profile": {"name": "Emulated User"}, "wa_id": DIGITS, "user_id": bsuid}
    ]
    assert (message["from"], message["from_user_id"]) == (DIGITS, bsuid)
    assert message["context"]["id"] == message_id
    response = json.loads(message["interactive"]["nfm_reply"]["response_json"])
    assert response == {"flow_token": "T", "ok": True}


@pytest.mark.parametrize("provider", CLOUD)
def test_a_username_user_reached_by_bsuid_stays_without_phone(provider: str) -> None:
    emu = emulator()
    bsuid = _hidden_user(emu)
    _, message_id = send(emu, provider, bsuid)
    values = _cloud_flow(emu, provider, message_id)
    assert HIDDEN.lstrip("+") not in json.dumps(values)  # the phone never leaks
    for status, val in zip(("sent", "delivered", "read"), values, strict=False):
        [item] = val["statuses"]
        assert "recipient_id" not in item
        assert (item["recipient_user_id"], item["recipient_parent_user_id"]) == (bsuid, PARENT)
        [contact] = val["contacts"]
        assert (contact["user_id"], contact["parent_user_id"]) == (bsuid, PARENT)
        assert "wa_id" not in contact
        assert contact["profile"].get("username") == (None if status == "sent" else "pablo.m")
        assert val["metadata"]["phone_number_id"]
    [message] = values[3]["messages"]
    assert "from" not in message
    assert (message["from_user_id"], message["from_parent_user_id"]) == (bsuid, PARENT)
    assert values[3]["contacts"] == [
        {
            "profile": {"name": "Pablo M.", "username": "pablo.m"},
            "user_id": bsuid,
            "parent_user_id": PARENT,
        }
    ]


def test_sending_to_the_phone_of_a_hidden_user_shows_it() -> None:
    emu = emulator()
    bsuid = _hidden_user(emu)
    _, message_id = send(emu, "meta_cloud", HIDDEN)  # Meta's 30-day rule: we messaged it
    values = _cloud_flow(emu, "meta_cloud", message_id)
    assert values[0]["statuses"][0]["recipient_id"] == HIDDEN.lstrip("+")
    assert values[0]["statuses"][0]["recipient_user_id"] == bsuid
    assert values[3]["messages"][0]["from"] == HIDDEN.lstrip("+")


def test_a_send_to_a_parent_or_unknown_bsuid_reaches_that_user() -> None:
    emu = emulator()
    bsuid = _hidden_user(emu)
    _, message_id = send(emu, "meta_cloud", PARENT)
    [message] = _cloud_flow(emu, "meta_cloud", message_id)[3]["messages"]
    assert (message["from_user_id"], message["from_parent_user_id"]) == (bsuid, PARENT)
    stranger = "GB.99999999999999999999"
    _, message_id = send(emu, "meta_cloud", stranger)
    values = _cloud_flow(emu, "meta_cloud", message_id)
    assert values[0]["statuses"][0]["recipient_user_id"] == stranger
    assert "from" not in values[3]["messages"][0]
    assert emu.user(stranger).phone is None


def test_a_bsuid_seen_in_a_webhook_reaches_the_same_user() -> None:
    emu = emulator()
    _, first = send(emu, "meta_cloud", PHONE)
    bsuid = _cloud_flow(emu, "meta_cloud", first)[0]["statuses"][0]["recipient_user_id"]
    _, second = send(emu, "meta_cloud", bsuid)
    [item] = _cloud_flow(emu, "meta_cloud", second)[0]["statuses"]
    assert (item["recipient_id"], item["recipient_user_id"]) == (DIGITS, bsuid)


def test_on_premise_callbacks_stay_phone_only() -> None:
    emu = emulator()
    _hidden_user(emu)
    _, message_id = send(emu, "dialog360_onprem", HIDDEN)
    raw = [call.body for call in emu.callbacks(message_id, {"ok": True})]
    assert not any(b"user_id" in body or b"username" in body for body in raw)
    [status] = json.loads(raw[0])["statuses"]
    assert status["recipient_id"] == HIDDEN.lstrip("+")


# -- callbacks: Sinch and 1msg ---------------------------------------------------------


def test_sinch_names_a_hidden_user_by_bsuid() -> None:
    emu = emulator()
    bsuid = _hidden_user(emu)
    visible = emu.register_user(PHONE).user_id
    for to, identity in ((bsuid, bsuid), (visible, DIGITS), (PHONE, PHONE)):
        _, message_id = send(emu, "sinch", to)
        bodies = docs(emu.callbacks(message_id, {"ok": True}))
        reports = [d["message_delivery_report"] for d in bodies[:-1]]
        assert {r["channel_identity"]["identity"] for r in reports} == {identity}
        assert bodies[-1]["message"]["channel_identity"]["identity"] == identity


def test_onemsg_names_a_hidden_user_by_lid_and_acks_carry_the_bsuid() -> None:
    emu = emulator()
    bsuid = _hidden_user(emu)
    for to, chat, user_id in (
        (f"{bsuid}@lid", f"{bsuid}@lid", bsuid),
        (PHONE, f"{DIGITS}@c.us", bsuid_for(PHONE)),
    ):
        _, message_id = send(emu, "onemsg", to)
        bodies = docs(emu.callbacks(message_id, {"ok": True}))
        for ack in [a for d in bodies for a in d.get("ack", [])]:
            assert (ack["chatId"], ack["bsuid"]) == (chat, user_id)
        [message] = bodies[-1]["messages"]
        assert (message["chatId"], message["authorBsuid"]) == (chat, user_id)


# -- identity changes ------------------------------------------------------------------


@pytest.mark.parametrize("provider", CLOUD)
def test_user_changed_number(provider: str) -> None:
    emu = emulator()
    old_id = emu.register_user(PHONE, parent_user_id=PARENT).user_id
    new_phone = "+16505559999"
    [call] = emu.user_changed_number(provider, PHONE, new_phone)
    val = value(json.loads(call.body))
    assert "contacts" not in val
    [message] = val["messages"]
    assert (message["type"], message["from"]) == ("system", DIGITS)
    new_id = bsuid_for(new_phone)
    assert message["system"] == {
        "type": "user_changed_number",
        "body": f"User Emulated User changed from {DIGITS} to 16505559999",
        "wa_id": "16505559999",
        "user_id": new_id,
        "previous_user_id": old_id,
        "parent_user_id": PARENT,
        "previous_parent_user_id": PARENT,
    }
    assert val["metadata"]["phone_number_id"]
    assert emu.user(new_phone).user_id == new_id
    assert emu.user(PARENT).phone == "16505559999"
    with pytest.raises(KeyError):
        emu.user(PHONE)


@pytest.mark.parametrize("provider", CLOUD)
def test_user_changed_user_id(provider: str) -> None:
    emu = emulator()
    bsuid = _hidden_user(emu)
    [call] = emu.user_changed_user_id(provider, bsuid)
    [message] = value(json.loads(call.body))["messages"]
    assert "from" not in message  # the phone is hidden
    system = message["system"]
    new_id = bsuid_for(HIDDEN, 1)
    assert (system["type"], system["user_id"], system["previous_user_id"]) == (
        "user_changed_user_id",
        new_id,
        bsuid,
    )
    assert "wa_id" not in system
    _, message_id = send(emu, provider, new_id)  # later messages use the new id
    [item] = _cloud_flow(emu, provider, message_id)[0]["statuses"]
    assert item["recipient_user_id"] == new_id
    [call] = emu.user_changed_user_id(provider, new_id, new_user_id="US.42")
    assert (
        json.loads(call.body)["entry"][0]["changes"][0]["value"]["messages"][0]["system"]["user_id"]
        == "US.42"
    )


@pytest.mark.parametrize("provider", ["dialog360_onprem", "sinch", "onemsg"])
def test_identity_changes_are_cloud_only(provider: str) -> None:
    emu = emulator()
    emu.register_user(PHONE)
    with pytest.raises(ValueError, match="not emulated"):
        emu.user_changed_user_id(provider, PHONE)
    assert emu.user(PHONE).user_id == bsuid_for(PHONE)  # nothing changed


# -- control API -----------------------------------------------------------------------


def test_control_api_registers_users() -> None:
    emu = emulator()
    spec = {"phone": HIDDEN, "username": "pablo.m", "hide_phone": True, "parent_user_id": PARENT}
    user = control(emu, "POST", "/_emulator/users", spec).json()
    assert user["user_id"] == bsuid_for(HIDDEN)
    assert (user["phone"], user["username"], user["hide_phone"]) == (
        "5511987654321",
        "pablo.m",
        True,
    )
    listed = control(emu, "GET", "/_emulator/users").json()
    assert [u["user_id"] for u in listed] == [user["user_id"]]
    assert control(emu, "POST", "/_emulator/users", {"phone": "x"}).status_code == 400
    assert control(emu, "POST", "/_emulator/users", {}).status_code == 400
    _, message_id = send(emu, "meta_cloud", user["user_id"])
    [sent] = control(emu, "GET", "/_emulator/messages").json()
    assert (sent["message_id"], sent["user"]["user_id"]) == (message_id, user["user_id"])


def test_control_api_posts_identity_changes() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from gateway.emulator.server import LoopbackServer

    received: list[bytes] = []

    async def hook(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=200)

    emu = emulator()
    emu.register_user(PHONE)
    change = {"provider": "meta_cloud", "user": PHONE, "type": "user_changed_user_id"}
    assert control(emu, "POST", "/_emulator/identity", change).status_code == 409
    server = LoopbackServer()
    server.start_thread(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    try:
        emu.set_webhook("meta_cloud", f"{server.url}/hook")
        resp = control(emu, "POST", "/_emulator/identity", change)
        assert resp.json()["delivered"] == [200]
        assert resp.json()["user"]["user_id"] == bsuid_for(PHONE, 1)
        unknown = {**change, "user": "+4930123456"}
        assert control(emu, "POST", "/_emulator/identity", unknown).status_code == 404
        wrong = {**change, "type": "user_changed_name"}
        assert control(emu, "POST", "/_emulator/identity", wrong).status_code == 400
    finally:
        server.stop_thread()
    [body] = received
    [message] = value(json.loads(body))["messages"]
    assert message["system"]["previous_user_id"] == bsuid_for(PHONE)
