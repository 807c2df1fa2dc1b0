"""The player's edges: the WhatsApp client's side of the endpoint protocol (extra ``crypto``).

Each request is sealed as the client seals it (reference/flows.md §B2; the independent
oracle is tests/endpoint/whatsapp.py): a fresh AES-128 key wrapped with RSA-OAEP-SHA256
under the business public key, AES-GCM with a fresh 16-byte IV, and the answer opened
with the IV's bits inverted. :func:`endpoint_exchange` drives a :class:`FlowEndpoint` in
process; :func:`http_exchange` posts to a URL (stdlib ``urllib``: the CLI's one request
needs no client library).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.endpoint.crypto import OAEP, flip
from gateway.flowjson.player import Exchange, ExchangeError
from gateway.signing import hmac_sha256_hex

if TYPE_CHECKING:
    from gateway.endpoint import FlowEndpoint

TIMEOUT = 10.0
"""Meta counts a request past 10 s as a ``timeout_error`` (reference/flows.md §B7)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the endpoint's answer, as the client sees it (urllib would turn a
    POST into a GET on 301/302/303)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the Flow endpoint's public key must be RSA")
    return key


def seal(payload: dict[str, Any], public_key: rsa.RSAPublicKey) -> tuple[bytes, bytes, bytes]:
    """(request body, AES key, IV) as the client builds them."""
    aes_key, iv = os.urandom(16), os.urandom(16)
    sealed = AESGCM(aes_key).encrypt(iv, json.dumps(payload).encode(), None)
    body = {
        "encrypted_flow_data": base64.b64encode(sealed).decode(),
        "encrypted_aes_key": base64.b64encode(public_key.encrypt(aes_key, OAEP)).decode(),
        "initial_vector": base64.b64encode(iv).decode(),
    }
    return json.dumps(body).encode(), aes_key, iv


def open_answer(status: int, text: str, aes_key: bytes, iv: bytes) -> dict[str, Any]:
    """The decrypted answer of a 200; raises ExchangeError for anything else."""
    if status != 200:
        raise ExchangeError(_why(status, text), status_code=status)
    flipped = flip(iv)
    try:
        clear = AESGCM(aes_key).decrypt(flipped, base64.b64decode(text, validate=True), None)
        answer = json.loads(clear.decode("utf-8"))
    except Exception as exc:  # InvalidTag, bad base64, not JSON: the client cannot read it
        raise ExchangeError(
            f"the answer cannot be decrypted ({type(exc).__name__})", status_code=status
        ) from exc
    if not isinstance(answer, dict):
        raise ExchangeError("the answer is not a JSON object", status_code=status)
    return answer


def _why(status: int, text: str) -> str:
    if 300 <= status < 400:  # a mounted app's trailing slash, http → https
        return (
            f"the endpoint redirects ({text or 'no Location'}); the client is not known to "
            "follow redirects: give the final URL"
        )
    meaning = {
        421: "the endpoint cannot decrypt the request (is the public key the endpoint's?)",
        427: "the flow token is invalid or expired",
        432: "the request signature does not verify",
    }.get(status, "unexpected status")
    return f"{meaning}{f': {text[:200]}' if text else ''}"


def _signed(body: bytes, app_secret: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if app_secret:
        headers["X-Hub-Signature-256"] = f"sha256={hmac_sha256_hex(app_secret, body)}"
    return headers


def endpoint_exchange(
    endpoint: FlowEndpoint,
    public_key: rsa.RSAPublicKey | None = None,
    *,
    app_secret: str | None = None,
) -> Exchange:
    """Drive ``endpoint`` in process; the public key defaults to its (first) private key's."""
    if public_key is None:
        keys = endpoint.private_key
        public_key = (keys if isinstance(keys, rsa.RSAPrivateKey) else keys[0]).public_key()
    key = public_key
    secret = app_secret or (endpoint.app_secrets[0] if endpoint.app_secrets else None)

    def exchange(payload: dict[str, Any]) -> dict[str, Any]:
        body, aes_key, iv = seal(payload, key)
        result = endpoint.handle(body, _signed(body, secret))
        return open_answer(result.status, result.body, aes_key, iv)

    return exchange


def http_exchange(
    url: str,
    public_key: rsa.RSAPublicKey,
    *,
    app_secret: str | None = None,
    timeout: float = TIMEOUT,
) -> Exchange:
    """POST each request to ``url`` as the client does."""

    def exchange(payload: dict[str, Any]) -> dict[str, Any]:
        body, aes_key, iv = seal(payload, public_key)
        if not url.startswith(("http://", "https://")):  # never file: or a custom scheme
            raise ExchangeError(f"not an http(s) URL: {url}")
        headers = _signed(body, app_secret)
        request = urllib.request.Request(url, body, headers, method="POST")  # noqa: S310
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                status, text = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode("utf-8", "replace")
            if 300 <= status < 400:
                text = f"{status} to {exc.headers.get('Location', '?')}"
        except TimeoutError as exc:
            raise ExchangeError(f"no answer within {timeout:g} s (timeout)") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ExchangeError(f"no answer within {timeout:g} s (timeout)") from exc
            raise ExchangeError(f"cannot reach {url}: {exc.reason}") from exc
        return open_answer(status, text, aes_key, iv)

    return exchange
