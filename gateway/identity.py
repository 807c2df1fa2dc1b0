"""Who a WhatsApp user is: a phone number, a business-scoped user id, a username.

Since 2026 a user may hide the phone number behind a username; Meta and the BSPs then
name the user by a business-scoped user id (BSUID, ``US.13491208655302741918``, unique
per business portfolio) and, for enrolled businesses, a parent BSUID
(``US.ENT.11815799212886844830``). Phone numbers are optional everywhere; the BSUID is
the stable key. https://developers.facebook.com/docs/whatsapp/business-scoped-user-ids
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from gateway.fast import fast_constructor

RecipientKind = Literal["phone", "user_id", "parent_user_id"]

# Meta: ISO 3166 alpha-2 country code, a dot, up to 128 alphanumerics ("ENT." for a
# parent id). Every published example is digits; Meta's text says alphanumeric.
BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
_PARENT = re.compile(r"[A-Z]{2}\.ENT\.")
_PHONE_DIGITS = re.compile(r"\+?[0-9]{1,15}")
_PHONE_START = frozenset("+0123456789")
_FORMATTING = str.maketrans("", "", " ()-.\u00a0")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRef:
    """A WhatsApp user as a provider names it; any field may be unknown (None).

    ``phone`` is E.164 with a leading ``+`` whatever the provider's own format;
    ``user_id`` is the BSUID (the key to store users by: phones may be withheld, and
    change); ``username`` changes at will, so never key anything by it.
    """

    phone: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None

    @property
    def key(self) -> str | None:
        """The identifier to store this user by: the BSUID when known, else the phone."""
        return self.user_id or self.parent_user_id or self.phone

    def __bool__(self) -> bool:
        return self.key is not None


new_user: Callable[[Any, Any, Any, Any], UserRef] = fast_constructor(UserRef)
"""``UserRef(phone, user_id, parent_user_id, username)`` of checked values, built fast:
webhook floods build one per status (the instance is as frozen as any)."""


def recipient_kind(to: str) -> RecipientKind:
    """How a validated ``FlowMessage.to`` addresses the user."""
    if to[:1] in _PHONE_START:  # every send asks: skip the regex for phone numbers
        return "phone"
    if BSUID.fullmatch(to):
        return "parent_user_id" if _PARENT.match(to) else "user_id"
    return "phone"


def is_bsuid(value: str) -> bool:
    return BSUID.fullmatch(value) is not None


def e164(value: Any) -> str | None:
    """A provider's phone field (``16505551234``, ``+1 (650) 555-1234``) as ``+16505551234``.

    None for anything that is not a phone number: absent, empty (older payloads sent
    ``""`` for withheld numbers), a group id or a placeholder. No validity check: a
    provider's number is taken as the provider reports it.
    """
    if type(value) is str:
        if value.isdigit() and value.isascii() and len(value) <= 15:  # Meta's wa_id: fast
            return "+" + value
        text: str = value
    elif type(value) is int and value > 0:
        text = str(value)
    else:
        return None
    if not _PHONE_DIGITS.fullmatch(text):
        text = text.translate(_FORMATTING)
        if not _PHONE_DIGITS.fullmatch(text):
            return None
    return text if text[0] == "+" else "+" + text


def user_ref(
    phone: Any = None, user_id: Any = None, parent_user_id: Any = None, username: Any = None
) -> UserRef:
    """A :class:`UserRef` from raw payload values (empty strings and non-strings are None)."""
    if user_id is None and parent_user_id is None and username is None:  # status floods
        return new_user(e164(phone), None, None, None)
    return new_user(e164(phone), _text(user_id), _text(parent_user_id), _username(username))


def addressed(to: str) -> UserRef:
    """The user a recipient string names (``FlowMessage.to``, a send response's ``input``)."""
    kind = recipient_kind(to)
    if kind == "user_id":
        return UserRef(user_id=to)
    if kind == "parent_user_id":
        return UserRef(parent_user_id=to)
    return UserRef(phone=e164(to))


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


def _username(value: Any) -> str | None:
    # Meta's 2025 examples wrote "@name"; the handle itself never contains "@".
    text = _text(value)
    return text.removeprefix("@") or None if text else None


# -- outbound validation ---------------------------------------------------------------

PhoneProblem = Literal["invalid_country_code", "too_short", "too_long", "invalid_length"]


def phone_problem(number: str) -> PhoneProblem | None:
    """Why ``number`` (digits, ``+`` optional) cannot be a phone number, or None.

    Checks the country calling code and the lengths possible in that country with
    libphonenumber's metadata (the ``phonenumbers`` package), not the full numbering
    plan: a new range must not be refused by out-of-date metadata.
    """
    return _phone_problem(number.removeprefix("+"))


@lru_cache(maxsize=16384)  # repeat recipients are common; parsing is ~6 µs
def _phone_problem(digits: str) -> PhoneProblem | None:
    import phonenumbers  # 50 ms to import: only once a phone is checked

    for size in (1, 2, 3):  # calling codes have 1-3 digits and none prefixes another
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            zeros = len(national) - len(national.lstrip("0"))
            number = phonenumbers.PhoneNumber(
                country_code=code,
                national_number=int(national or "0"),
                italian_leading_zero=zeros > 0 or None,
                number_of_leading_zeros=zeros if zeros > 1 else None,
            )
            result = phonenumbers.ValidationResult
            problems: dict[int, PhoneProblem] = {
                result.INVALID_COUNTRY_CODE: "invalid_country_code",
                result.TOO_SHORT: "too_short",
                result.TOO_LONG: "too_long",
                result.INVALID_LENGTH: "invalid_length",
                result.IS_POSSIBLE_LOCAL_ONLY: "too_short",  # no calling from abroad
            }
            return problems.get(phonenumbers.is_possible_number_with_reason(number))
    return "invalid_country_code"
