"""The outbox on every engine: idempotent enqueue, claims with leases, the claimed →
sending split that makes crashes safe both ways, status webhooks moving sends forward
(never back), and the retry/cancel rules a person applies."""

from __future__ import annotations

from gateway.store import Delivery, NewEvent, Store
from gateway.store.base import NewSend, SendOutcome


def send(key: str, to: str = "+14155550100") -> NewSend:
    return NewSend(key, "meta", "meta_cloud", to, f'{{"to": "{to}"}}')


def status(message_id: str, state: str, at: float) -> Delivery:
    payload = {"type": "MessageStatus", "message_id": message_id, "status": state}
    event = NewEvent(f"meta_cloud:status:{message_id}:{state}", "MessageStatus", payload, ())
    return Delivery("meta", "meta_cloud", at, {}, b"{}", (event,))


def test_a_repeated_key_adds_nothing(store: Store) -> None:
    first = store.enqueue([send("order-1"), send("order-2")], 1.0)
    again = store.enqueue([send("order-1")], 2.0)
    assert [(e.key, e.new) for e in first + again] == [
        ("order-1", True), ("order-2", True), ("order-1", False),
    ]  # fmt: skip
    assert again[0].id == first[0].id
    assert store.outbox_counts() == {"queued": 2}


def test_a_claim_whose_worker_died_before_sending_is_taken_over(store: Store) -> None:
    store.enqueue([send("a")], 1.0)
    [job] = store.claim_outbox("w1", 2.0, 10, 30.0)
    assert store.claim_outbox("w2", 20.0, 10, 30.0) == []  # w1's lease is live
    [again] = store.claim_outbox("w2", 33.0, 10, 30.0)  # w1 died before sending
    assert again.id == job.id
    assert store.mark_sending("w1", [job.id], 34.0) == set()  # w1 is not the owner now
    assert store.mark_sending("w2", [job.id], 34.0) == {job.id}
    assert store.settle_outbox("w2", [SendOutcome(job.id, "sent", message_id="wamid.1")], 35.0)
    row = store.outbox_entry("a")
    assert row is not None
    assert (row.status, row.attempts, row.message_id, row.delivery) == (
        "sent",
        1,
        "wamid.1",
        "sent",
    )


def test_a_send_in_flight_when_its_worker_died_becomes_unknown_never_resent(
    store: Store,
) -> None:
    store.enqueue([send("a")], 1.0)
    [job] = store.claim_outbox("w1", 2.0, 10, 30.0)
    store.mark_sending("w1", [job.id], 3.0)
    assert store.claim_outbox("w2", 40.0, 10, 30.0) == []  # not taken: it may be out
    row = store.outbox_entry(job.id)
    assert row is not None
    assert (row.status, row.error_class) == ("unknown", "OutcomeUnknown")
    assert store.outbox_retry(status="unknown") == 1  # a person decides
    [again] = store.claim_outbox("w2", 41.0, 10, 30.0)
    assert again.id == job.id


def test_results_of_a_stale_owner_are_ignored_and_retries_wait(store: Store) -> None:
    store.enqueue([send("a"), send("b")], 1.0)
    a, b = store.claim_outbox("w1", 2.0, 10, 30.0)
    store.mark_sending("w1", [a.id, b.id], 2.0)
    assert store.heartbeat_outbox("w1", [a.id, b.id], 100.0) == {a.id, b.id}
    retry = SendOutcome(a.id, "queued", error_class="ProviderUnavailable", next_at=50.0)
    failed = SendOutcome(b.id, "failed", error_class="InvalidRequest", error="bad")
    assert store.settle_outbox("w2", [retry, failed], 3.0) == 0  # not w2's
    assert store.settle_outbox("w1", [retry, failed], 3.0) == 2
    assert store.claim_outbox("w1", 49.0, 10, 30.0) == []
    [again] = store.claim_outbox("w1", 50.0, 10, 30.0)
    assert (again.id, again.attempts) == (a.id, 1)
    assert store.outbox_counts() == {"claimed": 1, "failed": 1}


def test_status_webhooks_move_a_send_forward_never_back(store: Store) -> None:
    store.enqueue([send("a")], 1.0)
    [job] = store.claim_outbox("w", 2.0, 10, 30.0)
    store.mark_sending("w", [job.id], 2.0)
    store.settle_outbox("w", [SendOutcome(job.id, "sent", message_id="wamid.A")], 3.0)
    store.record([status("wamid.A", "read", 5.0)])
    store.record([status("wamid.A", "delivered", 6.0)])  # late: read stays
    row = store.outbox_entry("a")
    assert row is not None
    assert (row.delivery, row.delivery_at) == ("read", 5.0)
    assert store.outbox_counts() == {"sent": 1, "delivery:read": 1}


def test_a_status_stored_before_the_receipt_is_not_lost(store: Store) -> None:
    store.enqueue([send("a")], 1.0)
    [job] = store.claim_outbox("w", 2.0, 10, 30.0)
    store.mark_sending("w", [job.id], 2.0)
    store.record([status("wamid.B", "delivered", 2.5)])  # the webhook beat our write
    store.settle_outbox("w", [SendOutcome(job.id, "sent", message_id="wamid.B")], 3.0)
    row = store.outbox_entry(job.id)
    assert row is not None
    assert (row.delivery, row.delivery_at) == ("delivered", 2.5)


def test_retry_and_cancel_never_touch_a_send_in_flight_or_sent(store: Store) -> None:
    store.enqueue([send("a"), send("b"), send("c")], 1.0)
    a, b = store.claim_outbox("w", 2.0, 2, 30.0)
    store.mark_sending("w", [a.id], 2.0)
    assert store.outbox_cancel([a.id]) == 0  # sending
    assert store.outbox_retry([a.id]) == 0
    store.settle_outbox("w", [SendOutcome(a.id, "sent", message_id="m")], 3.0)
    assert store.outbox_cancel([a.id]) == 0  # sent
    assert store.outbox_cancel(status="queued") == 1  # c
    assert store.outbox_retry(status="cancelled") == 1
    assert store.outbox_entry(b.id).status == "claimed"  # type: ignore[union-attr]
