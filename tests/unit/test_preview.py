"""The preview app (``flowgateway flows preview FLOW.json``) without a browser: its page,
its JSON API, what it refuses, and the command as a user runs it.

The browser drives the same page in tests/browser/test_preview_browser.py.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.cli import main
from gateway.cli_play import is_local
from gateway.emulator.server import LoopbackServer
from gateway.flowjson.player_exchange import endpoint_exchange
from gateway.flowjson.player_session import FlowSession
from gateway.preview import preview_app
from tests.flowjson.player import endpoints

GREET_FILE = Path(__file__).parents[1] / "flowjson/player/greet.json"
ROOT = Path(__file__).parents[2]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """The app served on loopback, as the command serves it."""
    session = FlowSession(GREET_FILE.read_bytes, exchange=endpoint_exchange(endpoints.greeter()))
    server = LoopbackServer()
    server.start_thread(preview_app(session, title="greet <b>"))
    try:
        with httpx.Client(base_url=server.url) as http:
            yield http
    finally:
        server.stop_thread()


def _press(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/press", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_page_loads_nothing_from_anywhere(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.text
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'")
    assert "connect-src 'self'" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce
    assert page.count(f'nonce="{nonce.group(1)}"') == 2
    assert client.get("/").headers["content-security-policy"] != csp  # a nonce per page
    # No external asset: no URL to fetch in an attribute, a stylesheet or an import.
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)|@import|url\(|<link\b""", page)
    assert "<title>greet &lt;b&gt; </title>" not in page
    assert "greet &lt;b&gt;" in page


def test_the_api_walks_the_flow_to_its_completion(client: httpx.Client) -> None:
    state = client.get("/api/state").json()
    assert state["screen"]["id"] == "ASK"
    assert client.get("/api/state").headers["cache-control"] == ("no-store")
    refused = _press(client, {"form": {"name": None}})
    assert refused["screen"]["id"] == "ASK"
    assert "name" in refused["errors"]
    assert _press(client, {"form": {"name": "Ann"}})["screen"]["id"] == "GREET"
    assert client.post("/api/back", json={}).json()["screen"]["id"] == "ASK"
    _press(client, {"form": {"name": "Ann", "size": "s"}})
    _press(client, {"form": {"mood": "meh"}})
    done = _press(client, {"form": {}, "action": "footer"})
    assert done["ended"]
    assert done["completion"]["response_json"]["size"] == "s"
    again = client.post("/api/restart", json={}).json()
    assert again["screen"]["id"] == "ASK"
    assert again["completion"] is None


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"content": b'{"form": {}}'}, 415),  # no JSON content type: a cross-site form post
        ({"content": b"{", "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": []}, 400),
        ({"json": {"form": []}}, 400),
        ({"json": {"form": {}, "action": 3}}, 400),
        ({"json": {"form": {}, "item": {"id": 1}}}, 400),
    ],
)
def test_a_press_that_is_not_a_json_press_is_refused(
    client: httpx.Client, kwargs: dict[str, Any], status: int
) -> None:
    response = client.post("/api/press", **kwargs)
    assert response.status_code == status
    assert "error" in response.json()
    assert client.get("/api/state").json()["steps"] == 0  # nothing was pressed


