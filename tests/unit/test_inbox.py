"""The SQLite inbox on its own: private files, storing what UTF-8 cannot carry, one bad
delivery isolated from its commit group, unreadable rows, settle/release, the probe."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.receiver.store import Delivery, NewEvent, Outcome, SQLiteInbox


def delivery(key: str, *, handlers: tuple[str, ...] = ("h",), **payload: object) -> Delivery:
    event = NewEvent(key, "MessageStatus", {"type": "MessageStatus", **payload}, handlers)
    return Delivery("meta", "meta_cloud", 1.0, {"x": "y"}, b"{}", (event,))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_owner_only_and_a_missing_directory_is_created(tmp_path: Path) -> None:
    db = tmp_path / "new" / "inbox.db"
    inbox = SQLiteInbox(db)
    inbox.record([delivery("k1")])
    try:
        assert mode(db.parent) == 0o700
        for name in ("inbox.db", "inbox.db-wal", "inbox.db-shm"):
            assert mode(db.parent / name) == 0o600, name
    finally:
        inbox.close()


def test_an_existing_world_readable_inbox_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "inbox.db"
    SQLiteInbox(db).close()
    db.chmod(0o644)
    SQLiteInbox(db).close()
    assert mode(db) == 0o600


def test_an_unusable_path_is_a_config_error_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigError, match=r"^receiver\.inbox: cannot create"):
        SQLiteInbox(tmp_path / "file" / "sub" / "inbox.db")
    (tmp_path / "junk.db").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(ConfigError, match=r"^receiver\.inbox: cannot open"):
        SQLiteInbox(tmp_path / "junk.db")


def test_lone_surrogates_are_stored_and_redeliveries_still_deduplicate(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    key = "meta_cloud:status:wamid.\udc00:read"
    lookalike = "meta_cloud:status:wamid.\\udc00:read"  # the escape's text: another id
    first = inbox.record([delivery(key, message_id="wamid.\udc00")])
    again = inbox.record([delivery(key), delivery(lookalike)])
    assert [(r.new, r.duplicates, r.error) for r in first + again] == [
        (1, 0, None), (0, 1, None), (1, 0, None),
    ]  # fmt: skip
    [job, _] = inbox.claim(2.0, 10)
    assert job.payload["message_id"] == "wamid.\udc00"
    inbox.close()


def test_one_bad_delivery_is_rolled_back_alone(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    bad = delivery("k-bad", handlers=("broken-\udc00",))  # a handler name SQLite cannot take
    unjsonable = delivery("k-set", value={1, 2})
    results = inbox.record([delivery("k1"), bad, delivery("k2"), unjsonable])
    assert [r.error is None for r in results] == [True, False, True, False]
    assert "surrogates not allowed" in (results[1].error or "")
    assert inbox.counts()["deliveries"] == 2  # type: ignore[attr-defined]
    assert inbox.counts()["events"] == 2  # type: ignore[attr-defined]
    inbox.close()


def test_a_group_wide_failure_raises(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db", busy_timeout=0.05)
    other = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            inbox.record([delivery("k1")])
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            inbox.check(0.05)
    finally:
        other.execute("ROLLBACK")
        other.close()
    inbox.check(0.05)
    assert inbox.record([delivery("k1")])[0].new == 1  # no transaction was left open
    inbox.close()


def test_an_unreadable_stored_event_is_dead_lettered_not_fatal(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    inbox.record([delivery("k1"), delivery("k2")])
    with sqlite3.connect(tmp_path / "inbox.db") as db:
        db.execute("UPDATE events SET payload = '{not json' WHERE dedup_key = 'k1'")
    [job] = inbox.claim(2.0, 10)
    assert job.payload["type"] == "MessageStatus"
    dead = inbox.jobs(status="dead")
    assert [(d.last_error or "")[:23] for d in dead] == ["stored event unreadable"]
    inbox.close()


def test_settle_in_one_batch_and_release_uncounts_the_attempt(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    inbox.record([delivery(f"k{i}") for i in range(4)])
    a, b, c, d = inbox.claim(2.0, 10)
    inbox.settle([Outcome(a.id), Outcome(b.id, "E: x", 50.0), Outcome(c.id, "E: y", None)], 3.0)
    inbox.release([d.id], 3.0)
    status = {r.id: (r.status, r.attempts, r.last_error) for r in inbox.jobs()}
    assert status == {
        a.id: ("done", 1, None),
        b.id: ("pending", 1, "E: x"),
        c.id: ("dead", 1, "E: y"),
        d.id: ("pending", 0, None),
    }
    assert [j.id for j in inbox.claim(3.0, 10)] == [d.id]  # released: due now
    inbox.close()
