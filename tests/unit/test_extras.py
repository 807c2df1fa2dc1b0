"""A missing extra reads as one sentence naming what to install: in the CLI (one line, a
non-zero exit, no traceback) and from Python (MissingExtra, a GatewayError and an
ImportError). Extras are removed by making their modules unimportable in this process."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import AsyncGateway, GatewayError, cli
from gateway.config import load_config, parse_config
from gateway.extras import EXTRAS, MissingExtra, extra_for_module, missing, require
from gateway.log import configure_logging
from gateway.transport import AsyncHttpxTransport, default_async_transport

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config/gateway.toml"
HINT = "needs the '{extra}' extra: pip install 'flowgateway[{extra}]'"


def _remove(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` unimportable (as if not installed) for this test."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def _forget(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Drop ``package`` and its submodules from the import cache, so that the next import
    runs its checks again (monkeypatch puts the originals back afterwards)."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, name)


COMMANDS = [
    (["demo"], "server", "the demo"),
    (["emulator"], "server", "the emulator"),
    (["serve", "--config", str(CONFIG)], "server", "the receiver"),
    (["keygen", "--passphrase-env", "NOPE"], "crypto", "keygen"),
]


@pytest.mark.parametrize(("argv", "extra", "feature"), COMMANDS)
def test_cli_command_without_its_extra_prints_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    extra: str,
    feature: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be written: no inbox, no key files
    for module in EXTRAS[extra]:  # each module alone is enough to refuse
        with monkeypatch.context() as m:
            _remove(m, module)
            assert cli.main(argv) == 2
            out, err = capsys.readouterr()
            assert (out, err) == ("", f"flowgateway: {feature} {HINT.format(extra=extra)}\n")
    assert list(tmp_path.iterdir()) == []


def test_every_command_is_either_checked_or_needs_no_extra() -> None:
    parser = cli._parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    commands = set(sub.choices)  # type: ignore[arg-type]
    no_extra = {"providers", "validate", "send", "register-key", "flows", "templates"}
    # SQLite is the stdlib's; PostgreSQL and Redis check themselves where they are used
    no_extra |= {"store", "inbox", "send-many", "worker", "outbox", "config"}
    assert commands == set(cli.NEEDS) | no_extra


def test_commands_without_extras_work_with_every_extra_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _remove(monkeypatch, *(m for modules in EXTRAS.values() for m in modules))
    assert cli.main(["providers"]) == 0
    flow = tmp_path / "flow.json"
    flow.write_text('{"version": "7.3", "screens": []}')
    assert cli.main(["validate", str(flow)]) == 1  # issues found: exit 1, not a crash
    send = ["send", "--config", str(CONFIG), "--to", "+5511987654321", "--dry-run"]
    send += ["--flow-id", "1", "--flow-cta", "Go", "--body", "Hi", "--screen", "S"]
    assert cli.main(send) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_an_extra_module_imported_past_the_checks_still_reads_as_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def needs_aiohttp(args: object) -> int:
        raise ModuleNotFoundError("No module named 'aiohttp'", name="aiohttp")

    monkeypatch.setattr(cli, "_validate", needs_aiohttp)
    assert cli.main(["validate", "x.json"]) == 2
    assert capsys.readouterr().err == f"flowgateway: validate {HINT.format(extra='fast')}\n"


def test_a_module_of_no_extra_is_not_blamed_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise ModuleNotFoundError("No module named 'nowhere'", name="nowhere")

    monkeypatch.setattr(cli, "_validate", broken)
    with pytest.raises(ModuleNotFoundError):
        cli.main(["validate", "x.json"])


def test_missing_extra_is_a_gateway_error_and_an_import_error() -> None:
    exc = MissingExtra("server", "the receiver", "starlette")
    assert isinstance(exc, GatewayError)
    assert isinstance(exc, ImportError)
    assert (exc.extra, exc.feature, exc.name) == ("server", "the receiver", "starlette")
    assert str(exc) == f"the receiver {HINT.format(extra='server')}"
    assert extra_for_module("jwt.algorithms") == "crypto"
    assert extra_for_module("httpx") is None


def test_require_names_the_first_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    assert missing("crypto") is None
    require("crypto", "anything")  # installed: no error
    _remove(monkeypatch, "jwt")
    assert missing("crypto") == "jwt"
    with pytest.raises(MissingExtra) as info:
        require("crypto", "the Flow endpoint")
    assert info.value.name == "jwt"


# -- Python entry points --------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "extra", "feature"),
    [
        ("gateway.receiver", "server", "the receiver"),
        ("gateway.endpoint", "crypto", "the Flow endpoint"),
        ("gateway.transport_aiohttp", "fast", "the aiohttp transport"),
    ],
)
def test_importing_an_entry_point_without_its_extra(
    monkeypatch: pytest.MonkeyPatch, package: str, extra: str, feature: str
) -> None:
    _forget(monkeypatch, package)
    _remove(monkeypatch, EXTRAS[extra][0])
    with pytest.raises(MissingExtra) as info:
        importlib.import_module(package)
    assert str(info.value) == f"{feature} {HINT.format(extra=extra)}"
    assert package not in sys.modules


def test_emulator_runs_in_process_without_the_server_extra_and_says_so_for_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.emulator import Emulator

    _remove(monkeypatch, "starlette", "uvicorn")
    emulator = Emulator.from_config(load_config(CONFIG))  # in process: no extra needed
    assert emulator.sims
    with pytest.raises(MissingExtra, match=r"^the emulator's HTTP server needs the 'server'"):
        _ = emulator.asgi


def test_endpoint_asgi_app_without_the_server_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.endpoint import FlowEndpoint
    from gateway.endpoint.app import endpoint_app

    _remove(monkeypatch, "starlette")
    endpoint = FlowEndpoint([], accept_plaintext=True)
    with pytest.raises(MissingExtra, match=r"^the endpoint's ASGI app needs the 'server'"):
        endpoint_app(endpoint)


def test_demo_run_reports_the_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import demo

    _remove(monkeypatch, "uvicorn")
    out = io.StringIO()
    assert demo.run(CONFIG, out) == 1
    assert out.getvalue() == (
        f"demo FAILED: MissingExtra: the demo {HINT.format(extra='server')}\n"
    )


# -- the async backend ----------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    logger = logging.getLogger("flowgateway")
    level, propagate = logger.level, logger.propagate
    stream = io.StringIO()
    handler = configure_logging("INFO", "json", stream)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate


def _config(backend: str | None) -> dict[str, object]:
    data = load_config(CONFIG).model_dump(mode="json")
    if backend is not None:
        data["gateway"]["async_backend"] = backend
    return data


def _backend_events(stream: io.StringIO) -> list[dict[str, str]]:
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in events if e["event"] == "transport.async_backend"]


def _transport_of(gw: AsyncGateway) -> object:
    return gw._transport


@pytest.mark.parametrize(
    ("setting", "used"),
    [(None, "aiohttp"), ("auto", "aiohttp"), ("aiohttp", "aiohttp"), ("httpx", "httpx")],
)
def test_async_backend_setting_is_used_and_logged_once(
    log_lines: io.StringIO, setting: str | None, used: str
) -> None:
    from gateway.transport_aiohttp import AiohttpTransport

    gw = AsyncGateway(parse_config(_config(setting)))
    expected = AiohttpTransport if used == "aiohttp" else AsyncHttpxTransport
    assert type(_transport_of(gw)) is expected
    asyncio.run(gw.close())
    [event] = _backend_events(log_lines)
    assert (event["backend"], event["setting"], event["level"]) == (used, setting or "auto", "info")


def test_auto_falls_back_to_httpx_without_aiohttp_and_aiohttp_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, log_lines: io.StringIO
) -> None:
    _forget(monkeypatch, "gateway.transport_aiohttp")
    _remove(monkeypatch, "aiohttp")
    gw = AsyncGateway(parse_config(_config("auto")))
    assert isinstance(_transport_of(gw), AsyncHttpxTransport)
    asyncio.run(gw.close())
    [event] = _backend_events(log_lines)
    assert (event["backend"], event["setting"]) == ("httpx", "auto")
    with pytest.raises(MissingExtra) as info:
        AsyncGateway(parse_config(_config("aiohttp")))
    assert str(info.value) == (f'[gateway] async_backend = "aiohttp" {HINT.format(extra="fast")}')


def test_an_unknown_backend_fails_at_load_naming_the_key() -> None:
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^gateway\.async_backend: "):
        parse_config(_config("curl"))
    with pytest.raises(ConfigError, match=r"^gateway\.async_backend: unknown backend 'curl'"):
        default_async_transport("curl")  # type: ignore[arg-type]


def test_emulator_fixture_without_the_server_extra_fails_in_one_line(tmp_path: Path) -> None:
    # A user's project: the plugin comes from the entry point, uvicorn is "not installed".
    (tmp_path / "conftest.py").write_text("import sys\n\nsys.modules['uvicorn'] = None\n")
    (tmp_path / "test_mine.py").write_text("def test_mine(emulator):\n    pass\n")
    result = subprocess.run(  # noqa: S603 - this interpreter, our own test
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    hint = HINT.format(extra="server")
    assert result.stdout.count(f"\nthe emulator fixture {hint}\n") == 1
    assert "Traceback" not in result.stdout
    assert "During handling" not in result.stdout
    assert "1 error" in result.stdout
