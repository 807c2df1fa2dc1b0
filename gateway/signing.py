"""Signing helpers shared by the adapters and the Flow endpoint: part of the neutral core.

HMAC-SHA256 over raw bodies (Meta's ``X-Hub-Signature-256``), constant-time comparison
of echoed secrets, and a safe way to turn outside text into bytes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from gateway.errors import SignatureError


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def wire(text: str) -> bytes:
    """Text from outside (a header, a query value) as bytes to compare or sign: a lone
    surrogate, which the Python API can pass, becomes bytes no secret matches instead of
    a UnicodeEncodeError."""
    return text.encode("utf-8", "surrogatepass")


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_shared_secret(given: str | None, expected: str, what: str) -> None:
    """Compare a secret the caller echoed (header or URL token) in constant time."""
    if not given:
        raise SignatureError(f"missing {what}")
    if not hmac.compare_digest(wire(given), expected.encode()):
        raise SignatureError(f"{what} does not match")


def check_hub_signature(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Verify ``X-Hub-Signature-256: sha256=<hex>`` over the raw body, in constant time."""
    given = lower_keys(headers).get("x-hub-signature-256")
    if not given:
        raise SignatureError("missing X-Hub-Signature-256 header")
    given = given.strip()
    if given.lower().startswith("sha256="):
        given = given[7:]
    expected = hmac_sha256_hex(secret, body)
    if not hmac.compare_digest(expected.encode(), wire(given.lower())):
        raise SignatureError("X-Hub-Signature-256 does not match the body")
