"""Where the emulator reports each failure, checked on the wire (HTTP answers, raw webhooks)."""

from __future__ import annotations

import json

import pytest

from gateway.emulator import FAILURE_LOCATIONS, FAULTS, SIMULATORS
from gateway.emulator.failures import TRANSPORT_FAULTS, failure_table_markdown
from tests.kits import KITS
from tests.unit.emulator_wire import PHONE, PROVIDERS, control, docs, emulator, request, send, value

BSUID = "US.13491208655302741918"


def test_the_table_covers_every_provider_and_fault() -> None:
    assert set(FAILURE_LOCATIONS) == set(SIMULATORS)
    reported = {f for faults in FAILURE_LOCATIONS.values() for f in faults}
    assert reported | set(TRANSPORT_FAULTS) == set(FAULTS)
    for faults in FAILURE_LOCATIONS.values():
        assert {"window_closed", "rate_limit", "server_error"} <= set(faults)
        for fault, site in faults.items():
            assert site.source
            assert site.emits
            if fault != "window_closed":
                assert site.settable == ("response",)  # answered at once, as providers do


def test_the_readme_table_is_rendered_from_the_data() -> None:
    text = failure_table_markdown()
    rows = [r for r in text.splitlines() if r.startswith("| `")]
    assert len(rows) == sum(len(f) for f in FAILURE_LOCATIONS.values())
    assert "| `onemsg` | `window_closed` | `response` |" in text
    assert "wh_status_failed_131047_zammad.json" in text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_window_closed_is_accepted_then_reported_by_webhook(provider: str) -> None:
    emu = emulator()
    emu.set_failure_location(provider, "window_closed", "webhook")  # 1msg: not the default
    emu.inject(provider, "window_closed")
    _, message_id = send(emu, provider)
    calls = emu.callbacks(message_id, {"ok": True}, ("sent", "delivered", "read"))
    [doc] = docs(calls)  # the failure only: no delivered/read, no Flow completion
    KITS[provider].check_window_closed_callback(doc, message_id=message_id, phone=PHONE[1:])
    assert [m.message_id for m in emu.sent(provider)] == [message_id]


def test_a_failed_status_of_a_bsuid_send_names_the_bsuid() -> None:
    emu = emulator()
    emu.inject("meta_cloud", "window_closed")
    _, message_id = send(emu, "meta_cloud", BSUID)
    [doc] = docs(emu.callbacks(message_id))
    [status] = value(doc)["statuses"]
    assert status["recipient_user_id"] == BSUID
    assert "recipient_id" not in status  # nobody knows this user's phone


SYNCHRONOUS = [p for p in PROVIDERS if "response" in FAILURE_LOCATIONS[p]["window_closed"].settable]


@pytest.mark.parametrize("provider", SYNCHRONOUS)
def test_the_synchronous_variant_is_a_setting(provider: str) -> None:
    emu = emulator()
    defaults = emu.failure_locations
    emu.set_failure_location(provider, "window_closed", "response")
    assert emu.failure_locations[provider]["window_closed"] == "response"
    emu.inject(provider, "window_closed")
    resp = emu.respond(request(provider))
    KITS[provider].check_window_closed_answer(resp.status_code, resp.json())
    assert emu.sent(provider) == []
    assert {p: t for p, t in emu.failure_locations.items() if p != provider} == {
        p: t for p, t in defaults.items() if p != provider
    }  # settings are per provider


def test_settings_are_checked_against_the_table() -> None:
    emu = emulator()
    with pytest.raises(ValueError, match="not 'response'"):
        emu.set_failure_location("sinch", "window_closed", "response")  # Sinch never does
    with pytest.raises(ValueError, match="not 'webhook'"):
        emu.set_failure_location("meta_cloud", "rate_limit", "webhook")
    with pytest.raises(ValueError, match="no 'expire_token'"):
        emu.set_failure_location("meta_cloud", "expire_token", "response")
    with pytest.raises(ValueError, match="no 'expire_token' fault"):
        emu.inject("onemsg", "expire_token")  # only Sinch's tokens expire here
    emu.inject("sinch", "expire_token")
    configured = type(emu)(
        {"onemsg": dict(emulator().sims["onemsg"].account)},
        failure_locations={"onemsg": {"window_closed": "webhook"}},
    )
    assert configured.failure_locations == {
        "onemsg": {
            "window_closed": "webhook",
            "rate_limit": "response",
            "server_error": "response",
        }
    }


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("fault", "status"), [("rate_limit", 429), ("server_error", 500)])
def test_transient_faults_stay_synchronous(provider: str, fault: str, status: int) -> None:
    emu = emulator()
    emu.inject(provider, fault, retry_after=3)
    resp = emu.respond(request(provider))
    assert resp.status_code >= status
    if fault == "rate_limit":
        assert resp.headers["retry-after"] == "3"
    assert emu.sent(provider) == []


def test_control_api_reads_and_sets_failure_locations() -> None:
    emu = emulator()
    table = control(emu, "GET", "/_emulator/failure_locations").json()
    assert table["onemsg"]["window_closed"] == "response"
    spec = {"provider": "onemsg", "fault": "window_closed", "where": "webhook"}
    resp = control(emu, "POST", "/_emulator/failure_locations", spec)
    assert resp.json()["onemsg"]["window_closed"] == "webhook"
    bad = {"provider": "sinch", "fault": "window_closed", "where": "response"}
    assert control(emu, "POST", "/_emulator/failure_locations", bad).status_code == 400
    assert control(emu, "POST", "/_emulator/failure_locations", {}).status_code == 400
    control(emu, "POST", "/_emulator/faults", {"provider": "onemsg", "kind": "window_closed"})
    req = request("onemsg")
    resp = control(emu, "POST", req.url.removeprefix("http://emu"), json.loads(req.content))
    assert resp.json()["sent"] is True  # accepted: the failure follows as an ack
