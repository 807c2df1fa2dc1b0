"""Core hot paths against their floors, measured in the same run.

    python benchmarks/bench_core.py [--rounds 7] [--number 20000]

1. build: FlowMessage construction + build_send (JSON encoded) vs a hand-written dict +
   json encoding of the same payload.
2. webhook: parse_webhook of a Meta envelope (1 and 100 statuses) vs json.loads alone.
Prints medians of repeated runs and the ratio ours / floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: tests.kits

from gateway import FlowMessage
from providers import get_adapter
from tests.kits import KITS

ADAPTER = get_adapter(
    "meta_cloud",
    phone_number_id="1234567890",
    access_token="bench-token",
    app_secret="bench-secret",
)
FIELDS = {
    "to": "+16505551234",
    "flow_id": "1234567890",
    "flow_cta": "Book now",
    "flow_token": "tok-123",
    "header": "Appointments",
    "body": "Pick a time that suits you.",
    "footer": "Takes 30 seconds",
    "screen": "APPOINTMENT",
    "data": {"department": "dental"},
}


def ours_build() -> bytes:
    return ADAPTER.build_send(FlowMessage(**FIELDS)).content


def floor_payload(provider: str) -> dict[str, Any]:
    """The same message, written by hand in the provider's shape: by its test kit
    (tests/contract/<provider>/kit.py), with the kit's settings."""
    kit = KITS[provider]
    payload: dict[str, Any] = kit.flow_body(kit.settings, FIELDS["to"], FIELDS)
    return payload


def floor_build() -> bytes:
    return json.dumps(
        floor_payload("meta_cloud"), ensure_ascii=False, separators=(",", ":")
    ).encode()


def envelope(n: int, *, users_2026: bool = False) -> bytes:
    """``n`` delivered statuses for one phone user; with ``users_2026``, for ``n``
    different users each named as Meta does since 2026 (``recipient_user_id`` and a
    ``contacts[]`` entry with a username): the honest worst case of a campaign's flood."""
    statuses: list[dict[str, Any]] = [
        {
            "id": f"wamid.{i}",
            "status": "delivered",
            "timestamp": "1731665000",
            "recipient_id": f"165055{i:05d}" if users_2026 else "16505551234",
        }
        for i in range(n)
    ]
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": {}}
    if users_2026:
        for i, s in enumerate(statuses):
            s["recipient_user_id"] = f"US.{i:020d}"
        value["contacts"] = [
            {
                "profile": {"name": f"User {i}", "username": f"user{i}"},
                "wa_id": s["recipient_id"],
                "user_id": s["recipient_user_id"],
            }
            for i, s in enumerate(statuses)
        ]
    value["statuses"] = statuses
    doc = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(doc).encode()


def median_us(fn: Callable[[], object], number: int, rounds: int) -> float:
    times = timeit.repeat(fn, number=number, repeat=rounds)
    return statistics.median(times) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--number", type=int, default=20000)
    args = ap.parse_args()
    assert json.loads(ours_build()) == json.loads(floor_build())
    rows = [
        (
            "build (µs/message)",
            median_us(ours_build, args.number, args.rounds),
            median_us(floor_build, args.number, args.rounds),
        )
    ]
    for n in (1, 100):
        body = envelope(n)
        k = max(10, args.number // n)
        rows.append(
            (
                f"webhook, {n} statuses (µs/envelope)",
                median_us(lambda b=body: ADAPTER.parse_webhook(b, {}), k, args.rounds),
                median_us(lambda b=body: json.loads(b), k, args.rounds),
            )
        )
    print(f"{'benchmark':36} {'ours':>10} {'floor':>10} {'ratio':>7}")
    for name, ours, floor in rows:
        print(f"{name:36} {ours:10.2f} {floor:10.2f} {ours / floor:7.2f}x")


if __name__ == "__main__":
    main()
