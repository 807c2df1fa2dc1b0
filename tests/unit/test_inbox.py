"""The SQLite store on its own: private files, a locked file, unreadable rows, two
connections (processes) on one file, adopting an inbox made before schema versions.
What every engine does is in tests/store/."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.receiver.store import Delivery, NewEvent, SQLiteInbox
from gateway.store import open_store


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
    with pytest.raises(ConfigError, match=r"^gateway\.store: cannot create"):
        SQLiteInbox(tmp_path / "file" / "sub" / "inbox.db")
    (tmp_path / "junk.db").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(ConfigError, match=r"^gateway\.store: cannot open"):
        SQLiteInbox(tmp_path / "junk.db")


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
    [job] = inbox.claim("w", 2.0, 10, 30.0)
    assert job.payload["type"] == "MessageStatus"
    dead = inbox.jobs(status="dead")
    assert [(d.last_error or "")[:23] for d in dead] == ["stored event unreadable"]
    inbox.close()


def test_two_connections_on_one_file_claim_disjoint_jobs(tmp_path: Path) -> None:
    a = SQLiteInbox(tmp_path / "inbox.db")
    b = SQLiteInbox(tmp_path / "inbox.db")  # as a second process would
    a.record([delivery(f"k{i}") for i in range(6)])
    got = [a.claim("a", 2.0, 4, 30.0), b.claim("b", 2.0, 4, 30.0)]
    assert [len(g) for g in got] == [4, 2]
    assert not {j.id for j in got[0]} & {j.id for j in got[1]}
    a.close()
    b.close()


def test_an_inbox_from_before_schema_versions_is_adopted_with_its_data(tmp_path: Path) -> None:
    from gateway.store.migrations import SQLITE, latest

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript("; ".join(SQLITE[0].statements))  # what release 0.1 created
        db.execute("INSERT INTO deliveries VALUES (1, 'meta', 'meta_cloud', 1.0, '{}', x'7b7d')")
        db.execute(
            "INSERT INTO events VALUES (1, 1, 'k1', 'meta', 'meta_cloud', 'MessageStatus',"
            ' \'{"type": "MessageStatus"}\', 1.0)'
        )
        db.execute("INSERT INTO jobs VALUES (1, 1, 'h', 'running', 1, 1.0, NULL, 1.0)")
    with pytest.raises(ConfigError, match="flowgateway store migrate"):
        open_store(f"sqlite:///{path}", migrate=False)
    store = open_store(f"sqlite:///{path}")  # SQLite migrates itself by default
    assert store.schema_version() == latest(SQLITE)
    # the running job of the old release has no lease: it is due to be taken over
    [job] = store.claim("new", 2.0, 10, 30.0)
    assert (job.id, job.attempts) == (1, 2)
    assert store.record([delivery("k1")])[0].duplicates == 1
    store.close()


def test_tools_do_not_create_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no store at"):
        open_store(f"sqlite:///{tmp_path / 'typo.db'}", create=False)
    assert not (tmp_path / "typo.db").exists()


def test_store_urls_name_the_engine(tmp_path: Path) -> None:
    from gateway.store import sqlite_path

    assert sqlite_path("sqlite:///rel/x.db") == "rel/x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path("x.db") == "x.db"
    assert sqlite_path("postgresql://h/db") is None
    with pytest.raises(ConfigError, match="unknown store 'mysql'"):
        open_store("mysql://h/db")


def test_maintenance_keeps_the_wal_bounded(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    for i in range(50):
        inbox.record([delivery(f"k{i}-{j}") for j in range(20)])
    wal = tmp_path / "inbox.db-wal"
    assert wal.stat().st_size > 100_000
    inbox.maintain()
    assert wal.stat().st_size == 0  # checkpointed and truncated
    inbox.close()
