"""The simulated WhatsApp users: phone, business-scoped user id (BSUID), username.

Every user has a BSUID (``user_id``), derived from the phone so tests can predict it
(:func:`bsuid_for`); optionally a parent BSUID and a username with the phone hidden. One
directory serves every emulated provider, as if all their accounts were one business
portfolio (a real BSUID is per portfolio). Upstream:
https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Literal

BSUID = re.compile(r"^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{4,23}$")
_USERNAME = re.compile(r"^(?=.*[a-z])[a-z0-9._]{3,35}$")
DEFAULT_NAME = "Emulated User"
IdentityChange = Literal["user_changed_number", "user_changed_user_id"]

# Calling code -> ISO country, for the BSUID prefix; longest prefix wins, else "ZZ"
# (ISO's user-assigned code: still a valid BSUID prefix).
_COUNTRIES = {
    "1": "US", "7": "RU", "27": "ZA", "31": "NL", "33": "FR", "34": "ES", "39": "IT",
    "44": "GB", "46": "SE", "49": "DE", "52": "MX", "54": "AR", "55": "BR", "57": "CO",
    "62": "ID", "91": "IN", "234": "NG", "351": "PT", "971": "AE", "972": "IL",
}  # fmt: skip


def is_bsuid(value: str) -> bool:
    """A business-scoped user id or a parent BSUID (``US.1349…``, ``US.ENT.1181…``)."""
    return BSUID.match(value) is not None


def is_phone(value: str) -> bool:
    """A phone number as Meta accepts it in ``to``: digits, ``+`` and formatting only."""
    return _PHONE.match(value) is not None and 6 <= len(digits(value)) <= 15


def digits(phone: str) -> str:
    return re.sub(r"[^0-9]", "", phone)


def _country(phone: str) -> str:
    for size in (3, 2, 1):
        if phone[:size] in _COUNTRIES:
            return _COUNTRIES[phone[:size]]
    return "ZZ"


def _hash_digits(seed: str) -> str:
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return f"{number:020d}"


def bsuid_for(phone: str, generation: int = 0) -> str:
    """The BSUID the emulator gives ``phone``: country + 20 digits of a hash.

    ``generation`` counts ``user_changed_user_id`` events: each one mints a new id.
    """
    number = digits(phone)
    seed = f"bsuid:{number}" + (f":{generation}" if generation else "")
    return f"{_country(number)}.{_hash_digits(seed)}"


def check_username(username: str) -> str:
    """Meta's username rules (3–35 of ``a-z0-9._``, a letter, no edge or double dots)."""
    name = username.lower()
    if not _USERNAME.match(name) or name.startswith((".", "www")) or name.endswith("."):
        raise ValueError(f"invalid WhatsApp username {username!r}")
    if ".." in name:
        raise ValueError(f"invalid WhatsApp username {username!r}")
    return name


@dataclass
class SimUser:
    """One WhatsApp user as the emulated business sees them.

    ``phone`` is digits only (None for a BSUID nobody registered); ``hide_phone`` says
    the business may not see it unless it messaged that phone itself (Meta's 30-day rule).
    """

    phone: str | None
    user_id: str
    parent_user_id: str | None = None
    username: str | None = None
    hide_phone: bool = False
    name: str = DEFAULT_NAME
    generation: int = 0

    def phone_visible(self, addressed_to_phone: bool) -> bool:
        """Is the phone in this message's webhooks? Sending to it makes it visible."""
        return self.phone is not None and (addressed_to_phone or not self.hide_phone)


class Users:
    """The directory of simulated users, found by phone, BSUID or parent BSUID."""

    def __init__(self) -> None:
        self._by_phone: dict[str, SimUser] = {}
        self._by_id: dict[str, SimUser] = {}

    def all(self) -> list[SimUser]:
        seen = {id(u): u for u in (*self._by_phone.values(), *self._by_id.values())}
        return list(seen.values())

    def register(
        self,
        phone: str,
        *,
        username: str | None = None,
        hide_phone: bool = False,
        parent_user_id: str | None = None,
        name: str = DEFAULT_NAME,
    ) -> SimUser:
        """Add (or replace) the user with this phone; returns it with its BSUID."""
        if not is_phone(phone):
            raise ValueError(f"not a phone number: {phone!r}")
        if parent_user_id is not None and not (
            is_bsuid(parent_user_id) and ".ENT." in parent_user_id
        ):
            raise ValueError(f"not a parent BSUID (CC.ENT.…): {parent_user_id!r}")
        number = digits(phone)
        # Updated in place: messages already sent keep pointing at this user.
        user = self._by_phone.get(number) or SimUser(number, bsuid_for(number))
        self._check_free(user, parent_user_id)
        self._forget(user)
        user.parent_user_id = parent_user_id
        user.username = check_username(username) if username else None
        user.hide_phone, user.name = hide_phone, name
        self._remember(user)
        return user

    def find(self, ref: str) -> SimUser | None:
        """The user a phone, BSUID or parent BSUID names, if known."""
        if is_bsuid(ref):
            return self._by_id.get(ref)
        return self._by_phone.get(digits(ref))

    def resolve(self, ref: str) -> SimUser:
        """Like :meth:`find`, adding a stand-in for someone new.

        A new phone becomes a visible-phone user; an unknown BSUID a user whose phone
        nobody knows (a parent BSUID gets a regular BSUID derived from it).
        """
        user = self.find(ref)
        if user is not None:
            return user
        if not is_bsuid(ref):
            return self.register(ref)
        if ".ENT." in ref:
            user = SimUser(None, f"{ref[:2]}.{_hash_digits(ref)}", ref, hide_phone=True)
        else:
            user = SimUser(None, ref, hide_phone=True)
        self._remember(user)
        return user

    def change(
        self,
        ref: str,
        kind: IdentityChange,
        *,
        new_phone: str | None = None,
        new_user_id: str | None = None,
    ) -> tuple[SimUser, SimUser]:
        """Apply an identity change; returns (before, after) copies of the user."""
        user = self.find(ref)
        if user is None:
            raise KeyError(f"no simulated user {ref!r}")
        before = replace(user)
        phone: str | None
        if kind == "user_changed_number":
            if new_phone is None or not is_phone(new_phone):
                raise ValueError(f"user_changed_number needs a new phone, got {new_phone!r}")
            phone, generation = digits(new_phone), 0
        else:
            if user.phone is None and new_user_id is None:
                raise ValueError("this user has no phone: give new_user_id")
            phone, generation = user.phone, user.generation + 1
        minted = bsuid_for(phone, generation) if phone else None
        user_id = new_user_id or minted
        if user_id is None or not is_bsuid(user_id) or ".ENT." in user_id:
            raise ValueError(f"not a BSUID: {user_id!r}")
        self._check_free(user, user_id)
        if phone is not None and self._by_phone.get(phone, user) is not user:
            raise ValueError(f"{phone} belongs to another simulated user")
        self._forget(user)
        user.phone, user.user_id, user.generation = phone, user_id, generation
        self._remember(user)
        return before, replace(user)

    def _check_free(self, user: SimUser, user_id: str | None) -> None:
        if user_id is not None and self._by_id.get(user_id, user) is not user:
            raise ValueError(f"{user_id} belongs to another simulated user")

    def _remember(self, user: SimUser) -> None:
        if user.phone is not None:
            self._by_phone[user.phone] = user
        self._by_id[user.user_id] = user
        if user.parent_user_id:
            self._by_id[user.parent_user_id] = user

    def _forget(self, user: SimUser) -> None:
        for index in (self._by_phone, self._by_id):
            for key in [k for k, v in index.items() if v is user]:
                del index[key]
