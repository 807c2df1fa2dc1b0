"""No secret reaches any log record: ours, or the HTTP stack's (httpx, httpcore, aiohttp,
uvicorn), whatever handlers the application attaches.

The root logger is at DEBUG with one handler that renders every record the stdlib way
(``getMessage()`` plus exception text) while real requests cross 127.0.0.1: every
provider through every transport to the emulator, served by uvicorn with its access log
and ASGI trace on, and a 1msg callback (authenticated by ``?token=``) to the receiver.
Each test starts with the redaction filter removed, so only the automatic installation
(a gateway, a receiver, a server being created) can put it back.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import logging
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.logging import AccessFormatter

from gateway import AsyncGateway, FlowMessage, Gateway, ProviderError, RetryPolicy, RetrySettings
from gateway.config import parse_config
from gateway.emulator import Emulator
from gateway.emulator.server import LoopbackServer
from gateway.log import DEPENDENCY_LOGGERS, RedactingFilter, install_log_redaction
from gateway.receiver import WebhookReceiver
from gateway.redact import MASK, secrets
from gateway.transport import AsyncHttpxTransport
from gateway.transport_aiohttp import AiohttpTransport
from providers import get_adapter
from tests.conftest import META_SETTINGS, PROVIDER_SECRETS, PROVIDERS
from tests.contract.onemsg.kit import ONEMSG_TOKEN, ONEMSG_WEBHOOK_TOKEN
from tests.kits import KITS, load_cases

MSG = FlowMessage(to="+16505551234", flow_id="1", flow_cta="Open", body="Hi", screen="S")
ONE_ATTEMPT = RetryPolicy(RetrySettings(max_attempts=1))
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


class Capture(logging.Handler):
    """Every record, rendered as the stdlib renders it: getMessage() plus exception text."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = logging.Formatter().format(record)
        except Exception as exc:  # a redaction that broke %-formatting
            self.errors.append(f"{record.name}: {exc!r}")
            return
        self.records.append(record)
        self.texts.append(text)

    def assert_clean(self, values: set[str]) -> None:
        assert not self.errors
        assert self.texts
        leaks = [(value, text) for text in self.texts for value in values if value in text]
        assert not leaks


def _installed() -> list[int]:
    return [
        sum(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters)
        for name in DEPENDENCY_LOGGERS
    ]


def _uninstall() -> None:
    for name in DEPENDENCY_LOGGERS:
        logger = logging.getLogger(name)
        for f in [f for f in logger.filters if isinstance(f, RedactingFilter)]:
            logger.removeFilter(f)


@contextmanager
def _propagating(names: tuple[str, ...]) -> Iterator[None]:
    """Let these loggers' records reach the root (other tests' servers turn that off)."""
    saved = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate) for n in names}
    for name in names:
        logging.getLogger(name).propagate = True
    try:
        yield
    finally:
        for name, (level, propagate) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate


