"""A stored sender's settings: encrypted at rest (Fernet), masked when shown.

The settings table of a sender kept in the store is one Fernet token (AES-128-CBC and
HMAC-SHA256, ``cryptography``; https://github.com/fernet/spec) made with the first key of
``FLOWGATEWAY_SECRET_KEY``; every key listed there decrypts, so keys rotate without a
pause. Nothing here puts a setting's value, or a key, in a message.
"""

from __future__ import annotations

import json
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from gateway.errors import ConfigError
from gateway.extras import require
from gateway.redact import MASK, is_sensitive_name, secrets
from providers import adapter_class

ENV_KEY = "FLOWGATEWAY_SECRET_KEY"
"""The environment variable holding the store's key(s): ``NEW[,OLD…]``."""
_MAKE_ONE = "make one with `flowgateway senders keygen`"


class UnreadableSettings(ConfigError):
    """A stored sender's settings do not decrypt with any key of ``FLOWGATEWAY_SECRET_KEY``
    (or were corrupted): names the sender, never a key."""

    def __init__(self, sender: str) -> None:
        self.sender = sender
        super().__init__(
            f"senders.{sender}",
            f"its stored settings cannot be decrypted with {ENV_KEY} (none of its keys "
            "wrote them, or the record is damaged): list the key they were written with "
            "after the new one, or add the sender again",
        )


class SecretBox:
    """Encrypts a sender's settings table (as JSON) for the store, with Fernet.

    The first key encrypts; every key decrypts (``MultiFernet``). To rotate: put a new key
    first (``NEW,OLD``) in every process, run :meth:`SenderRegistry.rekey`, then drop OLD.
    """

    __slots__ = ("_count", "_fernet")

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        require("crypto", "encrypted sender settings")
        from cryptography.fernet import Fernet, MultiFernet

        if not keys:
            raise ConfigError(ENV_KEY, f"no key given; {_MAKE_ONE}")
        fernets = []
        for i, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):  # never the key itself in the message
                raise ConfigError(
                    ENV_KEY,
                    f"key {i} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded "
                    f"bytes); {_MAKE_ONE}",
                ) from None
        self._fernet = MultiFernet(fernets)
        self._count = len(fernets)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecretBox:
        """The box for the comma-separated keys of ``FLOWGATEWAY_SECRET_KEY``."""
        value = (os.environ if env is None else env).get(ENV_KEY, "")
        keys = [k.strip() for k in value.split(",") if k.strip()]
        if not keys:
            raise ConfigError(
                ENV_KEY,
                "is not set: senders kept in the store are encrypted with it; "
                f"{_MAKE_ONE} and give every process the same value",
            )
        return cls(keys)

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key, as text for ``FLOWGATEWAY_SECRET_KEY``."""
        require("crypto", "senders keygen")
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode("ascii")

    def encrypt(self, settings: Mapping[str, Any]) -> bytes:
        """``settings`` as a token of the first key."""
        return bytes(self._fernet.encrypt(encode_settings(settings)))

    def decrypt(self, token: bytes, *, sender: str) -> dict[str, Any]:
        """The settings table in ``token`` (raises :class:`UnreadableSettings`)."""
        from cryptography.fernet import InvalidToken

        try:
            table = json.loads(self._fernet.decrypt(token))
        except (InvalidToken, ValueError, TypeError):
            raise UnreadableSettings(sender) from None
        if not isinstance(table, dict):
            raise UnreadableSettings(sender)
        return table

    def rotate(self, token: bytes, *, sender: str = "?") -> bytes:
        """``token`` encrypted again with the first key (raises :class:`UnreadableSettings`)."""
        from cryptography.fernet import InvalidToken

        try:
            return bytes(self._fernet.rotate(token))
        except (InvalidToken, TypeError):
            raise UnreadableSettings(sender) from None

    def __repr__(self) -> str:
        return f"SecretBox({self._count} key{'s' if self._count != 1 else ''})"


def encode_settings(settings: Mapping[str, Any]) -> bytes:
    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        raise TypeError(f"a {type(value).__name__} is not a JSON value")

    try:
        text = json.dumps(dict(settings), sort_keys=True, default=plain, allow_nan=False)
    except (TypeError, ValueError) as exc:  # the messages name types, never values
        raise ConfigError("settings", f"must be JSON values: {exc}") from None
    return text.encode()


def _holds_secret(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, SecretStr):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return any(_holds_secret(a) for a in typing.get_args(annotation))
    return False


def secret_settings(provider: str) -> tuple[str, ...]:
    """The settings of ``provider`` that are credentials (typed ``SecretStr``)."""
    fields = adapter_class(provider).Settings.model_fields
    return tuple(name for name, f in fields.items() if _holds_secret(f.annotation))


def credential_test(provider: str, *, unknown_ok: bool) -> Callable[[str], bool]:
    """Is a setting of ``provider`` named ``key`` a credential: one of its
    :func:`secret_settings`, or a credential-like name (``is_sensitive_name``).

    Raises:
        ConfigError: an unknown provider, unless ``unknown_ok`` (then only the names).
    """
    try:
        hidden = frozenset(secret_settings(provider))
    except ConfigError:
        if not unknown_ok:
            raise
        hidden = frozenset()
    return lambda key: key in hidden or is_sensitive_name(key)


def mask_settings(provider: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """``table`` with every credential's value replaced by ``***``."""
    credential = credential_test(provider, unknown_ok=False)
    return {k: MASK if (credential(k) or isinstance(v, SecretStr)) else v for k, v in table.items()}


def scrub_later(provider: str, table: Mapping[str, Any]) -> None:
    """Register ``table``'s credentials for redaction, even when its adapter won't build
    (an unknown provider: every credential-named value, then)."""
    credential = credential_test(provider, unknown_ok=True)
    secrets.add(v for k, v in table.items() if isinstance(v, str) and credential(k))
