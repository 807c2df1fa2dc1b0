"""The inbox: callbacks and their events, stored before the provider gets its 200.

:class:`Inbox` is the interface the receiver needs; :class:`SQLiteInbox` is the default
(stdlib sqlite3, WAL, ``synchronous=FULL``). Each event gets one *job* per handler that
wants it; a job is ``pending`` → ``running`` → ``done``, or back to ``pending`` with a
later ``next_at`` when its handler raises, and ``dead`` after the last attempt.
Deduplication is a unique key per event: a provider's redelivery stores nothing new.
The files hold raw bodies with personal data: they are created owner-only (0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from gateway.errors import ConfigError

JobStatus = Literal["pending", "running", "done", "dead"]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to store: its dedup key, class name, JSON payload and the handlers it needs."""

    dedup_key: str
    type: str
    payload: dict[str, Any]
    handlers: tuple[str, ...]
    payload_json: str = ""
    """``payload`` already encoded as ASCII JSON (the receiver encodes it while it can
    still answer 400); empty: the store encodes it."""


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
    """What storing one delivery did; ``error`` set: nothing of it was stored."""

    new: int
    duplicates: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A handler's result on one job: done (``error`` None), retry at ``next_at``, or
    dead (``error`` set, ``next_at`` None)."""

    job_id: int
    error: str | None = None
    next_at: float | None = None


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
    def settle(self, outcomes: Sequence[Outcome], now: float) -> None: ...
    def release(self, job_ids: Sequence[int], now: float) -> None: ...
    def finish(self, job_id: int, now: float) -> None: ...
    def retry_later(self, job_id: int, error: str, next_at: float | None, now: float) -> None: ...
    def recover(self, now: float) -> int: ...
    def check(self, timeout: float) -> None: ...
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
    """The default :class:`Inbox`: one SQLite file, safe to share between threads.

    ``busy_timeout`` is how long a write waits for a lock another process holds before
    it fails with "database is locked".
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self._busy_ms = max(0, round(busy_timeout * 1000))
        self._lock = threading.Lock()
        if self.path != ":memory:":
            _create_private(Path(self.path))
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # acknowledged means on disk
            self._db.execute(f"PRAGMA busy_timeout={self._busy_ms}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(
                "receiver.inbox", f"cannot open the inbox {self.path}: {exc}"
            ) from None

    def _tx(self) -> _Tx:
        return _Tx(self._db, self._lock)

    def record(self, deliveries: Sequence[Delivery]) -> list[Recorded]:
        """Store several callbacks in one transaction (group commit).

        Each delivery has its own savepoint: one that cannot be stored is rolled back
        and reported in its :class:`Recorded` while the others commit. A failure of the
        transaction itself (a lock, the disk) raises.
        """
        out: list[Recorded] = []
        with self._tx() as db:
            for d in deliveries:
                db.execute("SAVEPOINT delivery")
                try:
                    recorded = _insert(db, d)
                except (sqlite3.DatabaseError, ValueError, TypeError, RecursionError) as exc:
                    # sqlite3.OperationalError (locked, I/O) concerns every delivery.
                    if isinstance(exc, sqlite3.OperationalError):
                        raise
                    db.execute("ROLLBACK TO delivery")
                    recorded = Recorded(0, 0, error=f"{type(exc).__name__}: {exc}")
                db.execute("RELEASE delivery")
                out.append(recorded)
        return out

    def claim(self, now: float, limit: int) -> list[Job]:
        """Mark up to ``limit`` due jobs running and return them with their events.

        A job whose stored event cannot be read back is dead-lettered, not returned: one
        bad row must not stop every claim.
        """
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
                try:
                    event = json.loads(payload)
                except (ValueError, RecursionError) as exc:
                    db.execute(
                        "UPDATE jobs SET status = 'dead', last_error = ? WHERE id = ?",
                        (f"stored event unreadable: {type(exc).__name__}: {exc}"[:2000], job_id),
                    )
                    continue
                jobs.append(Job(job_id, event_id, handler, attempts, sender, provider, kind, event))
        return jobs

    def settle(self, outcomes: Sequence[Outcome], now: float) -> None:
        """Store several handler results in one transaction."""
        done = [(now, o.job_id) for o in outcomes if o.error is None]
        failed = [
            ("dead" if o.next_at is None else "pending", o.error[:2000],
             now if o.next_at is None else o.next_at, now, o.job_id)
            for o in outcomes if o.error is not None
        ]  # fmt: skip
        with self._tx() as db:
            db.executemany(
                "UPDATE jobs SET status = 'done', last_error = NULL, updated_at = ? WHERE id = ?",
                done,
            )
            db.executemany(
                "UPDATE jobs SET status = ?, last_error = ?, next_at = ?, updated_at = ?"
                " WHERE id = ?",
                failed,
            )

    def release(self, job_ids: Sequence[int], now: float) -> None:
        """Running jobs back to pending, due now, their interrupted attempt not counted
        (a graceful stop)."""
        with self._tx() as db:
            db.executemany(
                "UPDATE jobs SET status = 'pending', attempts = MAX(attempts - 1, 0),"
                " next_at = ?, updated_at = ? WHERE id = ? AND status = 'running'",
                [(now, now, i) for i in job_ids],
            )

    def finish(self, job_id: int, now: float) -> None:
        self.settle([Outcome(job_id)], now)

    def retry_later(self, job_id: int, error: str, next_at: float | None, now: float) -> None:
        """Back to pending until ``next_at``; dead-lettered when ``next_at`` is None."""
        self.settle([Outcome(job_id, error, next_at)], now)

    def check(self, timeout: float = 1.0) -> None:
        """Raise unless a write transaction can start within ``timeout`` seconds (the
        readiness probe: nothing is written)."""
        if not self._lock.acquire(timeout=timeout):
            raise TimeoutError(f"the inbox stayed busy for {timeout:g}s")
        try:
            self._db.execute(f"PRAGMA busy_timeout={min(self._busy_ms, round(timeout * 1000))}")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("ROLLBACK")
            finally:
                self._db.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        finally:
            self._lock.release()

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


