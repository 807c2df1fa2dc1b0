"""The library's log events reach an application's own stdlib logging as structured
records: fields as attributes, timestamps, exc_info, and no secret anywhere.

The application here configures the ROOT logger the ordinary way, a handler with a
JSON formatter of its own that dumps ``record.__dict__``, and never touches structlog;
the library must not configure the root logger itself.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import respx

from gateway import FlowMessage, ProviderError, SignatureError
from gateway.log import (
    LOGGER_NAME,
    RECORD_ATTRIBUTES,
    RedactedTraceback,
    configure_logging,
    enabled,
    formatter,
    get_logger,
)
from providers import get_adapter
from tests.conftest import CONTRACT, GRAPH, META_SETTINGS, META_TOKEN, PROVIDER_SECRETS
from tests.contract.meta_cloud.kit import META_APP_SECRET
from tests.kits import KITS

URL = f"{GRAPH}/1234567890/messages"
PHONE = "16505551234"  # the recipient of MSG, and the user of the webhook below
TEXT = "Your table for two is ready"
MSG = FlowMessage(to=f"+{PHONE}", flow_id="1", flow_cta="Open", body=TEXT, screen="S")
NEVER_LOGGED = (*PROVIDER_SECRETS, PHONE, TEXT, "Maria Lopez")


class JsonFormatter(logging.Formatter):
    """An application's formatter: every attribute of the record, one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(record.__dict__, message=record.getMessage())
        if record.exc_info:
            fields["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(fields, default=str)


class Application:
    """The root logger as an application configures it: one JSON handler, at DEBUG."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        self.records: list[logging.LogRecord] = []
        self.handler.addFilter(self._keep)

    def _keep(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True

    def ours(self, event: str | None = None) -> list[logging.LogRecord]:
        return [
            r
            for r in self.records
            if r.name == LOGGER_NAME and (event is None or r.getMessage() == event)
        ]

    def lines(self) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.stream.getvalue().splitlines()]
        return [line for line in lines if line["name"] == LOGGER_NAME]


@pytest.fixture
def application() -> Iterator[Application]:
    ours, root = logging.getLogger(LOGGER_NAME), logging.getLogger()
    saved = (ours.level, ours.propagate, list(ours.handlers), root.level)
    # Earlier tests may have run the CLI's configure_logging (own handler, no propagation).
    for h in ours.handlers:
        if not isinstance(h, logging.NullHandler):
            ours.removeHandler(h)
    ours.setLevel(logging.NOTSET)
    ours.propagate = True
    app = Application()
    root.addHandler(app.handler)
    root.setLevel(logging.DEBUG)
    try:
        yield app
    finally:
        root.removeHandler(app.handler)
        root.setLevel(saved[3])
        ours.setLevel(saved[0])
        ours.propagate = saved[1]
        for h in saved[2]:
            ours.addHandler(h)


def _webhook() -> bytes:
    case = json.loads((CONTRACT / "meta_cloud/webhooks/flow_completion.json").read_text())
    return json.dumps(case["body"]).encode()


def _timestamp(record: logging.LogRecord) -> datetime:
    stamp = datetime.fromisoformat(record.timestamp)  # type: ignore[attr-defined]
    assert stamp.utcoffset() is not None  # an aware UTC time, not a local one
    assert abs(stamp.timestamp() - record.created) < 1.0
    return stamp


def test_a_send_and_a_webhook_reach_the_applications_root_logger_structured(
    make_driver: Any, application: Application
) -> None:
    d = make_driver(max_attempts=2)
    echo = {"error": {"message": f"Invalid OAuth access token - {META_TOKEN}", "code": 190}}
    with respx.mock() as mock:
        mock.post(URL).mock(
            side_effect=[
                httpx.Response(200, json={"messages": [{"id": "wamid.1"}]}),
                httpx.Response(500, text=f"upstream said {META_APP_SECRET}"),
                httpx.Response(401, json=echo),
            ]
        )
        d.send(MSG)
        with pytest.raises(ProviderError):
            d.send(MSG)
    body = _webhook()
    d.handle_webhook("main", body, KITS["meta_cloud"].authentic(body)[0])
    with pytest.raises(SignatureError):
        d.handle_webhook("main", body, {"X-Hub-Signature-256": "sha256=00"})

    [ok] = application.ours("send.ok")
    assert (ok.levelno, ok.sender, ok.provider, ok.attempt, ok.message_id) == (  # type: ignore[attr-defined]
        logging.INFO, "main", "meta_cloud", 1, "wamid.1",
    )  # fmt: skip
    assert ok.latency_ms >= 0  # type: ignore[attr-defined]
    failed = application.ours("send.failed")
    assert [(r.levelno, r.attempt, r.will_retry) for r in failed] == [  # type: ignore[attr-defined]
        (logging.WARNING, 1, True), (logging.WARNING, 2, False),
    ]  # fmt: skip
    [webhook] = application.ours("webhook.ok")
    assert (webhook.sender, webhook.provider, webhook.events) == ("main", "meta_cloud", 1)  # type: ignore[attr-defined]
    [rejected] = application.ours("webhook.rejected")
    assert rejected.levelno == logging.WARNING
    # The record's own location is the library's code, not structlog's dispatch.
    assert {r.pathname for r in application.ours()}.isdisjoint({logging.__file__})
    assert not any("structlog" in r.pathname for r in application.ours())

    stamps = [_timestamp(r) for r in application.ours()]
    assert stamps == sorted(stamps)
    lines = application.lines()
    assert len(lines) == len(application.ours()) >= 5
    by_event = {line["message"]: line for line in lines}
    assert by_event["send.ok"]["sender"] == "main"
    assert by_event["send.ok"]["timestamp"].endswith("Z")
    assert by_event["webhook.ok"]["events"] == 1
    text = application.stream.getvalue()
    leaks = [value for value in NEVER_LOGGED if value in text]
    assert not leaks


def test_an_exception_is_the_records_exc_info_without_its_secrets(
    application: Application,
) -> None:
    get_adapter("meta_cloud", **META_SETTINGS)  # registers the token as a secret

    def handler() -> None:
        raise RuntimeError(f"database said {META_TOKEN}")

    try:
        handler()
    except RuntimeError:
        get_logger(component="receiver").warning("handler.failed", exc_info=True)
    try:
        raise ValueError("nothing secret")
    except ValueError:
        get_logger().exception("plain.failure", sender="s")
    secret, plain = application.ours()
    assert secret.exc_info is not None
    assert secret.exc_info[0] is RedactedTraceback
    assert "RuntimeError: database said ***" in str(secret.exc_info[1])
    assert "in handler" in str(secret.exc_info[1])  # the traceback is kept, redacted
    assert secret.component == "receiver"  # type: ignore[attr-defined]
    assert plain.exc_info is not None
    assert plain.exc_info[0] is ValueError
    assert (plain.levelno, plain.sender) == (logging.ERROR, "s")  # type: ignore[attr-defined]
    text = application.stream.getvalue()
    assert "Traceback (most recent call last)" in text
    assert META_TOKEN not in text


def test_a_record_shows_where_it_was_logged(application: Application) -> None:
    get_logger().info("one")
    get_logger(bound=1).warning("two")
    try:
        raise ValueError("x")
    except ValueError:
        get_logger().exception("three")
    get_logger().log(logging.INFO, "four")
    here = {(r.funcName, r.pathname) for r in application.ours()}
    assert here == {("test_a_record_shows_where_it_was_logged", __file__)}


def test_fields_named_like_record_attributes_are_kept_under_another_name(
    application: Application,
) -> None:
    get_logger().info("clash", name="n", module="m", message="x", args=(1,), sender="s")
    [record] = application.ours()
    assert (record.name, record.getMessage()) == (LOGGER_NAME, "clash")
    fields = {k: record.__dict__[k] for k in ("name_", "module_", "message_", "args_")}
    assert fields == {"name_": "n", "module_": "m", "message_": "x", "args_": (1,)}
    assert {"name", "module", "message", "args", "created"} <= RECORD_ATTRIBUTES


def test_credential_named_fields_are_masked_as_attributes(application: Application) -> None:
    get_logger().info("debugging", access_token="plain-value", authorization="Bearer x")
    [record] = application.ours()
    assert (record.access_token, record.authorization) == ("***", "***")  # type: ignore[attr-defined]


def test_levels_are_the_applications(application: Application) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    assert not enabled(logging.INFO)
    assert enabled(logging.WARNING)
    get_logger().info("quiet")
    get_logger().warning("loud")
    assert [r.getMessage() for r in application.ours()] == ["loud"]


def test_the_library_formatter_renders_anyones_records(application: Application) -> None:
    application.handler.setFormatter(formatter("json"))
    get_logger().info("send.ok", sender="main")
    logging.getLogger("app").warning("order %s", 7, extra={"shop": "eu"})
    ours, theirs = [json.loads(line) for line in application.stream.getvalue().splitlines()]
    assert {k: ours[k] for k in ("event", "level", "sender")} == {
        "event": "send.ok", "level": "info", "sender": "main",
    }  # fmt: skip
    assert ours["timestamp"].endswith("Z")
    assert {k: theirs[k] for k in ("event", "level", "shop")} == {
        "event": "order 7", "level": "warning", "shop": "eu",
    }  # fmt: skip
    datetime.fromisoformat(theirs["timestamp"])  # from record.created


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_the_clis_configure_logging_still_renders_lines(fmt: str) -> None:
    ours = logging.getLogger(LOGGER_NAME)
    level, propagate = ours.level, ours.propagate
    stream = io.StringIO()
    handler = configure_logging("INFO", fmt, stream)  # type: ignore[arg-type]
    try:
        get_logger().debug("hidden")
        get_logger(sender="main").info("send.ok", attempt=1, access_token="t0k")
        try:
            raise ValueError("boom")
        except ValueError:
            get_logger().error("send.crashed", exc_info=True)
    finally:
        ours.removeHandler(handler)
        ours.setLevel(level)
        ours.propagate = propagate
    assert any(isinstance(h, logging.NullHandler) for h in ours.handlers)
    first, second = stream.getvalue().splitlines()[:2]
    if fmt == "json":
        line = json.loads(first)
        assert (line["event"], line["level"], line["sender"], line["attempt"]) == (
            "send.ok", "info", "main", 1,
        )  # fmt: skip
        assert line["access_token"] == "***"
        assert "timestamp" in line
        assert "ValueError: boom" in json.loads(second)["exception"]
    else:
        assert first.startswith("event='send.ok' level='info' sender='main' attempt=1")
        assert "access_token='***'" in first
        assert "ValueError: boom" in stream.getvalue()
    assert "hidden" not in stream.getvalue()
    assert "t0k" not in stream.getvalue()


def test_with_nothing_configured_a_warning_is_not_printed_by_last_resort() -> None:
    code = (
        "import logging, sys\n"
        "from gateway.log import get_logger\n"
        "get_logger(sender='main').warning('send.failed', attempt=1)\n"
        "assert not logging.getLogger().handlers  # the root logger is the application's\n"
        "logging.getLogger('elsewhere').warning('theirs')  # lastResort still works for them\n"
    )
    run = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stderr == "theirs\n"
