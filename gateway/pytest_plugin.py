"""pytest plugin (entry point ``pytest11``): an ``emulator`` fixture for contract tests.

```python
def test_my_flow_send(emulator):
    with emulator.gateway() as gw:            # every sender of the config → the emulator
        receipt = gw.send(FlowMessage(...))
    [sent] = emulator.sent()                  # what the provider received, checked
    emulator.inject("sinch", "rate_limit")    # the next sinch send gets a 429
```

The emulator serves every provider on a free loopback port (uvicorn in a thread: extra
``server``); the config's sender credentials are the accounts it accepts. By default it
serves the config shipped in the package (``config/gateway.toml`` of the repository);
override the ``flowgateway_config`` fixture to use your own config file (its ``base_url``
values must read ``${FLOWGATEWAY_EMULATOR_URL}``, as the default does).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from gateway.bundled import DEFAULT_CONFIG
from gateway.config import GatewayConfig, load_config
from gateway.emulator import Emulator, WebhookCall
from gateway.events import InboundEvent
from gateway.extras import MissingExtra, missing


@dataclass
class EmulatorFixture:
    """A running emulator and the gateway config that points at it."""

    emulator: Emulator
    url: str
    config: GatewayConfig

    def gateway(self, **kwargs: Any) -> Any:
        """A :class:`~gateway.Gateway` for the config (close it, or use ``with``)."""
        from gateway.client import Gateway

        return Gateway(self.config, **kwargs)

    def async_gateway(self, **kwargs: Any) -> Any:
        """An :class:`~gateway.AsyncGateway` for the config."""
        from gateway.client import AsyncGateway

        return AsyncGateway(self.config, **kwargs)

    def inject(self, provider: str, kind: str, **kwargs: Any) -> None:
        self.emulator.inject(provider, kind, **kwargs)

    def sent(self, provider: str | None = None) -> list[Any]:
        return self.emulator.sent(provider)

    def callbacks(self, message_id: str, *args: Any, **kwargs: Any) -> list[WebhookCall]:
        return self.emulator.callbacks(message_id, *args, **kwargs)

    def feed(self, gateway: Any, sender: str, calls: list[WebhookCall]) -> list[InboundEvent]:
        """Pass callbacks straight to ``gateway.handle_webhook`` (sync gateways)."""
        events: list[InboundEvent] = []
        for call in calls:
            query = dict(parse_qsl(urlsplit(call.url).query))
            events += gateway.handle_webhook(sender, call.body, call.headers, query)
        return events


@pytest.fixture
def flowgateway_config() -> Path:
    """The config the ``emulator`` fixture serves; override it in your conftest.py."""
    if not DEFAULT_CONFIG.is_file():  # a broken install: say what to do instead
        raise pytest.UsageError(
            f"flowgateway: the packaged config {DEFAULT_CONFIG} is missing; reinstall "
            "flowgateway or define a `flowgateway_config` fixture returning your config path"
        )
    return DEFAULT_CONFIG


@pytest.fixture
def emulator(flowgateway_config: Path) -> Iterator[EmulatorFixture]:
    """Every provider emulated on a free loopback port for the duration of a test."""
    module = missing("server")
    if module is not None:  # one line in the report, not a traceback from deep inside
        pytest.fail(str(MissingExtra("server", "the emulator fixture", module)), pytrace=False)
    from gateway.emulator.server import LoopbackServer

    server = LoopbackServer()
    env = {**os.environ, "FLOWGATEWAY_EMULATOR_URL": server.url}
    config = load_config(flowgateway_config, env)
    emu = Emulator.from_config(config)
    server.start_thread(emu.asgi)
    try:
        yield EmulatorFixture(emu, server.url, config)
    finally:
        server.stop_thread()
