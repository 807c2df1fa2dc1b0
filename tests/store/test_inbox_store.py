"""The inbox on every engine (SQLite file, PostgreSQL): dedup, group commit with one bad
delivery isolated, leases (claim, heartbeat, takeover only after expiry, a stale owner's
results ignored), settle/release, replay, prune, unroutable parts, job details."""

from __future__ import annotations

import dataclasses

from gateway.store import Delivery, NewEvent, Outcome, Store


def delivery(
    key: str, *, handlers: tuple[str, ...] = ("h",), at: float = 1.0, **payload: object
) -> Delivery:
    event = NewEvent(key, "MessageStatus", {"type": "MessageStatus", **payload}, handlers)
    return Delivery("meta", "meta_cloud", at, {"x": "y"}, b'{"raw": 1}', (event,))


def test_redeliveries_deduplicate_and_lone_surrogates_are_kept(store: Store) -> None:
    key = "meta_cloud:status:wamid.\udc00:read"
    lookalike = "meta_cloud:status:wamid.\\udc00:read"  # the escape's text: another id
    first = store.record([delivery(key, message_id="wamid.\udc00")])
    again = store.record([delivery(key), delivery(lookalike)])
    assert [(r.new, r.duplicates, r.error) for r in first + again] == [
        (1, 0, None), (0, 1, None), (1, 0, None),
    ]  # fmt: skip
    job, _ = store.claim("a", 2.0, 10, 30.0)
    assert job.payload["message_id"] == "wamid.\udc00"
    detail = store.job(job.id)
    assert detail is not None
    assert detail.dedup_key == key


def test_one_bad_delivery_is_rolled_back_alone(store: Store) -> None:
    unjsonable = delivery("k-set", value={1, 2})
    not_bytes = dataclasses.replace(delivery("k-body"), body=object())  # type: ignore[arg-type]
    results = store.record([delivery("k1"), unjsonable, delivery("k2"), not_bytes])
    assert [r.error is None for r in results] == [True, False, True, False]
    assert "not JSON serializable" in (results[1].error or "")
    counts = store.counts()
    assert (counts["deliveries"], counts["events"], counts["pending"]) == (2, 2, 2)


def test_text_the_engines_refuse_is_stored_escaped(store: Store) -> None:
    # PostgreSQL refuses NUL in text; a lone surrogate is not UTF-8.
    [ok] = store.record([delivery("k\x00\udc00", value="\x00")])
    assert ok.error is None
    [job] = store.claim("w", 2.0, 10, 30.0)
    assert job.payload["value"] == "\x00"
    assert store.job(job.id).dedup_key == "k\x00\udc00"  # type: ignore[union-attr]


def test_a_lease_keeps_a_job_from_others_until_it_expires(store: Store) -> None:
    store.record([delivery("k1"), delivery("k2")])
    mine = store.claim("a", 2.0, 10, 30.0)
    assert [j.attempts for j in mine] == [1, 1]
    assert store.claim("b", 20.0, 10, 30.0) == []  # held by a
    assert store.heartbeat("a", [j.id for j in mine], 60.0) == {j.id for j in mine}
    assert store.claim("b", 45.0, 10, 30.0) == []  # renewed until 60
    taken = store.claim("b", 61.0, 10, 30.0)  # a died: its leases expired
    assert [(j.id, j.attempts) for j in taken] == [(j.id, 2) for j in mine]
    # a comes back: its heartbeat, results and release no longer count
    assert store.heartbeat("a", [j.id for j in mine], 200.0) == set()
    assert store.settle("a", [Outcome(mine[0].id, "E: late", None)], 62.0) == 0
    assert store.release("a", [mine[1].id], 62.0) == 0
    assert store.settle("b", [Outcome(j.id) for j in taken], 63.0) == 2
    rows = {r.id: (r.status, r.owner, r.last_error) for r in store.jobs()}
    assert rows == {j.id: ("done", None, None) for j in mine}


def test_claims_are_disjoint_and_limited(store: Store) -> None:
    store.record([delivery(f"k{i}") for i in range(5)])
    a = store.claim("a", 2.0, 3, 30.0)
    b = store.claim("b", 2.0, 3, 30.0)
    assert len(a) == 3
    assert len(b) == 2
    assert not {j.id for j in a} & {j.id for j in b}
    assert {r.owner for r in store.jobs(status="running")} == {"a", "b"}


