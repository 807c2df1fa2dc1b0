"""The demo's data-exchange row: the simulated user plays the booking Flow through a Flow
endpoint served over HTTP, and the receiver normalizes the provider's completion; without
the ``crypto`` extra the demo still passes and says what to install.

(The provider rows are tested in test_cli.py.)"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway import demo

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config/gateway.toml"
BOOKING = {"booking_ref": "CE-1201-1030-2", "date": "2026-12-01", "party_size": 2, "slot": "10:30"}


def _run() -> tuple[int, list[str]]:
    out = io.StringIO()
    code = demo.run(CONFIG, out)
    return code, out.getvalue().splitlines()


def test_the_booking_flow_validates_clean() -> None:
    from gateway.demo_endpoint import load_flow
    from gateway.flowjson.validate import validate_flow_json

    flow = load_flow()
    assert validate_flow_json(flow, purpose="send") == []
    assert flow["data_api_version"] == "4.0"  # the endpoint's protocol, as Meta recommends
    assert flow["routing_model"] == {"APPOINTMENT": ["SUMMARY"], "SUMMARY": []}


def test_the_user_plays_the_booking_through_the_endpoint_over_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway import demo_endpoint
    from gateway.endpoint import app

    served: list[tuple[str, str, bytes]] = []  # what reached the endpoint's HTTP server
    bookings: list[demo_endpoint.Booking] = []
    real_app, real_booking = app.endpoint_app, demo_endpoint.booking_endpoint

    def spied_app(endpoint: Any, path: str = "/") -> Any:
        inner = real_app(endpoint, path)

        async def asgi(scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            body = b""

            async def replay() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            while True:  # read the whole body, then hand the app a copy of it
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            served.append((scope["method"], scope["path"], body))
            await inner(scope, replay, send)

        return asgi

    def kept_booking(app_secret: str | None = None) -> demo_endpoint.Booking:
        bookings.append(real_booking(app_secret))
        return bookings[-1]

    monkeypatch.setattr(app, "endpoint_app", spied_app)
    monkeypatch.setattr(demo_endpoint, "booking_endpoint", kept_booking)
    code, lines = _run()
    assert code == 0, lines

    [row] = [line for line in lines if "demo-endpoint-3" in line]
    assert row.startswith("meta ")
    assert " meta_cloud " in row
    assert "+16505551234 via endpoint" in row
    assert "sent→delivered→read" in row
    assert row.endswith(json.dumps(BOOKING, sort_keys=True))
    [note] = [line for line in lines if line.startswith("via endpoint:")]
    assert "played APPOINTMENT → SUMMARY through the Flow endpoint at http://127.0.0.1:" in note
    assert note.endswith("/flow (2 encrypted exchanges: INIT, data_exchange)")
    assert lines[-1].count("data-exchange Flow through a local endpoint") == 1

    # The endpoint saw INIT then data_exchange, over HTTP, encrypted and signed.
    [booking] = bookings
    assert booking.seen == ["INIT", "data_exchange"]
    assert [(method, path) for method, path, _ in served] == [("POST", "/flow")] * 2
    for _, _, body in served:
        assert set(json.loads(body)) == {
            "encrypted_flow_data",
            "encrypted_aes_key",
            "initial_vector",
        }
    assert booking.endpoint.app_secrets == ("emulator-meta-app-secret",)


def test_the_demo_fails_when_the_completion_is_not_the_booking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway import demo_endpoint

    monkeypatch.setattr(demo_endpoint, "booking_ref", lambda *args: "CE-0000")
    code, lines = _run()
    assert code == 1
    assert lines[-1].startswith(
        "demo FAILED: DemoFailure: meta: the data-exchange FlowCompleted is not the booking"
    )
    assert "CE-0000" in lines[-1]


def test_the_demo_fails_when_the_walk_has_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import demo_endpoint

    def broken(*args: object) -> str:
        raise RuntimeError("the booking system is down")

    monkeypatch.setattr(demo_endpoint, "booking_ref", broken)  # the endpoint answers 500
    code, lines = _run()
    assert code == 1
    assert lines == [
        "demo FAILED: DemoFailure: meta: the data-exchange Flow: APPOINTMENT: endpoint_error: "
        "data_exchange: HTTP 500: unexpected status"
    ]


def test_without_the_crypto_extra_the_demo_passes_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)  # as if not installed
    code, lines = _run()
    assert code == 0, lines
    hint = (
        "the demo's data-exchange row needs the 'crypto' extra: pip install 'flowgateway[crypto]'"
    )
    assert [line for line in lines if "crypto" in line] == [hint]
    assert not [line for line in lines if "demo-endpoint-3" in line or "via endpoint" in line]
    assert "9 round trips over 5 providers" in lines[-1]
    assert "data-exchange" not in lines[-1]
