"""decrypt_request / encrypt_response / decrypt_media against the spec's known answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.endpoint import (
    DecryptionError,
    EndpointError,
    MalformedRequest,
    MediaDecryptionError,
    decrypt_media,
    decrypt_request,
    encrypt_response,
    load_private_key,
)
from tests.endpoint.whatsapp import FIXTURES, PASSPHRASE, encrypt_request, private_key

KEY = bytes(range(16))
IV = bytes(range(16, 32))


def test_known_answer_request_and_response() -> None:
    """reference/flows.md §B10: AES-GCM with key 00..0f and IV 10..1f."""
    sealed = AESGCM(KEY).encrypt(IV, b'{"version":"3.0","action":"ping"}', None)
    assert base64.b64encode(sealed).decode() == (
        "vryB0w/BTee4OvmgkgEf9dnfQfwZb8iWi7yl5iotFMJeuQl749lOptdzv/L1T2V2PA=="
    )
    assert encrypt_response({"data": {"status": "active"}}, KEY, IV) == (
        "IHgL0mWXHJ6FDPLH6+aygF5BfT+mPzwvzktiKvlmYpg8eFKqJX/07YVStaI="
    )


def test_known_answer_request_decrypts_with_our_key() -> None:
    key = private_key()
    body, _, _ = encrypt_request(
        b'{"version":"3.0","action":"ping"}', key.public_key(), aes_key=KEY, iv=IV
    )
    assert body["encrypted_flow_data"].startswith("vryB0w/BTee4")
    payload, aes_key, iv = decrypt_request(body, key)
    assert (payload, aes_key, iv) == ({"version": "3.0", "action": "ping"}, KEY, IV)


def test_known_answer_hmac() -> None:
    digest = hmac.new(b"app_secret", b'{"encrypted_flow_data":"x"}', hashlib.sha256).hexdigest()
    assert digest == "2414e1e563b7f415f91ebc3f5707d3a99041e345a89759d1038cc182bc7a0405"


def test_known_answer_media() -> None:
    meta = {
        "encryption_key": base64.b64encode(bytes(range(32))).decode(),
        "hmac_key": base64.b64encode(bytes(range(32, 64))).decode(),
        "iv": base64.b64encode(bytes(range(64, 80))).decode(),
        "encrypted_hash": "vOzylgkoGzrMnu1GayJNHV30gr/kP+zRYATBApFe3GQ=",
        "plaintext_hash": "FrBvSuTdHz6ojFDQGc0Le7IbTnLcyqK0yM2o2kEua58=",
    }
    blob = base64.b64decode("Y1GNWJ8bejWa6fvVh6oqu/fGblQgij5SyVUbMrs4AXrgsbkptMeFeh38")
    assert decrypt_media(blob, meta) == b"hello flows media"
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(MediaDecryptionError, match="encrypted_hash"):
        decrypt_media(tampered, meta)
    rehashed = {
        **meta,
        "encrypted_hash": base64.b64encode(hashlib.sha256(tampered).digest()).decode(),
    }
    with pytest.raises(MediaDecryptionError, match="HMAC"):
        decrypt_media(tampered, rehashed)
    with pytest.raises(MediaDecryptionError, match="plaintext_hash"):
        decrypt_media(blob, {**meta, "plaintext_hash": meta["encrypted_hash"]})
    with pytest.raises(MediaDecryptionError, match="iv"):
        decrypt_media(blob, {k: v for k, v in meta.items() if k != "iv"})


def test_round_trip_and_rotation() -> None:
    old, new = private_key(), private_key("rotated.pem")
    body, aes_key, iv = encrypt_request({"action": "INIT", "flow_token": "t"}, new.public_key())
    payload, key_out, iv_out = decrypt_request(body, [old, new])
    assert payload == {"action": "INIT", "flow_token": "t"}
    assert (key_out, iv_out) == (aes_key, iv)
    with pytest.raises(DecryptionError, match="no configured private key"):
        decrypt_request(body, old)


def test_decryption_failures_are_421_material() -> None:
    key = private_key()
    sha1, _, _ = encrypt_request({"action": "ping"}, key.public_key(), oaep_hash=hashes.SHA1())  # noqa: S303
    with pytest.raises(DecryptionError):
        decrypt_request(sha1, key)
    good, _, _ = encrypt_request({"action": "ping"}, key.public_key())
    sealed = bytearray(base64.b64decode(good["encrypted_flow_data"]))
    sealed[-1] ^= 1  # flip a tag bit
    with pytest.raises(DecryptionError, match="GCM tag"):
        decrypt_request({**good, "encrypted_flow_data": base64.b64encode(sealed).decode()}, key)
    # Sealed for a 4096-bit key (512 bytes): a key we do not have, so 421 and a re-fetch.
    bigger = base64.b64encode(bytes(512)).decode()
    with pytest.raises(DecryptionError, match="no configured private key"):
        decrypt_request({**good, "encrypted_aes_key": bigger}, key)


def _wrap(aes_key: bytes) -> str:
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return base64.b64encode(private_key().public_key().encrypt(aes_key, oaep)).decode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("encrypted_aes_key", "%%%", "not valid base64"),
        ("encrypted_flow_data", "not base64 at all!", "not valid base64"),
        ("initial_vector", "EBESExQVFhcYGRobHB0eHw", "not valid base64"),  # no padding
        ("initial_vector", "EBESExQVFhcYGRobHB0eHw==AA==", "not valid base64"),
        ("encrypted_aes_key", "ÉBESExQVFhcYGRobHB0eHw==", "not valid base64"),
        ("encrypted_flow_data", "EBESExQV\u2028FhcYGRobHB0eHw==", "not valid base64"),
        ("initial_vector", _b64(b"short"), "16 bytes"),
        ("initial_vector", _b64(bytes(12)), "16 bytes"),  # the usual GCM nonce, not Meta's
        ("initial_vector", _b64(bytes(32)), "16 bytes"),
        ("encrypted_flow_data", _b64(bytes(16)), "tag"),  # a tag and no ciphertext
        ("encrypted_flow_data", "", "tag"),
        ("encrypted_aes_key", _wrap(bytes(17)), "AES key"),  # opens with our key, wrong size
        ("encrypted_aes_key", _wrap(b""), "AES key"),
    ],
)
def test_malformed_fields_are_400_not_421(field: str, value: str, fragment: str) -> None:
    """421 sends the client to re-fetch our public key: only for what our keys cannot open."""
    key = private_key()
    good, _, _ = encrypt_request({"action": "ping"}, key.public_key())
    with pytest.raises(MalformedRequest, match=fragment):
        decrypt_request({**good, field: value}, key)


def test_base64_with_line_breaks_is_accepted() -> None:
    """MIME encoders wrap at 76 characters with CRLF, PEM-style ones at 64 with LF."""
    key = private_key()
    good, aes_key, iv = encrypt_request({"action": "ping", "pad": "x" * 100}, key.public_key())
    for sep, width in (("\r\n", 76), ("\n", 64)):
        wrapped = {
            name: sep.join(text[i : i + width] for i in range(0, len(text), width)) + sep
            for name, text in good.items()
        }
        assert "\n" in wrapped["encrypted_aes_key"]
        payload, key_out, iv_out = decrypt_request(wrapped, key)
        assert (payload["action"], key_out, iv_out) == ("ping", aes_key, iv)
    mime = {name: base64.encodebytes(base64.b64decode(v)).decode() for name, v in good.items()}
    assert decrypt_request(mime, key)[0]["action"] == "ping"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"encrypted_flow_data": "x"},
        {"encrypted_flow_data": 1, "encrypted_aes_key": "", "initial_vector": ""},
    ],
)
def test_malformed_envelopes(body: dict[str, object]) -> None:
    with pytest.raises(MalformedRequest):
        decrypt_request(body, private_key())


def test_decrypted_payload_must_be_a_json_object() -> None:
    key = private_key()
    deep = b'{"action":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for clear in (b"not json", b"[1, 2]", b'{"action": NaN}', b'{"x": -Infinity}', deep):
        body, _, _ = encrypt_request(clear, key.public_key())
        with pytest.raises(MalformedRequest):
            decrypt_request(body, key)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"data": {"n": float("nan")}}, "Out of range float"),
        ({"data": {"n": float("inf")}}, "Out of range float"),
        ({"data": {float("-inf"): 1}}, "Out of range float"),
        ({"data": {"s": "\ud800"}}, "surrogates not allowed"),
        ({"data": {"s": {1, 2}}}, "not JSON serializable"),
        ({"data": {("a", "b"): 1}}, "keys must be"),
    ],
)
def test_encrypt_response_refuses_what_no_client_can_parse(
    payload: dict[str, object], error: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        encrypt_response(payload, KEY, IV)


def test_load_private_key_with_passphrase_is_cached_and_quiet() -> None:
    pem = (FIXTURES / "private.pem").read_bytes()
    first = load_private_key(pem, PASSPHRASE)
    assert load_private_key(pem.decode(), PASSPHRASE) is first  # parsed once
    with pytest.raises(EndpointError) as info:
        load_private_key(pem, "wrong-passphrase")
    assert "wrong-passphrase" not in str(info.value)
    assert "PRIVATE KEY" not in str(info.value)
    assert json.dumps({"ok": True})