def test_only_a_loopback_host_is_answered(client: httpx.Client) -> None:
    # A page on another site that rebinds its name to 127.0.0.1 sends its own Host.
    assert client.get("/api/state", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/api/state", headers={"Host": "localhost:8765"}).status_code == 200


def test_a_local_file_or_a_flow_id() -> None:
    assert is_local("flows/booking.json")
    assert is_local("FLOW.JSON")
    assert is_local(str(GREET_FILE))
    assert not is_local("1234567890")


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["flows", "preview", "missing.json"], "missing.json: no such file"),
        (["flows", "preview", "booking"], "booking: no such file"),  # .json left off
        (
            ["flows", "preview", str(GREET_FILE), "--data", "{bad"],
            "--data: not JSON (Expecting property name enclosed in double quotes at line 1, "
            "column 2)",
        ),
        (
            [
                "flows",
                "preview",
                str(GREET_FILE),
                "--endpoint",
                "http://x",
                "--public-key",
                str(GREET_FILE),
            ],
            "not an RSA public key in PEM",
        ),
        (["flows", "preview", str(GREET_FILE), "--data", "[1]"], "--data must be a JSON object"),
        (["flows", "preview", str(GREET_FILE), "--endpoint", "http://x"], "--public-key"),
        (["flows", "preview", str(GREET_FILE), "--interactive"], "FLOW_ID"),
        (["flows", "preview", str(GREET_FILE), "--json"], "--json: only for a FLOW_ID"),
        (["flows", "preview", "1", "--app", "m", "--init"], "--app, --init need a FLOW.json"),
        (["flows", "preview", str(GREET_FILE), "--data", "@nope.json"], "--data nope.json: no"),
        (["flows", "preview", "1234567890", "--app", "m:e"], "--app needs a FLOW.json"),
        (["flows", "preview", "1234567890", "--init"], "--init needs a FLOW.json"),
    ],
)
def test_bad_preview_arguments_are_one_line_and_exit_2(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err
    assert len(err.strip().splitlines()) == 1


def test_a_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["flows", "preview", str(GREET_FILE), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == f"flowgateway flows preview: port {port} is in use: --port 0 takes a free one\n"


def test_an_app_module_that_fails_to_import_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken_endpoint_app.py").write_text("import os\nKEY = os.environ['NOPE_KEY']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["flows", "play", str(GREET_FILE), "--answers", str(GREET_FILE)]
    assert main([*argv, "--app", "broken_endpoint_app"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "flowgateway flows play: --app broken_endpoint_app: importing broken_endpoint_app "
        "failed: KeyError: 'NOPE_KEY'\n"
    )


def test_play_names_the_answers_file_that_is_not_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text("{'ASK': {}}")
    assert main(["flows", "play", str(GREET_FILE), "--answers", str(answers)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"flowgateway flows play: {answers}: not JSON (Expecting property")
    assert err.endswith("at line 1, column 2)\n")


def test_play_opens_with_the_given_data_screen_and_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"DONE": {}}))
    argv = ["flows", "play", str(GREET_FILE), "--answers", str(answers)]
    assert main([*argv, "--screen", "DONE", "--data", '{"name": "Bo"}', "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["completion"]["response_json"]["name"] == "Bo"
    assert main([*argv, "--init"]) == 1  # INIT, and no endpoint given
    assert "INIT needs an endpoint" in capsys.readouterr().out


def test_the_command_prints_what_the_flow_cannot_open_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "bad.json"
    flow.write_text('{"version": "7.3", "screens": [}')
    served: list[Any] = []  # the page is not served: the socket is closed at once
    monkeypatch.setattr(
        "gateway.emulator.server.LoopbackServer.run",
        lambda self, app: served.append(app) or self._sock.close(),
    )
    assert main(["flows", "preview", str(flow), "--port", "0"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"Previewing {flow} at http://127.0.0.1:")
    assert err.startswith("FINDING invalid_flow: INVALID_FLOW_JSON")
    assert "(line 1, column 32)" in err
    assert len(served) == 1  # served all the same: fix the file and press ↻


def test_the_command_serves_the_page_until_stopped(tmp_path: Path) -> None:
    """As a user runs it: a file, an in-process endpoint, a free port."""
    flow = tmp_path / "greet.json"
    flow.write_bytes(GREET_FILE.read_bytes())
    argv = [
        sys.executable, "-m", "gateway.cli", "flows", "preview", str(flow), "--port", "0",
        "--app", "tests.flowjson.player.endpoints:greet", "--data", '{"heading": "Hey"}',
    ]  # fmt: skip
    pipe = subprocess.PIPE
    with subprocess.Popen(argv, cwd=ROOT, stdout=pipe, stderr=pipe, text=True) as proc:  # noqa: S603
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            url = re.search(r"http://127\.0\.0\.1:\d+/", line)
            assert url, line
            with urllib.request.urlopen(f"{url.group(0)}api/state", timeout=10) as got:  # noqa: S310
                state = json.load(got)
            assert state["screen"]["components"][0]["text"] == "Hey"
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()  # a clean stop
