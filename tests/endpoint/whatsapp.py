"""What the WhatsApp client does, written independently with ``cryptography`` directly.

Used by the tests to build requests exactly as WhatsApp would and to read responses the
way the client does, so the endpoint is checked against the protocol, not against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FIXTURES = Path(__file__).parent / "fixtures"
PASSPHRASE = "test-passphrase"
APP_SECRET = "0123456789abcdef0123456789abcdef"  # Meta app secrets are 32 hex chars


def private_key(name: str = "private.pem") -> rsa.RSAPrivateKey:
    password = PASSPHRASE.encode() if name == "private.pem" else None
    key = serialization.load_pem_private_key((FIXTURES / name).read_bytes(), password)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def encrypt_request(
    payload: dict[str, Any] | bytes,
    public_key: rsa.RSAPublicKey,
    *,
    aes_key: bytes | None = None,
    iv: bytes | None = None,
    oaep_hash: hashes.HashAlgorithm | None = None,
) -> tuple[dict[str, str], bytes, bytes]:
    """(request body, aes key, iv) as the WhatsApp client builds them."""
    aes_key = aes_key or os.urandom(16)
    iv = iv or os.urandom(16)
    algorithm = oaep_hash or hashes.SHA256()
    wrapped = public_key.encrypt(
        aes_key, padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)
    )
    clear = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sealed = AESGCM(aes_key).encrypt(iv, clear, None)
    body = {
        "encrypted_flow_data": base64.b64encode(sealed).decode(),
        "encrypted_aes_key": base64.b64encode(wrapped).decode(),
        "initial_vector": base64.b64encode(iv).decode(),
    }
    return body, aes_key, iv


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decrypt_response(text: str, aes_key: bytes, iv: bytes) -> Any:
    """Read an endpoint answer the way the client does: the IV with every bit flipped, then
    strict UTF-8 JSON (a JavaScript or Java parser refuses NaN and encoded surrogates)."""
    flipped = bytes(b ^ 0xFF for b in iv)
    clear = AESGCM(aes_key).decrypt(flipped, base64.b64decode(text, validate=True), None)
    return json.loads(clear.decode("utf-8"), parse_constant=_not_json)


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
