"""Flow endpoint overhead: decrypt + handle + encrypt vs the bare cryptography calls.

    python benchmarks/bench_endpoint.py [--rounds 7] [--number 300]

The baseline does only what the protocol requires (RSA-OAEP unwrap, AES-GCM open,
json.loads, json.dumps, AES-GCM seal with the flipped IV, base64); ours is a full
FlowEndpoint.handle() with signature verification off and a trivial handler.
Target: ours within 1.2x of the baseline.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import timeit
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.endpoint import FlowEndpoint, FlowRequest, next_screen

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def measure(rounds: int = 7, number: int = 300) -> tuple[float, float]:
    """(bare µs/request, FlowEndpoint µs/request), medians of ``rounds``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    aes_key, iv = os.urandom(16), os.urandom(16)
    request = {"version": "3.0", "action": "data_exchange", "screen": "BOOKING",
               "data": {"date": "2026-12-01", "slot": "10:30"}, "flow_token": "tok-1"}  # fmt: skip
    body = {
        "encrypted_flow_data": base64.b64encode(
            AESGCM(aes_key).encrypt(iv, json.dumps(request).encode(), None)
        ).decode(),
        "encrypted_aes_key": base64.b64encode(key.public_key().encrypt(aes_key, OAEP)).decode(),
        "initial_vector": base64.b64encode(iv).decode(),
    }
    raw = json.dumps(body).encode()
    answer = {"screen": "CONFIRM", "data": {"slot": "10:30"}}

    def bare() -> str:
        envelope = json.loads(raw)
        k = key.decrypt(base64.b64decode(envelope["encrypted_aes_key"]), OAEP)
        nonce = base64.b64decode(envelope["initial_vector"])
        payload = json.loads(
            AESGCM(k).decrypt(nonce, base64.b64decode(envelope["encrypted_flow_data"]), None)
        )
        assert payload["action"] == "data_exchange"
        flipped = bytes(b ^ 0xFF for b in nonce)
        return base64.b64encode(
            AESGCM(k).encrypt(flipped, json.dumps(answer).encode(), None)
        ).decode()

    endpoint = FlowEndpoint(key)

    @endpoint.on_data_exchange("BOOKING")
    def booking(req: FlowRequest) -> dict[str, object]:
        return next_screen("CONFIRM", {"slot": req.data["slot"]})

    def ours() -> str:
        resp = endpoint.handle(raw, {})
        assert resp.status == 200
        return resp.body

    rows = []
    for name, fn in (("bare cryptography", bare), ("FlowEndpoint.handle", ours)):
        times = timeit.repeat(fn, number=number, repeat=rounds)
        rows.append((name, statistics.median(times) / number * 1e6))
    (_, floor), (_, mine) = rows
    return floor, mine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--number", type=int, default=300)
    args = ap.parse_args()
    floor, mine = measure(args.rounds, args.number)
    print(f"{'bare cryptography':24} {floor:9.1f} µs/request")
    print(f"{'FlowEndpoint.handle':24} {mine:9.1f} µs/request")
    verdict = "met" if mine / floor <= 1.2 else "NOT met"
    print(f"ratio: {mine / floor:.3f}x (target ≤ 1.2x) -> {verdict}")


if __name__ == "__main__":
    main()
