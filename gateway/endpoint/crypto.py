"""The Flow endpoint's encryption (reference/flows.md §B2), exactly as WhatsApp does it.

Request: the AES-128 key is RSA-OAEP encrypted (SHA-256, MGF1-SHA-256) with the business
public key; the payload is AES-GCM with a 16-byte IV and the 16-byte tag appended.
Response: the same key, the IV with every bit inverted, base64 text.

Errors: :class:`MalformedRequest` (400) when the envelope or the decrypted payload is not
what the protocol describes, whatever our keys; :class:`DecryptionError` (421, the client
re-fetches the public key and retries) only when our keys cannot open it.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import GatewayError

OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)
_FIELDS = ("encrypted_flow_data", "encrypted_aes_key", "initial_vector")
_WHITESPACE = str.maketrans("", "", string.whitespace)
_IV_LENGTH = _TAG_LENGTH = 16

PrivateKeys = rsa.RSAPrivateKey | Sequence[rsa.RSAPrivateKey]


class EndpointError(GatewayError):
    """Base of the endpoint's request errors."""


class MalformedRequest(EndpointError):
    """The body is not the encrypted envelope (HTTP 400)."""


class DecryptionError(EndpointError):
    """The payload cannot be decrypted with any configured key (HTTP 421: the client
    re-fetches the business public key and retries once)."""


def load_private_key(pem: str | bytes, passphrase: str | bytes | None = None) -> rsa.RSAPrivateKey:
    """Parse a PEM private key (PKCS#1 or PKCS#8, encrypted or not); parsed once, cached."""
    data = pem.encode() if isinstance(pem, str) else pem
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    return _load(data, secret)


@lru_cache(maxsize=16)
def _load(pem: bytes, passphrase: bytes | None) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError) as exc:
        # The message never includes the passphrase or key material.
        raise EndpointError(f"cannot load the private key: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise EndpointError("the Flow endpoint key must be an RSA private key")
    return key


def _b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedRequest(f"{name} must be a base64 string")
    # MIME and PEM style encoders wrap lines, and Meta's samples decode past the breaks;
    # any other character outside the alphabet is refused.
    try:
        return base64.b64decode(value.translate(_WHITESPACE), validate=True)
    except ValueError:  # binascii.Error, or text that is not ASCII
        raise MalformedRequest(f"{name} is not valid base64") from None


def _keys(private_key: PrivateKeys) -> Iterable[rsa.RSAPrivateKey]:
    return (private_key,) if isinstance(private_key, rsa.RSAPrivateKey) else private_key


def decrypt_request(
    body: dict[str, Any], private_key: PrivateKeys
) -> tuple[dict[str, Any], bytes, bytes]:
    """``(payload, aes_key, iv)`` of an encrypted endpoint request (contract).

    ``private_key`` may be several keys (rotation): each is tried in turn. Raises
    :class:`MalformedRequest` (→ 400) or :class:`DecryptionError` (→ 421).
    """
    if not isinstance(body, dict) or any(f not in body for f in _FIELDS):
        raise MalformedRequest(f"the body needs {', '.join(_FIELDS)}")
    data = _b64(body["encrypted_flow_data"], "encrypted_flow_data")
    wrapped = _b64(body["encrypted_aes_key"], "encrypted_aes_key")
    iv = _b64(body["initial_vector"], "initial_vector")
    # Sizes are the sender's mistake whatever our key: a new public key would not help.
    if len(iv) != _IV_LENGTH:
        raise MalformedRequest(f"initial_vector must be {_IV_LENGTH} bytes")
    if len(data) <= _TAG_LENGTH:
        raise MalformedRequest(
            f"encrypted_flow_data must be longer than its {_TAG_LENGTH}-byte tag"
        )
    for key in _keys(private_key):
        try:
            aes_key = key.decrypt(wrapped, OAEP)
        except ValueError:
            continue  # not this key (or not OAEP-SHA256): try the next one
        # OAEP only opens under the key it was sealed for, so this key is ours.
        if len(aes_key) not in (16, 24, 32):
            raise MalformedRequest("encrypted_aes_key must hold a 128, 192 or 256-bit AES key")
        try:
            clear = AESGCM(aes_key).decrypt(iv, data, None)
        except InvalidTag:
            raise DecryptionError("the payload's GCM tag does not verify") from None
        try:
            payload = from_json(clear)
        except ValueError:
            raise MalformedRequest("the decrypted payload is not JSON") from None
        if not isinstance(payload, dict):
            raise MalformedRequest("the decrypted payload must be a JSON object")
        return payload, aes_key, iv
    raise DecryptionError("no configured private key decrypts encrypted_aes_key")


def flip(iv: bytes) -> bytes:
    """The response IV: every bit of the request IV inverted."""
    return bytes(b ^ 0xFF for b in iv)


def encrypt_response(payload: dict[str, Any], aes_key: bytes, iv: bytes) -> str:
    """The base64 text body of an endpoint response (contract).

    Raises ``ValueError`` or ``TypeError`` when ``payload`` is not strict JSON
    (:func:`to_json`).
    """
    sealed = AESGCM(aes_key).encrypt(flip(iv), to_json(payload), None)
    return base64.b64encode(sealed).decode("ascii")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def from_json(text: bytes | str) -> Any:
    """Parse strict JSON: ``ValueError`` for anything else, NaN and Infinity included."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:  # nesting deeper than the parser's stack
        raise ValueError("JSON nested too deeply") from None


def to_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON the client can parse, or ``ValueError`` / ``TypeError``.

    NaN and infinities, lone surrogates (strict UTF-8: ``UnicodeEncodeError``), cycles and
    values JSON has no form for are refused rather than sent as text no client decodes.
    """
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise ValueError("the payload is nested too deeply for JSON") from None
    return text.encode("utf-8")
