"""``flowgateway config check``: every problem at once, each naming its key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway import ConfigError, cli
from gateway.config import parse_config
from gateway.config_check import check_config, check_file

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "EAAG-not-a-real-token-0123456789"  # must never be printed

FIVE_MISTAKES = f"""
[gateway]
default_sender = "main"
[gateway.retry]
max_attemps = 4

[senders.main]
provider = "meta_cloud"
phone_number_id = "1"
access_token = "{TOKEN}"
base_url = "graph.facebook.com"
app_secret = ""

[senders.br]
provider = "meta_clod"

[[routes]]
to_prefix = "+55"
sender = "brazil"
"""

CLEAN = f"""
[senders.main]
provider = "meta_cloud"
phone_number_id = "1"
access_token = "{TOKEN}"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_five_mistakes_are_five_errors_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, FIVE_MISTAKES)
    assert cli.main(["config", "check", "--config", str(path)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 5, out
    by_key = {line.split(": error: ")[1].partition(": ")[0]: line for line in lines}
    assert set(by_key) == {
        "gateway.retry.max_attemps",
        "senders.main.base_url",
        "senders.main.app_secret",
        "senders.br.provider",
        "routes[0].sender",
    }
    assert "did you mean 'max_attempts'?" in by_key["gateway.retry.max_attemps"]
    assert "did you mean 'meta_cloud'?" in by_key["senders.br.provider"]
    assert "scheme" in by_key["senders.main.base_url"]
    assert "empty" in by_key["senders.main.app_secret"]
    assert "'brazil' is not a configured sender" in by_key["routes[0].sender"]
    assert TOKEN not in out + err
    assert "5 problem(s)" in err


def test_clean_file_prints_ok_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, CLEAN)
    assert cli.main(["config", "check", "--config", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: ok"


def test_bundled_config_is_clean() -> None:
    assert check_file(ROOT / "config" / "gateway.toml", env={}) == []


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, FIVE_MISTAKES)
    assert cli.main(["config", "check", "--config", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert len(report) == 5
    assert all(set(p) == {"key", "message"} for p in report)


def test_misspelled_sender_setting_suggests_from_the_adapter_settings() -> None:
    data = {
        "senders": {"m": {"provider": "meta_cloud", "phone_numbr_id": "1", "access_token": "x"}}
    }
    problems = {p.key: p.message for p in check_config(data, env={})}
    assert problems["senders.m.phone_numbr_id"] == "unknown key; did you mean 'phone_number_id'?"
    assert "senders.m.phone_number_id" in problems  # and the required one is missing


def test_misspelled_top_level_and_receiver_keys() -> None:
    data = {"sendrs": {}, "receiver": {"max_atempts": 3}, "senders": {"a": {"provider": "x"}}}
    messages = [str(p) for p in check_config(data, env={})]
    assert "sendrs: unknown key; did you mean 'senders'?" in messages
    assert "receiver.max_atempts: unknown key; did you mean 'max_attempts'?" in messages


def test_every_unset_variable_is_reported_once() -> None:
    data = {
        "senders": {
            "m": {"provider": "meta_cloud", "phone_number_id": "${A}", "access_token": "${B}"}
        }
    }
    problems = check_config(data, env={})
    assert [(p.key, p.message) for p in problems] == [
        ("senders.m.phone_number_id", "environment variable A is not set"),
        ("senders.m.access_token", "environment variable B is not set"),
    ]


def test_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    [problem] = check_file(_write(tmp_path, "[senders\n"))
    assert "invalid TOML" in problem.message
    [problem] = check_file(tmp_path / "absent.toml")
    assert problem.message == "config file not found"


def test_load_config_still_raises_the_first_problem_and_rejects_schemeless_urls() -> None:
    data = {"senders": {"m": {"provider": "meta_cloud", "base_url": "localhost:8580"}}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    assert info.value.key == "senders"
    assert "senders.m.base_url" in str(info.value)
    assert "localhost" not in str(info.value)  # a URL may carry credentials: never echoed
