"""Who a user is: phone normalization, BSUIDs, recipient kinds, and the import order that
third-party adapters rely on."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

import gateway
from gateway.identity import UserRef, addressed, e164, phone_problem, recipient_kind, user_ref
from gateway.model import FlowMessage

BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("16505551234", "+16505551234"),  # Meta's wa_id
        ("+46732001122", "+46732001122"),  # Sinch's identity
        (16505551234, "+16505551234"),  # 1msg's integer phone
        ("+1 (631) 555-8889", "+16315558889"),  # On-Premise system message body
        ("", None),  # withheld, in payloads before Feb 2026
        (None, None),
        ("<USER_PHONE_NUMBER>", None),  # a documentation placeholder
        ("fowefinoewcnw", None),  # a group id
        ("120363046942338209@g.us", None),
        (True, None),
        (0, None),
        ("1234567890123456", None),  # longer than E.164 allows
    ],
)
def test_e164_takes_every_provider_format_and_nothing_else(raw: object, phone: str | None) -> None:
    assert e164(raw) == phone


def test_user_ref_treats_empty_strings_as_absent_and_strips_the_at() -> None:
    assert user_ref("", BSUID, "", "@realsheenanelson") == UserRef(
        user_id=BSUID, username="realsheenanelson"
    )
    assert user_ref(None, None) == UserRef()
    assert not UserRef()
    assert UserRef(phone="+1650", user_id=BSUID).key == BSUID  # key users by BSUID


@pytest.mark.parametrize(
    ("to", "kind", "user"),
    [
        ("+16505551234", "phone", UserRef(phone="+16505551234")),
        ("16505551234", "phone", UserRef(phone="+16505551234")),
        (BSUID, "user_id", UserRef(user_id=BSUID)),
        ("BR.1502576394655843", "user_id", UserRef(user_id="BR.1502576394655843")),
        (PARENT, "parent_user_id", UserRef(parent_user_id=PARENT)),
    ],
)
def test_recipient_kinds(to: str, kind: str, user: UserRef) -> None:
    assert recipient_kind(to) == kind
    assert addressed(to) == user
    assert (
        FlowMessage(to=to, flow_id="1", flow_cta="Go", body="b", screen="S").recipient_kind == kind
    )


@pytest.mark.parametrize(
    ("to", "problem"),
    [
        ("+16505551234", None),
        ("447700900123", None),
        ("+390612345678", None),  # Italian numbers keep their leading zero
        ("+1415555", "too_short"),
        ("+999123456", "invalid_country_code"),
        ("+4477009001234567", "too_long"),
    ],
)
def test_phone_problems_come_from_libphonenumber(to: str, problem: str | None) -> None:
    assert phone_problem(to) == problem


@pytest.mark.parametrize(
    ("to", "rule"),
    [
        ("+1415555", "invalid_phone"),
        ("+999123456", "invalid_phone"),
        ("+1 650 555 1234", "invalid_recipient"),  # formatting is the caller's to strip
        ("us.1349120865", "invalid_recipient"),  # country codes are upper case
        ("US.", "invalid_recipient"),
        ("12020721369@c.us", "invalid_recipient"),  # a 1msg chat id is not an address
        ("01HCONTACT00000000000000ZZ", "invalid_recipient"),  # nor a Sinch contact id
        ("US." + "1" * 129, "invalid_recipient"),  # BSUIDs have at most 128 characters
    ],
)
def test_bad_recipients_name_the_field_and_the_rule(to: str, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        FlowMessage(to=to, flow_id="1", flow_cta="Go", body="b", screen="S")
    [err] = info.value.errors()
    assert (err["loc"], err["type"]) == (("to",), rule)


# -- the import order third-party adapters start from ------------------------------------

HEAVY = ("httpx", "tenacity", "structlog", "aiohttp", "starlette", "phonenumbers")


@pytest.mark.parametrize(
    "statement",
    [
        "import providers",
        "from providers.base import Adapter",
        "import providers.meta_cloud",
        "import gateway.model",
        "import gateway.events",
        "import gateway",
        "from gateway import FlowMessage, UserRef, InvalidRequest",
    ],
)
def test_a_fresh_interpreter_imports_the_core_without_the_io_libraries(statement: str) -> None:
    code = f"{statement}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(  # noqa: S603 - our own interpreter, a fixed statement
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_public_names_resolve_lazily() -> None:
    assert set(gateway.__all__) == set(gateway._EXPORTS)
    for name in gateway.__all__:
        assert getattr(gateway, name) is not None
    assert set(gateway.__all__) <= set(dir(gateway))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        gateway.Nope  # noqa: B018


def test_the_recipient_kind_follows_a_copied_message() -> None:
    msg = FlowMessage(to="+16505551234", flow_id="1", flow_cta="Go", body="b", screen="S")
    assert msg.recipient_kind == "phone"
    assert msg.model_copy(update={"to": BSUID}).recipient_kind == "user_id"
