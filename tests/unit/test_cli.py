"""The CLI and the demo, run in-process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gateway import cli, demo

ROOT = Path(__file__).resolve().parents[2]
SEND = ["send", "--config", str(ROOT / "config/gateway.toml"), "--to", "+5511987654321"]
FLOW = ["--flow-id", "123", "--flow-cta", "Go", "--body", "Hi", "--screen", "S"]


def test_demo_round_trips_and_exits_zero() -> None:
    out = io.StringIO()
    assert demo.run(ROOT / "config/gateway.toml", out) == 0
    text = out.getvalue()
    assert "sent→delivered→read" in text
    assert "demo-meta-interactive" in text
    assert "demo-meta-template" in text
    assert "2 Flow round trips, 0 failures" in text


def test_demo_fails_loudly_when_credentials_disagree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "gw.toml"
    text = (ROOT / "config/gateway.toml").read_text()
    broken.write_text(text.replace('phone_number_id = "100000000000001"', 'phone_number_id = "1"'))
    monkeypatch.setattr(
        demo, "_emulator_for", lambda s: demo.MetaEmulator("emulator-access-token", "x", "2", "3")
    )
    out = io.StringIO()
    assert demo.run(broken, out) == 1
    assert "FAILED" in out.getvalue()


def test_send_dry_run_prints_masked_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*SEND, *FLOW, "--data", '{"a": 1}', "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["headers"]["Authorization"] == "***"
    assert printed["json"]["interactive"]["action"]["parameters"]["flow_action_payload"] == {
        "screen": "S",
        "data": {"a": 1},
    }


def test_send_from_json_file_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "msg.json"
    f.write_text(json.dumps({"to": "+14155550100", "template": {"name": "t", "language": "en_US"}}))
    assert cli.main([*SEND[:3], "--json", str(f), "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["json"]["type"] == "template"


def test_invalid_message_exits_2_naming_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main([*SEND, "--flow-id", "1", "--flow-cta", "x" * 21, "--body", "b", "--screen", "S"])
        == 2
    )
    assert "flow_cta_too_long" in capsys.readouterr().err


def test_unreachable_provider_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWGATEWAY_EMULATOR_URL", "http://127.0.0.1:9")  # discard port: refused
    assert cli.main([*SEND, *FLOW]) == 1
    assert "ProviderUnavailable" in capsys.readouterr().err


def test_providers_and_missing_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["providers"]) == 0
    assert "meta_cloud" in capsys.readouterr().out
    assert cli.main(["send", "--config", "/nonexistent.toml", *FLOW, "--to", "+14155550100"]) == 2
    assert "config file not found" in capsys.readouterr().err
