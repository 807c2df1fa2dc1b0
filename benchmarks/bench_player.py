"""The Flow player's cost: a whole walk vs the endpoint exchanges it cannot avoid.

    python benchmarks/bench_player.py [--rounds 7] [--number 100]

The Flow is the demo's booking (gateway/demo_booking.json: INIT, a data_exchange, a
complete) against its in-process FlowEndpoint. The baseline makes the same two
exchanges by hand — seal as the client does, ``FlowEndpoint.handle``, open the answer —
and nothing else; ours is ``play()``: the validator, the typed model, rendering each
screen, checking each answer against the next screen's data model, the transcript's
steps. The same endpoint, key and answers in both, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway import demo_endpoint as booking
from gateway.flowjson.player import play
from gateway.flowjson.player_exchange import endpoint_exchange, open_answer, seal
from gateway.flowjson.player_session import FlowSession

TOKEN = "bench-token"
INIT = {"version": "4.0", "action": "INIT", "flow_token": TOKEN}
CHOICE = {
    "version": "4.0",
    "action": "data_exchange",
    "screen": "APPOINTMENT",
    "data": {"date": "2026-12-01", "slot": "10:30", "party_size": "2"},
    "flow_token": TOKEN,
}


def measure(rounds: int = 7, number: int = 100) -> dict[str, float]:
    """Medians of ``rounds``, in µs per walk: the bare exchanges, ``play()``, and a
    ``FlowSession`` pressed through the same walk (the preview page's model)."""
    flow, served = booking.load_flow(), booking.booking_endpoint()
    key, endpoint = served.public_key, served.endpoint
    exchange = endpoint_exchange(endpoint)

    def bare() -> None:
        for request in (INIT, CHOICE):
            body, aes_key, iv = seal(request, key)
            result = endpoint.handle(body, {"Content-Type": "application/json"})
            open_answer(result.status, result.body, aes_key, iv)

    def ours() -> None:
        result = play(flow, booking.ANSWERS, exchange=exchange, flow_token=TOKEN)
        assert result.ok, result.findings

    def pressed() -> None:
        session = FlowSession(flow, exchange=exchange, flow_token=TOKEN, init=True)
        session.press(booking.ANSWERS["APPOINTMENT"])
        session.press({})
        session.view()
        assert session.completion is not None, session.findings

    out = {}
    for name, fn in (("bare", bare), ("play", ours), ("session", pressed)):
        fn()  # warm up: imports, caches
        times = timeit.repeat(fn, number=number, repeat=rounds)
        out[name] = statistics.median(times) / number * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=100)
    args = parser.parse_args()
    got = measure(args.rounds, args.number)
    base = got["bare"]
    print(f"{'walk of the booking Flow':<44} {'µs/walk':>9} {'ratio':>7}")
    for name, label in (
        ("bare", "baseline: the 2 exchanges by hand"),
        ("play", "play(): the whole scripted walk"),
        ("session", "FlowSession: pressed, with view()"),
    ):
        print(f"{label:<44} {got[name]:>9.0f} {got[name] / base:>6.2f}x")


if __name__ == "__main__":
    main()
