"""The outbox worker with a stand-in gateway, on every engine: each send goes out once;
an ambiguous outcome is never sent again; retryable failures wait and come back; a lease
taken over between the pacing slot and the request sends nothing."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from gateway.errors import InvalidRequest, OutcomeUnknown, ProviderUnavailable
from gateway.events import SendReceipt
from gateway.identity import addressed
from gateway.model import FlowMessage
from gateway.outbox import OutboxWorker, WorkerSettings
from gateway.store import Store
from gateway.store.base import NewSend

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def message(i: int) -> FlowMessage:
    return FlowMessage(
        to=f"+1415555{i:04d}", sender="meta", flow_id="1", flow_cta="Go", body="Hi", screen="S"
    )


def enqueue(store: Store, n: int) -> None:
    sends = [
        NewSend(f"k{i}", "meta", "meta_cloud", m.to, m.model_dump_json(exclude_none=True))
        for i, m in enumerate(message(i) for i in range(n))
    ]
    store.enqueue(sends, 0.0)


class Provider:
    """Counts what reaches it; ``fail`` maps a recipient to the errors it answers with."""

    def __init__(self, fail: dict[str, list[Exception]] | None = None) -> None:
        self.received: Counter[str] = Counter()
        self.fail = fail or {}
        self.paced = 0

    async def pace(self, msg: FlowMessage) -> None:
        self.paced += 1

    async def send(self, msg: FlowMessage) -> SendReceipt:
        self.received[msg.to] += 1
        errors = self.fail.get(msg.to)
        if errors:
            raise errors.pop(0)
        return SendReceipt(
            provider="meta_cloud",
            sender="meta",
            business_id="1",
            message_id=f"wamid.{msg.to}",
            user=addressed(msg.to),
            status="accepted",
        )


async def drain(store: Store, provider: Provider, **settings: float) -> OutboxWorker:
    worker = OutboxWorker(
        store,
        provider.pace,
        provider.send,
        WorkerSettings(poll_interval=0.01, retry_initial=0.0, retry_max=0.0, **settings),  # type: ignore[arg-type]
    )
    task = asyncio.create_task(worker.run())
    for _ in range(500):
        counts = store.outbox_counts()
        if not any(counts.get(s) for s in ("queued", "claimed", "sending")):
            break
        await asyncio.sleep(0.01)
    worker.stop()
    await task
    return worker


async def test_every_send_goes_out_once(store: Store) -> None:
    enqueue(store, 50)
    provider = Provider()
    await drain(store, provider, concurrency=8)
    assert len(provider.received) == 50
    assert set(provider.received.values()) == {1}
    assert store.outbox_counts() == {"sent": 50, "delivery:sent": 50}
    row = store.outbox_entry("k7")
    assert row is not None
    assert row.message_id == "wamid.+14155550007"


async def test_an_ambiguous_outcome_is_never_sent_again(store: Store) -> None:
    enqueue(store, 3)
    provider = Provider({"+14155550001": [OutcomeUnknown("read timeout after the body was sent")]})
    await drain(store, provider)
    await drain(store, provider)  # another worker, later: still not resent
    assert provider.received["+14155550001"] == 1
    row = store.outbox_entry("k1")
    assert row is not None
    assert (row.status, row.error_class) == ("unknown", "OutcomeUnknown")


async def test_retryable_failures_come_back_and_permanent_ones_stop(store: Store) -> None:
    enqueue(store, 2)
    provider = Provider(
        {
            "+14155550000": [ProviderUnavailable("503"), ProviderUnavailable("503")],
            "+14155550001": [InvalidRequest("bad template")],
        }
    )
    await drain(store, provider)
    assert provider.received == {"+14155550000": 3, "+14155550001": 1}
    assert store.outbox_entry("k0").status == "sent"  # type: ignore[union-attr]
    failed = store.outbox_entry("k1")
    assert failed is not None
    assert (failed.status, failed.error_class) == ("failed", "InvalidRequest")


async def test_retries_stop_after_max_attempts(store: Store) -> None:
    enqueue(store, 1)
    provider = Provider({"+14155550000": [ProviderUnavailable("503") for _ in range(9)]})
    await drain(store, provider, max_attempts=3)
    assert provider.received["+14155550000"] == 3
    assert store.outbox_entry("k0").status == "failed"  # type: ignore[union-attr]


async def test_a_lease_lost_before_the_request_sends_nothing(store: Store) -> None:
    enqueue(store, 1)
    provider = Provider()
    worker = OutboxWorker(store, provider.pace, provider.send, WorkerSettings(lease=30.0))
    [job] = store.claim_outbox(worker.owner, 0.0, 10, 1.0)
    store.claim_outbox("someone-else", 5.0, 10, 30.0)  # our lease expired: taken over
    assert await worker._attempt(job) is None
    assert provider.received == {}


async def test_a_stored_message_that_is_not_one_fails_unsent(store: Store) -> None:
    """Not JSON, not a valid message, options for a provider no adapter knows: each
    fails as ``InvalidMessage`` (no retry, nothing sent)."""
    fields = message(0).model_dump(mode="json", exclude_none=True)
    bad = {
        "k0": "{not json",
        "k1": json.dumps({**fields, "flow_cta": ""}),
        "k2": json.dumps({**fields, "options": {"no_such_provider": {}}}),
    }
    store.enqueue([NewSend(k, "meta", "meta_cloud", fields["to"], m) for k, m in bad.items()], 0.0)
    provider = Provider()
    await drain(store, provider)
    assert provider.received == {}
    for key in bad:
        row = store.outbox_entry(key)
        assert row is not None
        assert (row.status, row.error_class) == ("failed", "InvalidMessage"), key
