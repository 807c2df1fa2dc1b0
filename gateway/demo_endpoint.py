"""The demo's data-exchange endpoint (extra ``crypto``): a table booking, written here.

The Flow (``demo_booking.json``, shipped in the package) opens with INIT: the endpoint
answers APPOINTMENT with the dates, times and party sizes it has free; the footer's
``data_exchange`` sends the choice back and the endpoint answers SUMMARY with a
confirmation and a booking reference it computed; SUMMARY's footer completes the Flow
with that booking as the response. The key pair is generated in memory when the demo
starts: nothing is read from or written to disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from gateway.extras import require

require("crypto", "the demo's Flow endpoint")  # before the imports below, which need it

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from gateway.endpoint import (  # noqa: E402
    FlowEndpoint,
    FlowRequest,
    ScreenError,
    next_screen,
)

FLOW_PATH = Path(__file__).with_name("demo_booking.json")
"""The booking Flow's JSON (Flow JSON 7.3, data API 4.0), in the package beside this module."""

RESTAURANT = "Casa Emulada"
DATES = {"2026-12-01": "Tue 1 Dec", "2026-12-02": "Wed 2 Dec", "2026-12-03": "Thu 3 Dec"}
SLOTS = {"10:30": "10:30", "13:00": "13:00", "20:00": "20:00"}
PARTY_SIZES = {str(n): f"{n} {'person' if n == 1 else 'people'}" for n in range(1, 7)}

ANSWERS: dict[str, Any] = {
    "_init": True,  # a data_exchange message: the endpoint chooses the first screen
    "APPOINTMENT": {"date": "2026-12-01", "slot": "10:30", "party_size": "2"},
    "SUMMARY": {},
}
"""What the simulated user picks (Dropdown values are the items' ids)."""

EXPECTED = {"booking_ref": "CE-1201-1030-2", "date": "2026-12-01", "party_size": 2, "slot": "10:30"}
"""The completion the receiver must normalize, written out rather than computed: a
handler that builds the wrong booking fails the demo."""


@dataclass
class Booking:
    """The endpoint, its key pair, and the actions it answered (in order)."""

    endpoint: FlowEndpoint
    private_key: rsa.RSAPrivateKey
    seen: list[str] = field(default_factory=list)

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()


def load_flow() -> dict[str, Any]:
    """The booking Flow as a JSON object."""
    flow: dict[str, Any] = json.loads(FLOW_PATH.read_text(encoding="utf-8"))
    return flow


def booking_endpoint(app_secret: str | None = None) -> Booking:
    """A fresh key pair and an endpoint answering the booking Flow; with ``app_secret``
    it checks ``X-Hub-Signature-256`` as a Meta app's endpoint does."""
    # 2048 bits: what Meta asks for, and quick enough to make at every start.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    endpoint = FlowEndpoint(key, app_secrets=(app_secret,) if app_secret else ())
    booking = Booking(endpoint, key)

    @endpoint.on_init
    def _init(request: FlowRequest) -> dict[str, Any]:
        booking.seen.append(request.action)
        return next_screen(
            "APPOINTMENT",
            {
                "restaurant": RESTAURANT,
                "dates": _items(DATES),
                "slots": _items(SLOTS),
                "party_sizes": _items(PARTY_SIZES),
            },
        )

    @endpoint.on_data_exchange("APPOINTMENT")
    def _choose(request: FlowRequest) -> dict[str, Any]:
        booking.seen.append(request.action)
        day, slot, size = (str(request.data.get(k)) for k in ("date", "slot", "party_size"))
        if day not in DATES or slot not in SLOTS or size not in PARTY_SIZES:
            raise ScreenError("That table is not available any more; pick another.")
        return next_screen(
            "SUMMARY",
            {
                "confirmation": f"{RESTAURANT}: {PARTY_SIZES[size]} on {DATES[day]} at {slot}",
                "booking_ref": booking_ref(day, slot, int(size)),
                "date": day,
                "slot": slot,
                "party_size": int(size),
            },
        )

    return booking


def booking_ref(day: str, slot: str, party_size: int) -> str:
    """The reference the restaurant gives a booking: ``CE-MMDD-HHMM-N``."""
    when = date.fromisoformat(day)
    return f"CE-{when:%m%d}-{slot.replace(':', '')}-{party_size}"


def _items(options: dict[str, str]) -> list[dict[str, str]]:
    return [{"id": key, "title": title} for key, title in options.items()]
