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
import timeit
from collections.abc import Callable
from typing import Any

from gateway import FlowMessage
from providers import get_adapter

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
    """The same message, written by hand in each provider's shape."""
    f = FIELDS
    header, body, footer = (
        {"type": "text", "text": f["header"]},
        {"text": f["body"]},
        {"text": f["footer"]},
    )
    payload = {"screen": f["screen"], "data": f["data"]}
    if provider == "sinch":
        flow = {
            "header": header,
            "body": body,
            "footer": footer,
            "flow_id": f["flow_id"],
            "flow_token": f["flow_token"],
            "flow_mode": "published",
            "flow_cta": f["flow_cta"],
            "flow_action": "navigate",
            "flow_action_payload": payload,
        }
        return {
            "app_id": "a",
            "recipient": {
                "identified_by": {
                    "channel_identities": [{"channel": "WHATSAPP", "identity": f["to"]}]
                }
            },
            "message": {
                "channel_specific_message": {"WHATSAPP": {"message_type": "FLOWS", "message": flow}}
            },
        }
    if provider == "onemsg":
        return {
            "phone": int(f["to"].lstrip("+")),
            "body": f["body"],
            "header": f["header"],
            "footer": f["footer"],
            "flowId": f["flow_id"],
            "flowToken": f["flow_token"],
            "flowCta": f["flow_cta"],
            "flowAction": "navigate",
            "flowActionPayload": payload,
            "mode": "published",
            "flowMessageVersion": "3",
        }
    params = {
        "flow_message_version": "3",
        "flow_id": f["flow_id"],
        "flow_cta": f["flow_cta"],
        "mode": "published",
        "flow_token": f["flow_token"],
        "flow_action": "navigate",
        "flow_action_payload": payload,
    }
    onprem = provider == "dialog360_onprem"
    interactive = {
        "type": "galaxy_message" if onprem else "flow",
        "header": header,
        "body": body,
        "footer": footer,
        "action": {"name": "" if onprem else "flow", "parameters": params},
    }
    out: dict[str, Any] = {} if onprem else {"messaging_product": "whatsapp"}
    out.update(
        {
            "recipient_type": "individual",
            "to": f["to"],
            "type": "interactive",
            "interactive": interactive,
        }
    )
    return out


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