def _insert(db: sqlite3.Connection, d: Delivery) -> Recorded:
    cur = db.execute(
        "INSERT INTO deliveries (sender, provider, received_at, headers, body)"
        " VALUES (?, ?, ?, ?, ?)",
        (d.sender, d.provider, d.received_at, json.dumps(d.headers), bytes(d.body)),
    )
    delivery_id = cur.lastrowid
    new = 0
    for e in d.events:
        # ASCII JSON: a lone surrogate in a payload is stored as its escape.
        payload = e.payload_json or json.dumps(e.payload, ensure_ascii=True)
        key, kind = _bindable(e.dedup_key), _printable(e.type)
        cur = db.execute(
            "INSERT OR IGNORE INTO events (delivery_id, dedup_key, sender, provider,"
            " type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (delivery_id, key, d.sender, d.provider, kind, payload, d.received_at),
        )
        if cur.rowcount == 0:
            continue  # seen before: acknowledged, not handled again
        new += 1
        db.executemany(
            "INSERT INTO jobs (event_id, handler, status, next_at, updated_at)"
            " VALUES (?, ?, 'pending', ?, ?)",
            [(cur.lastrowid, h, d.received_at, d.received_at) for h in e.handlers],
        )
    return Recorded(new=new, duplicates=len(d.events) - new)


def _bindable(text: str) -> str | bytes:
    """``text``, or its exact bytes when it holds a lone surrogate (JSON's ``\\udc00``
    decodes to one; UTF-8 cannot carry it). SQLite keeps such a key as a BLOB, which
    equals only the same bytes: redeliveries still deduplicate, nothing else collides."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def _printable(text: str) -> str:
    """``text`` with any lone surrogate written as its escape (for display columns)."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode()


def _create_private(path: Path) -> None:
    """Create the inbox file (and its directory) owner-only before SQLite opens it:
    SQLite gives the WAL and SHM files the database file's permissions."""
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise ConfigError(
                "receiver.inbox", f"cannot create the inbox directory {parent}: {exc.strerror}"
            ) from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(
            "receiver.inbox", f"cannot open the inbox {path}: {exc.strerror}"
        ) from None
    try:
        with contextlib.suppress(OSError):  # not ours to change: leave it as it is
            os.fchmod(fd, 0o600)  # a file made by an older version was 0644
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(f"{path}{suffix}", 0o600)


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
            if et is None:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error:
                    # A transaction left open would make every later BEGIN fail.
                    if self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self._db.execute("ROLLBACK")
                    raise
            elif self._db.in_transaction:
                self._db.execute("ROLLBACK")
        finally:
            self._lock.release()
