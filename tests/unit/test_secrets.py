"""Access tokens and app secrets never reach logs, reprs or exception text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from gateway import ConfigError, FlowMessage, Gateway, ProviderError, SignatureError
from gateway.config import parse_config
from gateway.log import configure_logging, get_logger
from providers import get_adapter
from tests.conftest import GRAPH, META_SETTINGS, META_TOKEN, PROVIDERS, add_token_route
from tests.contract.meta_cloud.kit import META_APP_SECRET, META_VERIFY_TOKEN

SECRETS = (META_TOKEN, META_APP_SECRET, META_VERIFY_TOKEN)
URL = f"{GRAPH}/1234567890/messages"
MSG = FlowMessage(to="+16505551234", flow_id="1", flow_cta="Open", body="Hi", screen="S")


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream)
    yield stream
    logging.getLogger("flowgateway").removeHandler(handler)


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_logs_and_errors_never_show_secrets(make_driver: Any, log_output: io.StringIO) -> None:
    d = make_driver(max_attempts=2)
    echo = {"error": {"message": f"Invalid OAuth access token - {META_TOKEN}", "code": 190}}
    texts: list[str] = [repr(d.gw), repr(d.gw.senders["main"].adapter)]
    with respx.mock() as mock:
        mock.post(URL).mock(
            side_effect=[
                httpx.Response(401, json=echo),
                httpx.Response(500, text=f"upstream said {META_APP_SECRET}"),
                httpx.Response(500, text="again"),
                httpx.ConnectError(f"cannot reach with {META_TOKEN}"),
                httpx.ConnectError("again"),
            ]
        )
        for _ in range(3):
            with pytest.raises(ProviderError) as info:
                d.send(MSG)
            texts += [str(info.value), repr(info.value), repr(info.value.args)]
    with pytest.raises(SignatureError) as sig:
        d.handle_webhook("main", b"{}", {"X-Hub-Signature-256": "sha256=00"})
    texts += [str(sig.value), repr(d.gw.build_send(MSG))]
    logged = log_output.getvalue()
    assert "send.failed" in logged
    assert "webhook.rejected" in logged
    for line in logged.splitlines():
        json.loads(line)  # structured, one JSON object per line
    _assert_clean(logged)
    for text in texts:
        _assert_clean(text)


def test_success_logs_carry_context_but_no_secrets(
    make_driver: Any, log_output: io.StringIO
) -> None:
    d = make_driver()
    with respx.mock() as mock:
        mock.post(URL).respond(200, json={"messages": [{"id": "wamid.1"}]})
        d.send(MSG)
    record = json.loads(log_output.getvalue().splitlines()[-1])
    assert record["event"] == "send.ok"
    assert record["provider"] == "meta_cloud"
    assert record["sender"] == "main"
    assert record["attempt"] == 1
    assert record["message_id"] == "wamid.1"
    assert "latency_ms" in record
    _assert_clean(log_output.getvalue())


def test_logger_masks_sensitive_keys(log_output: io.StringIO) -> None:
    get_logger().info("debugging", access_token="plain-value", authorization="Bearer x", sender="s")
    line = json.loads(log_output.getvalue())
    assert line["access_token"] == "***"
    assert line["authorization"] == "***"
    assert line["sender"] == "s"


def test_config_errors_do_not_echo_secret_values() -> None:
    data = {"senders": {"m": {"provider": "meta_cloud", **META_SETTINGS, "api_version": "bad"}}}
    with pytest.raises(ConfigError) as info:
        Gateway(parse_config(data, env={}))
    assert "senders.m.api_version" in str(info.value)
    _assert_clean(str(info.value))
    bad_secret = {**META_SETTINGS, "access_token": 12345}
    with pytest.raises(ConfigError) as info2:
        get_adapter("meta_cloud", **bad_secret)
    assert "access_token" in str(info2.value)
    assert "12345" not in str(info2.value)


def test_request_repr_and_masked_view_hide_credentials() -> None:
    req = get_adapter("meta_cloud", **META_SETTINGS).build_send(MSG)
    assert META_TOKEN in req.headers["Authorization"]  # the real request carries it
    _assert_clean(repr(req))
    _assert_clean(json.dumps(req.masked()))


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_no_provider_leaks_credentials(
    make_driver: Any, log_output: io.StringIO, provider: str
) -> None:
    adapter = get_adapter(provider, **PROVIDERS[provider])
    own = adapter.settings.secret_values()
    assert own
    d = make_driver({"main": adapter}, max_attempts=1)
    texts = [repr(d.gw), repr(d.gw.senders["main"].adapter), repr(d.gw.build_send(MSG))]
    texts.append(json.dumps(d.gw.build_send(MSG).masked()))
    echo = " ".join(own)  # a provider echoing our own credentials back
    with respx.mock() as mock:
        add_token_route(mock, provider)
        mock.post().mock(
            side_effect=[
                httpx.Response(401, json={"error": f"bad credentials {echo}"}),
                httpx.Response(200, json={"sent": False, "message": f"rejected {echo}"}),
                httpx.Response(500, text=f"upstream {echo}"),
                httpx.ConnectError(f"cannot connect {echo}"),
                httpx.ReadTimeout(f"timeout {echo}"),
            ]
        )
        for _ in range(5):
            with pytest.raises(ProviderError) as info:
                d.send(MSG)
            texts += [str(info.value), repr(info.value), repr(info.value.args)]
    with pytest.raises(SignatureError) as sig:
        d.handle_webhook("main", b"{}", {"Authorization": "nope"}, {"token": "nope"})
    texts.append(str(sig.value))
    logged = log_output.getvalue()
    assert logged.count("send.failed") == 5
    for text in [*texts, logged]:
        for secret in own:
            assert secret not in text
