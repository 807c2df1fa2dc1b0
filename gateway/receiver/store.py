"""The inbox: callbacks and their events, stored before the provider gets its 200.

:class:`Inbox` is the interface the receiver needs; :class:`SQLiteInbox` is the default
(stdlib sqlite3, WAL, ``synchronous=FULL``). Each event gets one *job* per handler that
wants it; a job is ``pending`` → ``running`` → ``done``, or back to ``pending`` with a
later ``next_at`` when its handler raises, and ``dead`` after the last attempt.
Deduplication is a unique key per event: a provider's redelivery stores nothing new.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

JobStatus = Literal["pending", "running", "done", "dead"]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to store: its dedup key, class name, JSON payload and the handlers it needs."""

    dedup_key: str
    type: str
    payload: dict[str, Any]
    handlers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted callback: the raw request and what it normalized to."""

    sender: str
    provider: str
    received_at: float
    headers: dict[str, str]
    body: bytes
    events: tuple[NewEvent, ...]


@dataclass(frozen=True, slots=True)
class Recorded:
    new: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class Job:
    """A handler's work on one event."""

    id: int
    event_id: int
    handler: str
    attempts: int
    sender: str
    provider: str
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job as ``flowgateway inbox list`` shows it."""

    id: int
    event_id: int
    sender: str
    provider: str
    type: str
    handler: str
    status: str
    attempts: int
    last_error: str | None
    created_at: float
    updated_at: float


class Inbox(Protocol):
    """What the receiver needs from a store (a networked one can follow)."""

    def record(self, deliveries: Sequence[Delivery]) -> list[Recorded]: ...
    def claim(self, now: float, limit: int) -> list[Job]: ...
    def finish(self, job_id: int, now: float) -> None: ...
    def retry_later(self, job_id: int, error: str, next_at: float | None, now: float) -> None: ...
    def recover(self, now: float) -> int: ...
    def next_due(self) -> float | None: ...
    def jobs(self, status: str | None = None, limit: int = 100) -> list[JobRow]: ...
    def replay(self, job_ids: Iterable[int] = (), *, status: str | None = None) -> int: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY, sender TEXT NOT NULL, provider TEXT NOT NULL,
    received_at REAL NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    dedup_key TEXT NOT NULL UNIQUE, sender TEXT NOT NULL, provider TEXT NOT NULL,
    type TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events(id),
    handler TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL, last_error TEXT, updated_at REAL NOT NULL,
    UNIQUE (event_id, handler));
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (status, next_at);
"""


class SQLiteInbox:
    """The default :class:`Inbox`: one SQLite file, safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # acknowledged means on disk
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def _tx(self) -> _Tx:
        return _Tx(self._db, self._lock)

    def record(self, deliveries: Sequence[Delivery]) -> list[Recorded]:
        """Store several callbacks in one transaction (group commit)."""
        out: list[Recorded] = []
        with self._tx() as db:
            for d in deliveries:
                cur = db.execute(
                    "INSERT INTO deliveries (sender, provider, received_at, headers, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (d.sender, d.provider, d.received_at, json.dumps(d.headers), d.body),
                )
                delivery_id = cur.lastrowid
                new = 0
                for e in d.events:
                    cur = db.execute(
                        "INSERT OR IGNORE INTO events (delivery_id, dedup_key, sender, provider,"
                        " type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (delivery_id, e.dedup_key, d.sender, d.provider, e.type,
                         json.dumps(e.payload), d.received_at),
                    )  # fmt: skip
                    if cur.rowcount == 0:
                        continue  # seen before: acknowledged, not handled again
                    new += 1
                    db.executemany(
                        "INSERT INTO jobs (event_id, handler, status, next_at, updated_at)"
                        " VALUES (?, ?, 'pending', ?, ?)",
                        [(cur.lastrowid, h, d.received_at, d.received_at) for h in e.handlers],
                    )
                out.append(Recorded(new=new, duplicates=len(d.events) - new))
        return out

    def claim(self, now: float, limit: int) -> list[Job]:
        """Mark up to ``limit`` due jobs running and return them with their events."""
        with self._tx() as db:
            rows = db.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ?"
                " WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' AND next_at <= ?"
                " ORDER BY next_at, id LIMIT ?) RETURNING id, event_id, handler, attempts",
                (now, now, limit),
            ).fetchall()
            jobs = []
            for job_id, event_id, handler, attempts in sorted(rows):
                sender, provider, kind, payload = db.execute(
                    "SELECT sender, provider, type, payload FROM events WHERE id = ?", (event_id,)
                ).fetchone()
                jobs.append(
                    Job(job_id, event_id, handler, attempts, sender, provider, kind,
                        json.loads(payload))
                )  # fmt: skip
        return jobs

    def finish(self, job_id: int, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status = 'done', last_error = NULL, updated_at = ? WHERE id = ?",
                (now, job_id),
            )

    def retry_later(self, job_id: int, error: str, next_at: float | None, now: float) -> None:
        """Back to pending until ``next_at``; dead-lettered when ``next_at`` is None."""
        status = "dead" if next_at is None else "pending"
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status = ?, last_error = ?, next_at = ?, updated_at = ?"
                " WHERE id = ?",
                (status, error[:2000], next_at if next_at is not None else now, now, job_id),
            )

    def recover(self, now: float) -> int:
        """Jobs left running by a crash go back to pending (they may run again)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET status = 'pending', next_at = ?, updated_at = ?"
                " WHERE status = 'running'",
                (now, now),
            )
            return cur.rowcount

    def next_due(self) -> float | None:
        with self._tx() as db:
            row = db.execute("SELECT MIN(next_at) FROM jobs WHERE status = 'pending'").fetchone()
        return row[0] if row and row[0] is not None else None

    def jobs(self, status: str | None = None, limit: int = 100) -> list[JobRow]:
        query = (
            "SELECT j.id, j.event_id, e.sender, e.provider, e.type, j.handler, j.status,"
            " j.attempts, j.last_error, e.created_at, j.updated_at"
            " FROM jobs j JOIN events e ON e.id = j.event_id"
        )
        args: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE j.status = ?"
            args = (status,)
        query += " ORDER BY j.id DESC LIMIT ?"
        with self._tx() as db:
            return [JobRow(*row) for row in db.execute(query, (*args, limit)).fetchall()]

    def replay(self, job_ids: Iterable[int] = (), *, status: str | None = None) -> int:
        """Run jobs again from a fresh attempt count: by id, or every job in ``status``."""
        ids = list(job_ids)
        with self._tx() as db:
            if ids:
                cur = db.executemany(
                    "UPDATE jobs SET status = 'pending', attempts = 0, next_at = 0"
                    " WHERE id = ? AND status != 'running'",
                    [(i,) for i in ids],
                )
            elif status is not None:
                cur = db.execute(
                    "UPDATE jobs SET status = 'pending', attempts = 0, next_at = 0"
                    " WHERE status = ?",
                    (status,),
                )
            else:
                return 0
            return cur.rowcount

    def counts(self) -> dict[str, int]:
        """Jobs per status, and events and deliveries stored."""
        with self._tx() as db:
            out = dict(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
            out["events"] = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            out["deliveries"] = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Tx:
    """``with`` block = one serialized IMMEDIATE transaction."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, et: type[BaseException] | None, *_: object) -> None:
        try:
            self._db.execute("COMMIT" if et is None else "ROLLBACK")
        finally:
            self._lock.release()
