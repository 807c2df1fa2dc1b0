"""The durable outbox end to end, on each store engine: ``gw.enqueue`` then
``flowgateway worker`` processes sending to the emulator over HTTP. A worker SIGKILLed
mid-campaign loses nothing and duplicates nothing: what it had claimed but not sent is
taken over after its lease and sent once; what was in flight is ``unknown``, never sent
again by itself. The emulator's own record of what reached it is the judge."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from gateway.client import Gateway
from gateway.config import load_config
from gateway.model import FlowMessage
from gateway.outbox import WorkerSettings, serve_outbox
from gateway.pytest_plugin import EmulatorFixture
from gateway.store import open_store
from providers.sinch import SinchOptions
from tests.e2e.soak import free_ports

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 240


def write_config(tmp_path: Path, store_url: str, port: int) -> Path:
    config = tmp_path / "campaign.toml"
    config.write_text(
        f'[gateway]\nstore = "{store_url}"\nstore_migrate = true\n'
        "[gateway.retry]\nmax_attempts = 2\ninitial_backoff = 0.05\nmax_backoff = 0.1\n"
        '[senders.meta]\nprovider = "meta_cloud"\n'
        f'base_url = "http://127.0.0.1:{port}/meta_cloud"\n'
        'phone_number_id = "100000000000001"\nwaba_id = "200000000000001"\n'
        'access_token = "emulator-token"\napp_secret = "emulator-secret"\n'
        "throughput = 60\n"
    )
    return config


def start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "gateway.cli", *args], env=env, stdout=out, stderr=out
        )


def wait_http(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def received(port: int) -> Counter[str]:
    url = f"http://127.0.0.1:{port}/_emulator/messages?provider=meta_cloud"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return Counter(m["to"] for m in json.load(resp))


def test_a_killed_worker_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, store_url: str
) -> None:
    [port] = free_ports(1)
    config_path = write_config(tmp_path, store_url, port)
    log = tmp_path / "processes.log"
    emulator = start("emulator", "--config", str(config_path), "--port", str(port), log=log)
    try:
        wait_http(f"http://127.0.0.1:{port}/_emulator/messages")
        with Gateway(load_config(config_path)) as gw:
            for i in range(MESSAGES):
                msg = FlowMessage(
                    to=f"+1415550{i:04d}", flow_id="1", flow_cta="Book", body="Hi", screen="S"
                )
                assert gw.enqueue(msg, key=f"campaign-1:{i}").new
            assert not gw.enqueue(msg, key=f"campaign-1:{MESSAGES - 1}").new  # idempotent
        worker = start("worker", "--config", str(config_path), "--lease", "2", log=log)
        deadline = time.monotonic() + 30
        while sum(received(port).values()) < MESSAGES // 4:  # mid-campaign
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        at_kill = sum(received(port).values())
        second = start(
            "worker", "--config", str(config_path), "--lease", "2", "--until-empty", log=log
        )
        assert second.wait(90) == 0, log.read_text()[-2000:]
        reached = received(port)
    finally:
        emulator.send_signal(signal.SIGINT)
        emulator.wait(10)
    store = open_store(store_url)
    try:
        counts = store.outbox_counts()
        rows = store.outbox(limit=MESSAGES + 10)
    finally:
        store.close()
    assert at_kill < MESSAGES, "the kill came after the campaign"
    assert not {"queued", "claimed", "sending", "failed"} & set(counts), counts
    assert counts.get("sent", 0) + counts.get("unknown", 0) == MESSAGES, counts
    assert max(reached.values()) == 1, "a message reached the provider twice"
    sent = {r.recipient for r in rows if r.status == "sent"}
    unknown = {r.recipient for r in rows if r.status == "unknown"}
    assert sent <= set(reached)  # every receipt is a message the provider has
    assert set(reached) <= sent | unknown
    assert len(unknown) <= 64  # at most what was in flight at the kill (concurrency)
    print(f"\nkilled at {at_kill}/{MESSAGES}: {len(sent)} sent, {len(unknown)} unknown")


def test_enqueue_needs_a_store(tmp_path: Path) -> None:
    import pytest

    from gateway.errors import ConfigError
    from tests.conftest import PROVIDERS

    with Gateway({"meta": _adapter(PROVIDERS["meta_cloud"])}) as gw:
        msg = FlowMessage(to="+14155550100", flow_id="1", flow_cta="Go", body="Hi", screen="S")
        with pytest.raises(ConfigError, match="outbox lives in the store"):
            gw.enqueue(msg)


def _adapter(settings: dict[str, object]) -> object:
    from providers import adapter_class

    return adapter_class("meta_cloud").from_settings(**settings)


def test_provider_options_survive_the_outbox(emulator: EmulatorFixture, store_url: str) -> None:
    """Options are the adapters' own types: stored by provider name, rebuilt by the
    worker, so they reach the provider's request (not a failed ``InvalidMessage``)."""
    gateway = emulator.config.gateway.model_copy(update={"store": store_url, "store_migrate": True})
    config = emulator.config.model_copy(update={"gateway": gateway})
    msg = FlowMessage(
        to="+14155550100", sender="sinch", flow_id="1", flow_cta="Go", body="Hi", screen="S",
        options=[SinchOptions(correlation_id="campaign-7", ttl_seconds=60)],
    )  # fmt: skip
    with Gateway(config) as gw:
        assert gw.enqueue(msg, key="with-options").new
    counts = asyncio.run(
        serve_outbox(config, WorkerSettings(poll_interval=0.01), asyncio.Event(), until_empty=True)
    )
    assert counts == {"sent": 1}, counts
    [sent] = emulator.sent("sinch")
    assert sent.body["correlation_id"] == "campaign-7"
    assert sent.body["ttl"] == "60s"