@pytest.fixture
def captured() -> Iterator[Capture]:
    """The root logger at DEBUG with a capturing handler; the filter not yet installed."""
    _uninstall()
    root, capture = logging.getLogger(), Capture()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(capture)
    try:
        with _propagating(("flowgateway", *UVICORN)):
            logging.getLogger("flowgateway").setLevel(logging.NOTSET)
            yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
        install_log_redaction()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """uvicorn on a free 127.0.0.1 port, access log and ASGI trace on (a verbose deployment)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, log_level="trace", access_log=True)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "server did not start"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _adapters(url: str) -> dict[str, Any]:
    return {
        p: get_adapter(p, **{**kit.settings, **kit.emulator_settings(url)})
        for p, kit in KITS.items()
    }


def _send_and_fail_sync(gw: Gateway, emulator: Emulator) -> None:
    for sender in gw.senders:
        gw.send(MSG.model_copy(update={"sender": sender}))
        emulator.inject(sender, "server_error")
        with pytest.raises(ProviderError):
            gw.send(MSG.model_copy(update={"sender": sender}))


async def _send_and_fail_async(gw: AsyncGateway, emulator: Emulator) -> None:
    async with gw:
        for sender in gw.senders:
            await gw.send(MSG.model_copy(update={"sender": sender}))
            emulator.inject(sender, "server_error")
            with pytest.raises(ProviderError):
                await gw.send(MSG.model_copy(update={"sender": sender}))


@pytest.mark.parametrize("stack", ["sync-httpx", "async-httpx", "async-aiohttp"])
def test_sends_through_every_provider_log_no_secret(captured: Capture, stack: str) -> None:
    emulator = Emulator(PROVIDERS)
    with serve(emulator.asgi) as url:
        adapters = _adapters(url)
        if stack == "sync-httpx":
            with Gateway(adapters, retry=ONE_ATTEMPT) as gw:
                _send_and_fail_sync(gw, emulator)
        else:
            transport = AsyncHttpxTransport() if stack == "async-httpx" else AiohttpTransport()
            agw = AsyncGateway(adapters, retry=ONE_ATTEMPT, transport=transport)
            asyncio.run(_send_and_fail_async(agw, emulator))
    tokens = {p: sim.tokens for p, sim in emulator.sims.items()}
    for provider, issued in tokens.items():  # one OAuth token fetch, then the cached token
        assert len(issued) == (1 if KITS[provider].token_auth else 0), provider
    registered = {v for a in adapters.values() for v in a.settings.secret_values()}
    captured.assert_clean(
        {*PROVIDER_SECRETS, *registered, *(t for ts in tokens.values() for t in ts)}
    )
    seen = {r.name for r in captured.records}
    assert {"flowgateway", "uvicorn.access", "uvicorn.asgi"} <= seen
    if stack.endswith("httpx"):
        assert {"httpx", "httpcore.connection", "httpcore.http11"} <= seen
    text = "\n".join(captured.texts)
    for kit in KITS.values():  # e.g. a token in the URL: masked where it was logged
        assert all(marker in text for marker in kit.log_markers), kit.name
    assert text.count("send.failed") == len(PROVIDERS)


# Providers that cannot sign authenticate callbacks by a secret in the webhook URL's query.
QUERY_SECRETS = [p for p, kit in KITS.items() if kit.authentic(b"{}")[1]]


def test_some_provider_puts_a_secret_in_the_callback_url() -> None:
    assert QUERY_SECRETS  # else the next test checks nothing


@pytest.mark.parametrize("provider", QUERY_SECRETS)
def test_receiver_access_log_masks_the_webhook_token(
    captured: Capture, tmp_path: Path, provider: str
) -> None:
    kit = KITS[provider]
    sender = {"provider": provider, **kit.settings}
    config = parse_config(
        {"senders": {provider: sender}, "receiver": {"inbox": str(tmp_path / "inbox.db")}}, env={}
    )
    receiver = WebhookReceiver(config)
    case = load_cases(kit, "webhooks")[0]
    body = json.dumps(case["body"]).encode()
    headers, query = kit.authentic(body)
    with serve(receiver.asgi) as url, httpx.Client() as client:
        resp = client.post(
            f"{url}/webhooks/{provider}", content=body, headers=headers, params=query
        )
    assert resp.status_code == 200
    own = receiver.core.senders[provider].adapter.settings.secret_values()
    captured.assert_clean({*PROVIDER_SECRETS, *own})
    [access] = [r for r in captured.records if r.name == "uvicorn.access"]
    assert isinstance(access.args, tuple)
    assert len(access.args) == 5  # uvicorn's formatter unpacks five
    line = AccessFormatter("%(request_line)s %(status_code)s", use_colors=False).format(access)
    masked = "&".join(f"{k}={MASK}" for k in query)
    assert line == f"POST /webhooks/{provider}?{masked} HTTP/1.1 200 OK"


def _close_async(gw: AsyncGateway) -> None:
    asyncio.run(gw.close())


def _loopback_server(_: Path) -> None:
    server = LoopbackServer()
    server.start_thread(Emulator(PROVIDERS).asgi)
    server.stop_thread()


MAKERS: dict[str, Callable[[Path], None]] = {
    "Gateway": lambda _: Gateway({"m": get_adapter("meta_cloud", **META_SETTINGS)}).close(),
    "AsyncGateway": lambda _: _close_async(
        AsyncGateway({"m": get_adapter("meta_cloud", **META_SETTINGS)})
    ),
    "WebhookReceiver": lambda tmp: WebhookReceiver(
        parse_config(
            {
                "senders": {"m": {"provider": "meta_cloud", **META_SETTINGS}},
                "receiver": {"inbox": str(tmp / "inbox.db")},
            },
            env={},
        )
    ).inbox.close(),
    "LoopbackServer": _loopback_server,
}


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_installed_automatically_once(make: Callable[[Path], None], tmp_path: Path) -> None:
    _uninstall()
    assert _installed() == [0] * len(DEPENDENCY_LOGGERS)
    make(tmp_path)
    assert _installed() == [1] * len(DEPENDENCY_LOGGERS)
    install_log_redaction()
    assert _installed() == [1] * len(DEPENDENCY_LOGGERS)


def _record(msg: str, args: Any, exc_info: Any = None) -> logging.LogRecord:
    return logging.LogRecord("httpx", logging.INFO, __file__, 1, msg, args, exc_info)


def test_redacted_records_keep_their_formatting() -> None:
    secret = "registered-for-test-log-secrets"
    secrets.add([secret])
    redact = RedactingFilter()
    url = httpx.URL(f"https://api.1msg.io/inst/sendFlow?token={ONEMSG_TOKEN}")
    plain = httpx.URL("https://api.1msg.io/inst/sendFlow")
    args = ("POST", url, "HTTP/1.1", 200, "OK")
    record = _record('HTTP Request: %s %s "%s %d %s"', args)
    assert redact.filter(record)
    assert record.getMessage() == (
        f'HTTP Request: POST https://api.1msg.io/inst/sendFlow?token={MASK} "HTTP/1.1 200 OK"'
    )
    record = _record("%s %r %d", (plain, plain, 3))
    redact.filter(record)
    assert record.args == (plain, plain, 3)  # nothing to mask: the objects themselves
    record = _record("%(where)s %(api_key)s %(n)d", ({"where": secret, "api_key": "k", "n": 7},))
    redact.filter(record)
    assert record.getMessage() == f"{MASK} {MASK} 7"
    failed = f"connect_tcp.failed exception=ConnectError('{url}')"  # httpcore: no args
    record = _record(failed, None)
    redact.filter(record)
    assert record.getMessage() == failed.replace(ONEMSG_TOKEN, MASK)
    try:
        raise ValueError(f"rejected {secret}")
    except ValueError:
        record = _record("failed", None, sys.exc_info())
    redact.filter(record)
    text = logging.Formatter().format(record)
    assert text.startswith("failed\nTraceback")
    assert f"ValueError: rejected {MASK}" in text
    assert record.exc_info is not None  # rendered anew (structlog), it is the clean text
    assert traceback.format_exception(record.exc_info[1])[-1].endswith(f"rejected {MASK}\n")
    access = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/webhooks/onemsg?token={ONEMSG_WEBHOOK_TOKEN}", "1.1", 200),
        None,
    )
    redact.filter(access)
    line = AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s", use_colors=False)
    assert line.format(access) == (
        f"127.0.0.1:5000 POST /webhooks/onemsg?token={MASK} HTTP/1.1 200 OK"
    )


def test_the_filter_costs_nothing_while_logging_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def spy(self: RedactingFilter, record: logging.LogRecord) -> bool:
        seen.append(record.name)
        return True

    monkeypatch.setattr(RedactingFilter, "filter", spy)
    install_log_redaction()
    root = logging.getLogger()
    level = root.level
    ok = httpx.MockTransport(lambda _: httpx.Response(200))
    try:
        with httpx.Client(transport=ok) as client:
            root.setLevel(logging.WARNING)
            client.post(f"https://api.1msg.io/inst/sendFlow?token={ONEMSG_TOKEN}")
            assert seen == []  # httpx's INFO line was never even created
            root.setLevel(logging.INFO)
            client.post(f"https://api.1msg.io/inst/sendFlow?token={ONEMSG_TOKEN}")
    finally:
        root.setLevel(level)
    assert seen == ["httpx"]


def test_every_logger_of_the_http_stack_is_covered() -> None:
    """Read the installed libraries: each name they log under carries the filter."""
    used: set[str] = set()
    for package in ("httpx", "httpcore", "aiohttp", "uvicorn"):
        source = Path(importlib.import_module(package).__file__ or "").parent
        for path in source.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name != "getLogger":
                    continue
                [arg] = node.args
                assert isinstance(arg, ast.Constant), f"{path}:{node.lineno}: computed name"
                used.add(arg.value)
    assert set(DEPENDENCY_LOGGERS) - used == {"asyncio", "py.warnings"}  # the stdlib's
    assert used <= set(DEPENDENCY_LOGGERS)