def test_only_due_jobs_are_claimed(store: Store) -> None:
    store.record([delivery("k1", at=10.0)])
    assert store.claim("a", 5.0, 10, 30.0) == []
    assert store.next_due() == 10.0
    assert len(store.claim("a", 10.0, 10, 30.0)) == 1
    assert store.next_due() is None


def test_settle_in_one_batch_and_release_uncounts_the_attempt(store: Store) -> None:
    store.record([delivery(f"k{i}") for i in range(4)])
    a, b, c, d = store.claim("w", 2.0, 10, 30.0)
    outcomes = [Outcome(a.id), Outcome(b.id, "E: x", 50.0), Outcome(c.id, "E: y", None)]
    assert store.settle("w", outcomes, 3.0) == 3
    assert store.release("w", [d.id], 3.0) == 1
    status = {r.id: (r.status, r.attempts, r.last_error) for r in store.jobs()}
    assert status == {
        a.id: ("done", 1, None),
        b.id: ("pending", 1, "E: x"),
        c.id: ("dead", 1, "E: y"),
        d.id: ("pending", 0, None),
    }
    assert [j.id for j in store.claim("w", 3.0, 10, 30.0)] == [d.id]  # released: due now


def test_replay_by_id_or_status_and_never_a_running_job(store: Store) -> None:
    store.record([delivery("k1"), delivery("k2")])
    a, b = store.claim("w", 2.0, 10, 30.0)
    store.settle("w", [Outcome(a.id, "E: x", None)], 3.0)
    assert store.replay([a.id, b.id]) == 1  # b is running
    assert store.replay(status="running") == 0
    assert store.replay(status="dead") == 0
    [again] = store.claim("w", 4.0, 10, 30.0)
    assert (again.id, again.attempts) == (a.id, 1)


def test_job_detail_has_the_event_and_the_callback(store: Store) -> None:
    store.record([delivery("k1", message_id="wamid.1")])
    [job] = store.claim("w", 2.0, 10, 30.0)
    detail = store.job(job.id)
    assert detail is not None
    assert detail.payload["message_id"] == "wamid.1"
    assert (detail.body, detail.headers, detail.job.owner) == (b'{"raw": 1}', {"x": "y"}, "w")
    assert store.job(job.id + 1000) is None


def test_prune_removes_what_is_done_and_old_only(store: Store) -> None:
    store.record([delivery("old", at=1.0), delivery("new", at=100.0), delivery("failed", at=1.0)])
    jobs = store.claim("w", 200.0, 10, 30.0)
    by_key = {store.job(j.id).dedup_key: j for j in jobs}  # type: ignore[union-attr]
    store.settle("w", [Outcome(by_key["old"].id), Outcome(by_key["new"].id)], 5.0)
    store.settle("w", [Outcome(by_key["failed"].id, "E: x", None)], 5.0)
    pruned = store.prune(before=50.0)
    # "new" was handled at 5.0 too, but its event and callback are younger than 50
    assert (pruned.jobs, pruned.events, pruned.deliveries) == (2, 1, 1)
    assert {store.job(r.id).dedup_key for r in store.jobs()} == {"failed"}  # type: ignore[union-attr]
    store.maintain()
    # a redelivery of a pruned event is new again (retention must outlast redeliveries)
    assert store.record([delivery("old", at=300.0)])[0].new == 1


def test_unroutable_parts_are_kept_with_their_reason(store: Store) -> None:
    part = Delivery("", "meta_cloud", 1.0, {}, b'{"entry": []}', (), unroutable="no sender 42")
    assert store.record([part])[0].error is None
    [row] = store.unroutable()
    assert (row.provider, row.reason, row.body) == ("meta_cloud", "no sender 42", b'{"entry": []}')
    assert store.counts()["unroutable"] == 1


def test_migrations_are_versioned_and_idempotent(store: Store) -> None:
    from gateway.store.migrations import latest

    assert store.schema_version() == latest(store.migrations)
    assert store.migrate() == []
