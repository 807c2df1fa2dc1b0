"""Decrypting PhotoPicker / DocumentPicker uploads (reference/flows.md §B8).

The CDN file is ``AES-256-CBC(ciphertext) ‖ HMAC-SHA256(hmac_key, iv ‖ ciphertext)[:10]``.
Both hashes are checked: of the encrypted file before anything else, of the plaintext
after. Meta warns the content may be malicious: treat the bytes as untrusted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.endpoint.crypto import EndpointError

HMAC_LENGTH = 10


class MediaDecryptionError(EndpointError):
    """The file does not match its encryption metadata."""


def _field(meta: Mapping[str, Any], name: str) -> bytes:
    value = meta.get(name)
    if not isinstance(value, str):
        raise MediaDecryptionError(f"encryption_metadata.{name} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MediaDecryptionError(f"encryption_metadata.{name} is not base64") from None


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def decrypt_media(cdn_file: bytes, encryption_metadata: Mapping[str, Any]) -> bytes:
    """The plaintext of a downloaded CDN file, after every integrity check passes."""
    meta = encryption_metadata
    if not hmac.compare_digest(_hash(cdn_file), _field(meta, "encrypted_hash")):
        raise MediaDecryptionError("encrypted_hash does not match the downloaded file")
    if len(cdn_file) <= HMAC_LENGTH:
        raise MediaDecryptionError("the file is too short")
    ciphertext, mac = cdn_file[:-HMAC_LENGTH], cdn_file[-HMAC_LENGTH:]
    iv = _field(meta, "iv")
    expected = hmac.new(_field(meta, "hmac_key"), iv + ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(expected[:HMAC_LENGTH], mac):
        raise MediaDecryptionError("the file's HMAC does not verify")
    try:
        decryptor = Cipher(
            algorithms.AES(_field(meta, "encryption_key")), modes.CBC(iv)
        ).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise MediaDecryptionError(f"cannot decrypt the file: {exc}") from None
    if not hmac.compare_digest(_hash(plain), _field(meta, "plaintext_hash")):
        raise MediaDecryptionError("plaintext_hash does not match the decrypted file")
    return plain
