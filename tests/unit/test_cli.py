"""The CLI and the demo, run in-process."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from gateway import cli, demo
from gateway.config import load_config

ROOT = Path(__file__).resolve().parents[2]
SEND = ["send", "--config", str(ROOT / "config/gateway.toml"), "--to", "+5511987654321"]
FLOW = ["--flow-id", "123", "--flow-cta", "Go", "--body", "Hi", "--screen", "S"]


def test_demo_round_trips_every_configured_provider() -> None:
    out = io.StringIO()
    config = ROOT / "config/gateway.toml"
    assert demo.run(config, out) == 0
    lines = out.getvalue().splitlines()
    rows = [line for line in lines if "demo-booking-42" in line and "→" in line]
    providers = [t["provider"] for t in load_config(config, env={}).senders.values()]
    assert len(rows) == len(providers)
    for provider in providers:
        [row] = [r for r in rows if f" {provider} " in r]
        assert "sent→delivered→read" in row
        assert '{"date": "2026-12-01", "party_size": 2, "slot": "10:30"}' in row
    assert "the same FlowCompleted" in lines[-1]


def test_demo_fails_loudly_when_a_provider_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.emulator import Emulator

    original = Emulator.from_config

    def wrong_token(config: object) -> Emulator:
        emulator = original(config)  # type: ignore[arg-type]
        emulator.sims["sinch"].account["key_secret"] = "rotated"
        return emulator

    monkeypatch.setattr(Emulator, "from_config", staticmethod(wrong_token))
    out = io.StringIO()
    assert demo.run(ROOT / "config/gateway.toml", out) == 1
    assert "demo FAILED: AuthenticationError" in out.getvalue()


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


def test_send_from_json_file_with_provider_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "msg.json"
    options = {"sinch": {"correlation_id": "order-42", "ttl_seconds": 600}}
    fields = {"to": "+14155550100", "sender": "sinch", "options": options}
    f.write_text(
        json.dumps({**fields, "flow_id": "1", "flow_cta": "Go", "body": "Hi", "screen": "S"})
    )
    assert cli.main([*SEND[:3], "--json", str(f), "--dry-run"]) == 0
    sent = json.loads(capsys.readouterr().out)["json"]
    assert (sent["correlation_id"], sent["ttl"]) == ("order-42", "600s")


def test_options_for_a_provider_without_any_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "msg.json"
    f.write_text(json.dumps({"to": "+14155550100", "options": {"meta_cloud": {"x": 1}}}))
    assert cli.main([*SEND[:3], "--json", str(f), "--dry-run"]) == 2
    assert "options.meta_cloud" in capsys.readouterr().err


def test_invalid_message_exits_2_naming_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main([*SEND, "--flow-id", "1", "--flow-cta", "x" * 31, "--body", "b", "--screen", "S"])
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


def _dead_job_inbox(path: Path) -> None:
    from gateway.store import Delivery, NewEvent, Outcome, open_store

    inbox = open_store(f"sqlite:///{path}")
    event = NewEvent("k1", "FlowCompleted", {"type": "FlowCompleted"}, ("orders",))
    inbox.record([Delivery("meta", "meta_cloud", 1.0, {}, b'{"raw": "body"}', (event,))])
    [job] = inbox.claim("w", 2.0, 10, 30.0)
    inbox.settle("w", [Outcome(job.id, "ValueError: boom", None)], 3.0)
    inbox.close()


def test_inbox_list_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "inbox.db"
    _dead_job_inbox(db)
    assert cli.main(["inbox", "list", "--inbox", str(db)]) == 0
    out = capsys.readouterr().out
    assert "dead" in out
    assert "ValueError: boom" in out
    assert cli.main(["inbox", "list", "--inbox", str(db), "--status", "dead", "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["status"], row["handler"], row["attempts"]) == ("dead", "orders", 1)
    assert cli.main(["inbox", "replay", "--inbox", str(db)]) == 2
    assert cli.main(["inbox", "replay", "--inbox", str(db), "--dead"]) == 0
    assert "1 job(s) queued again" in capsys.readouterr().out
    assert cli.main(["inbox", "list", "--inbox", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "pending"
    assert cli.main(["inbox", "replay", "--inbox", str(db), str(row["id"])]) == 0


def test_inbox_show_stats_prune_and_typos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "inbox.db"
    _dead_job_inbox(db)
    assert cli.main(["inbox", "show", "--inbox", str(db), "1"]) == 0
    out = capsys.readouterr().out
    assert "job 1: dead, 1 attempt(s), handler orders" in out
    assert "last error: ValueError: boom" in out
    assert '{"raw": "body"}' in out  # the callback as received
    assert cli.main(["inbox", "show", "--inbox", str(db), "--json", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["dedup_key"] == "k1"
    # an unknown job id is an error, never silence
    assert cli.main(["inbox", "show", "--inbox", str(db), "999"]) == 1
    assert "no job 999" in capsys.readouterr().err
    assert cli.main(["inbox", "replay", "--inbox", str(db), "1", "999"]) == 1
    assert "no job 999" in capsys.readouterr().err
    assert cli.main(["inbox", "stats", "--inbox", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["dead"] == 1
    assert cli.main(["inbox", "prune", "--inbox", str(db), "--older-than", "0"]) == 0
    assert "pruned 0 job(s)" in capsys.readouterr().out  # dead jobs are kept
    assert cli.main(["inbox", "unroutable", "--inbox", str(db)]) == 0
    # a typo in the file name: an error, and no empty database made
    typo = tmp_path / "inbx.db"
    assert cli.main(["inbox", "list", "--inbox", str(typo)]) == 2
    assert "no store at" in capsys.readouterr().err
    assert not typo.exists()


def test_store_migrate_and_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert cli.main(["store", "version", "--store", url]) == 0
    assert "schema version 3; this release needs 3" in capsys.readouterr().out
    assert cli.main(["store", "migrate", "--store", url]) == 0
    assert "schema at version 3 (up to date)" in capsys.readouterr().out
    assert cli.main(["store", "migrate", "--store", "mysql://x"]) == 2
    assert "unknown store 'mysql'" in capsys.readouterr().err


def test_serve_builds_the_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.receiver import WebhookReceiver

    started: list[WebhookReceiver] = []
    monkeypatch.setattr(WebhookReceiver, "run", lambda self, host, port: started.append(self))
    args = [
        "serve",
        "--config",
        str(ROOT / "config/gateway.toml"),
        "--inbox",
        str(tmp_path / "i.db"),
    ]
    assert cli.main(args) == 0
    [receiver] = started
    assert receiver.handler_names() == ["flowgateway.log"]
    assert receiver.settings.inbox == str(tmp_path / "i.db")
    receiver.inbox.close()


def test_validate_reports_like_a_compiler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad, broken = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "broken.json"
    flow = {"version": "7.3", "screens": [{"id": "WELCOME", "terminal": True, "layout": {
        "type": "SingleColumnLayout", "children": [{"type": "Footer", "label": "Done",
        "on-click-action": {"name": "complete", "payload": {}}}]}}]}  # fmt: skip
    good.write_text(json.dumps(flow, indent=2))
    flow["screens"][0]["terminal"] = False  # type: ignore[index]
    bad.write_text(json.dumps(flow, indent=2))
    broken.write_text('{\n  "version": "7.3",\n  "screens": [\n}')
    assert cli.main(["validate", str(good)]) == 0
    assert "no issues" in capsys.readouterr().out
    assert cli.main(["validate", str(good), str(bad), str(broken)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:" in out
    assert "MISSING_TERMINAL_SCREEN" in out
    assert f"{broken}:4:1: error: INVALID_FLOW_JSON" in out
    assert cli.main(["validate", "--json", str(broken)]) == 1
    [issue] = json.loads(capsys.readouterr().out)
    assert (issue["line"], issue["column"], issue["error"]) == (4, 1, "INVALID_FLOW_JSON")
    assert cli.main(["validate", str(tmp_path / "missing.json")]) == 2


def test_emulator_command_serves_every_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append((app, kw)))
    assert cli.main(["emulator", "--port", "9999"]) == 0
    [(app, options)] = served
    assert options["port"] == 9999
    assert app is not None


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        [],
        ["demo"],
        ["send"],
        ["serve"],
        ["inbox", "list"],
        ["emulator"],
        ["validate"],
    ):
        with pytest.raises(SystemExit) as info:
            cli.main([*command, "--help"])
        assert info.value.code == 0
        assert "usage: flowgateway" in capsys.readouterr().out


def test_keygen_writes_an_encrypted_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.endpoint import load_private_key

    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    monkeypatch.setenv("FLOW_KEY_PASS", "correct horse battery")
    args = [
        "keygen",
        "--private",
        str(private),
        "--public",
        str(public),
        "--passphrase-env",
        "FLOW_KEY_PASS",
    ]
    assert cli.main(args) == 0
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    key = load_private_key(private.read_bytes(), "correct horse battery")
    assert key.key_size == 2048
    assert public.stat().st_mode & 0o777 == 0o644
    before = private.read_bytes()
    monkeypatch.setenv("FLOW_KEY_PASS", "short")
    assert cli.main([*args, "--force"]) == 2  # refused for the passphrase, not the files
    assert private.read_bytes() == before


def test_register_key_through_the_emulator(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"
    (tmp_path / "pub.pem").write_text(pem)
    monkeypatch.setenv("FLOWGATEWAY_EMULATOR_URL", emulator.url)
    args = ["register-key", "--config", str(ROOT / "config/gateway.toml"), "--sender", "d360",
            "--public", str(tmp_path / "pub.pem")]  # fmt: skip
    assert cli.main(args) == 0
    assert emulator.emulator.sims["dialog360_cloud"].public_key == pem
