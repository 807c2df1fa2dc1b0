"""The store's SQL, written once for SQLite and PostgreSQL.

Statements use ``?`` placeholders and what both engines accept (``ON CONFLICT … DO
NOTHING``, ``RETURNING``, savepoints); an engine supplies a :class:`Db` (one open
transaction) and the few parts that differ: how a job is claimed, how a dedup key is
bound, the schema's DDL, and which errors concern one delivery rather than the batch.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, ClassVar, Protocol

from gateway.errors import ConfigError
from gateway.http import encodable
from gateway.store.base import (
    JOBS,
    Delivery,
    Job,
    JobDetail,
    JobRow,
    Outcome,
    Pruned,
    Queue,
    Recorded,
    StoredSender,
    UnroutableRow,
    clip,
    printable,
)
from gateway.store.migrations import Migration, apply, current_version, latest
from gateway.store.outbox_sql import OutboxSql

_JOB_COLUMNS = (
    "j.id, j.event_id, e.sender, e.provider, e.type, j.handler, j.status, j.attempts,"
    " j.last_error, e.created_at, j.updated_at, j.owner, j.lease_until"
)


class Db(Protocol):
    """One open transaction, ``?`` placeholders."""

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...
    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def run(self, sql: str, args: Sequence[Any] = ()) -> int: ...
    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int: ...


class SqlStore(OutboxSql, ABC):
    """The :class:`~gateway.store.base.Store` operations over an engine's :class:`Db`."""

    url: str
    migrations: ClassVar[tuple[Migration, ...]]
    item_errors: ClassVar[tuple[type[Exception], ...]] = ()
    """Errors that concern one delivery (its savepoint is rolled back, the rest commit)."""
    missing_table: ClassVar[tuple[type[BaseException], ...]] = ()
    """What a query on a table that does not exist raises."""

    @abstractmethod
    def tx(self) -> AbstractContextManager[Db]:
        """One transaction that takes the write lock at once."""

    @abstractmethod
    def _lease(
        self, db: Db, q: Queue, owner: str, now: float, limit: int, lease: float
    ) -> list[int]:
        """Lease up to ``limit`` of ``q``'s rows to ``owner``: ready and due, or held
        past their lease (their owner died). Returns their ids, sorted."""

    def bind_key(self, key: str) -> Any:
        """A dedup key as the engine stores it."""
        return key

    def check_key(self, key: Any) -> str:
        """A stored dedup key back as text."""
        return key.decode("utf-8", "surrogatepass") if isinstance(key, bytes) else str(key)

    # -- inbox -------------------------------------------------------------------------

    def record(self, deliveries: Sequence[Delivery]) -> list[Recorded]:
        """Store several callbacks in one transaction (group commit).

        One that cannot be stored is rolled back and reported in its :class:`Recorded`
        while the others commit. A failure of the transaction itself (a lock, the disk,
        the connection) raises.
        """
        caught: tuple[type[Exception], ...] = (
            *self.item_errors,
            ValueError,
            TypeError,
            RecursionError,
        )
        with self.tx() as db:
            # Optimistic: one savepoint for the batch (each is a round trip on a network
            # engine); only when some delivery fails, one savepoint per delivery.
            db.run("SAVEPOINT batch")
            try:
                out = [self._insert(db, d) for d in deliveries]
            except caught:
                db.run("ROLLBACK TO SAVEPOINT batch")
            else:
                db.run("RELEASE SAVEPOINT batch")
                self.link_statuses(db, _statuses(deliveries, out))
                return out
            out = []
            for d in deliveries:
                db.run("SAVEPOINT delivery")
                try:
                    recorded = self._insert(db, d)
                except caught as exc:
                    db.run("ROLLBACK TO SAVEPOINT delivery")
                    recorded = Recorded(0, 0, error=f"{type(exc).__name__}: {exc}")
                db.run("RELEASE SAVEPOINT delivery")
                out.append(recorded)
            db.run("RELEASE SAVEPOINT batch")
            self.link_statuses(db, _statuses(deliveries, out))
        return out

    def _insert(self, db: Db, d: Delivery) -> Recorded:
        row = db.one(
            "INSERT INTO deliveries (sender, provider, received_at, headers, body, unroutable)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (
                d.sender,
                d.provider,
                d.received_at,
                json.dumps(d.headers),  # ASCII: NUL only as \u0000
                bytes(d.body),
                None if d.unroutable is None else printable(d.unroutable),
            ),
        )
        assert row is not None
        delivery_id = row[0]
        new = 0
        for e in d.events:
            # ASCII JSON: a lone surrogate in a payload is stored as its escape.
            payload = e.payload_json or json.dumps(e.payload, ensure_ascii=True)
            inserted = db.one(
                "INSERT INTO events (delivery_id, dedup_key, sender, provider, type, payload,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
                (
                    delivery_id,
                    self.bind_key(e.dedup_key),
                    d.sender,
                    d.provider,
                    printable(e.type),
                    payload,
                    d.received_at,
                ),
            )
            if inserted is None:
                continue  # seen before: acknowledged, not handled again
            new += 1
            db.many(
                "INSERT INTO jobs (event_id, handler, status, next_at, updated_at)"
                " VALUES (?, ?, 'pending', ?, ?)",
                [(inserted[0], h, d.received_at, d.received_at) for h in e.handlers],
            )
        return Recorded(new=new, duplicates=len(d.events) - new)

    def claim(self, owner: str, now: float, limit: int, lease: float) -> list[Job]:
        """Lease up to ``limit`` due jobs to ``owner`` until ``now + lease``.

        Due: pending with ``next_at`` passed, or running under a lease that expired (its
        owner died). A job whose stored event cannot be read back is dead-lettered, not
        returned: one bad row must not stop every claim.
        """
        with self.tx() as db:
            ids = self._lease(db, JOBS, owner, now, limit, lease)
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            rows = db.all(
                "SELECT j.id, j.event_id, j.handler, j.attempts, e.sender, e.provider, e.type,"  # noqa: S608
                " e.payload FROM jobs j JOIN events e ON e.id = j.event_id"
                f" WHERE j.id IN ({marks}) ORDER BY j.id",
                ids,
            )
            jobs = []
            for job_id, event_id, handler, attempts, sender, provider, kind, payload in rows:
                try:
                    event = json.loads(payload)
                except (ValueError, RecursionError) as exc:
                    db.run(
                        "UPDATE jobs SET status = 'dead', owner = NULL, last_error = ?"
                        " WHERE id = ?",
                        (clip(f"stored event unreadable: {type(exc).__name__}: {exc}"), job_id),
                    )
                    continue
                jobs.append(Job(job_id, event_id, handler, attempts, sender, provider, kind, event))
        return jobs

    def heartbeat(self, owner: str, job_ids: Sequence[int], until: float) -> set[int]:
        """Extend ``owner``'s leases; returns the ids it still holds (a lease that
        expired may have been taken over)."""
        return self._extend("jobs", "('running')", owner, job_ids, until)

    def _extend(
        self, table: str, statuses: str, owner: str, ids: Sequence[int], until: float
    ) -> set[int]:
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        with self.tx() as db:
            rows = db.all(
                f"UPDATE {table} SET lease_until = ? WHERE id IN ({marks})"  # noqa: S608
                f" AND owner = ? AND status IN {statuses} RETURNING id",
                (until, *ids, owner),
            )
        return {r[0] for r in rows}

    def settle(self, owner: str, outcomes: Sequence[Outcome], now: float) -> int:
        """Store handler results in one transaction; only jobs ``owner`` still holds
        change. Returns how many did."""
        done = [(now, o.job_id, owner) for o in outcomes if o.error is None]
        failed = [
            ("dead" if o.next_at is None else "pending", clip(o.error),
             now if o.next_at is None else o.next_at, now, o.job_id, owner)
            for o in outcomes if o.error is not None
        ]  # fmt: skip
        with self.tx() as db:
            n = db.many(
                "UPDATE jobs SET status = 'done', owner = NULL, lease_until = NULL,"
                " last_error = NULL, updated_at = ? WHERE id = ? AND owner = ?"
                " AND status = 'running'",
                done,
            )
            n += db.many(
                "UPDATE jobs SET status = ?, owner = NULL, lease_until = NULL, last_error = ?,"
                " next_at = ?, updated_at = ? WHERE id = ? AND owner = ? AND status = 'running'",
                failed,
            )
        return n

    def release(self, owner: str, job_ids: Sequence[int], now: float) -> int:
        """``owner``'s running jobs back to pending, due now, their interrupted attempt
        not counted (a graceful stop)."""
        with self.tx() as db:
            return db.many(
                "UPDATE jobs SET status = 'pending', owner = NULL, lease_until = NULL,"
                " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,"
                " next_at = ?, updated_at = ? WHERE id = ? AND owner = ? AND status = 'running'",
                [(now, now, i, owner) for i in job_ids],
            )

    def next_due(self) -> float | None:
        with self.tx() as db:
            row = db.one("SELECT MIN(next_at) FROM jobs WHERE status = 'pending'")
        return row[0] if row and row[0] is not None else None

    def jobs(self, status: str | None = None, limit: int = 100) -> list[JobRow]:
        query = f"SELECT {_JOB_COLUMNS} FROM jobs j JOIN events e ON e.id = j.event_id"  # noqa: S608
        args: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE j.status = ?"
            args = (status,)
        with self.tx() as db:
            rows = db.all(query + " ORDER BY j.id DESC LIMIT ?", (*args, limit))
        return [JobRow(*row) for row in rows]

    def job(self, job_id: int) -> JobDetail | None:
        with self.tx() as db:
            row = db.one(
                f"SELECT {_JOB_COLUMNS}, e.dedup_key, e.payload, d.id, d.received_at,"  # noqa: S608
                " d.headers, d.body FROM jobs j JOIN events e ON e.id = j.event_id"
                " LEFT JOIN deliveries d ON d.id = e.delivery_id WHERE j.id = ?",
                (job_id,),
            )
        if row is None:
            return None
        key, payload, delivery_id, received_at, headers, body = row[13:]
        return JobDetail(
            JobRow(*row[:13]),
            self.check_key(key),
            json.loads(payload),
            delivery_id or 0,
            received_at or 0.0,
            json.loads(headers) if headers else {},
            bytes(body or b""),  # pruned bodies are gone; the event stays
        )

    def replay(self, job_ids: Iterable[int] = (), *, status: str | None = None) -> int:
        """Run jobs again from a fresh attempt count: by id, or every job in ``status``.
        A job running under a live lease is left alone."""
        ids = list(job_ids)
        reset = (
            "UPDATE jobs SET status = 'pending', attempts = 0, next_at = 0, owner = NULL,"
            " lease_until = NULL WHERE"
        )
        with self.tx() as db:
            if ids:
                return db.many(f"{reset} id = ? AND status != 'running'", [(i,) for i in ids])
            if status is not None and status != "running":
                return db.run(f"{reset} status = ?", (status,))
        return 0

    def unroutable(self, limit: int = 100) -> list[UnroutableRow]:
        with self.tx() as db:
            rows = db.all(
                "SELECT id, provider, received_at, unroutable, body FROM deliveries"
                " WHERE unroutable IS NOT NULL ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        return [UnroutableRow(i, p, t, r, bytes(b)) for i, p, t, r, b in rows]

    def counts(self) -> dict[str, int]:
        """Jobs per status, and events, deliveries and unroutable parts stored."""
        with self.tx() as db:
            out = dict(db.all("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
            for name, query in (
                ("events", "SELECT COUNT(*) FROM events"),
                ("deliveries", "SELECT COUNT(*) FROM deliveries"),
                ("unroutable", "SELECT COUNT(*) FROM deliveries WHERE unroutable IS NOT NULL"),
            ):
                row = db.one(query)
                out[name] = row[0] if row else 0
        return out

    def prune(self, before: float) -> Pruned:
        """Remove what is finished and older than ``before``: done jobs, then events with
        no job left, then callbacks with no event left (unroutable ones by age).

        Dedup keys go with their events, so a provider redelivering something older than
        the retention is stored again: keep retention well past providers' retry windows
        (Meta retries for up to 7 days)."""
        with self.tx() as db:
            jobs = db.run("DELETE FROM jobs WHERE status = 'done' AND updated_at < ?", (before,))
            events = db.run(
                "DELETE FROM events WHERE created_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM jobs WHERE jobs.event_id = events.id)",
                (before,),
            )
            deliveries = db.run(
                "DELETE FROM deliveries WHERE received_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM events WHERE events.delivery_id = deliveries.id)",
                (before,),
            )
        return Pruned(jobs, events, deliveries)

    def maintain(self) -> None:
        """Engine housekeeping after a prune (SQLite: checkpoint the WAL)."""

    # -- senders -----------------------------------------------------------------------

    def senders(self) -> list[StoredSender]:
        with self.tx() as db:
            rows = db.all(
                "SELECT name, provider, business_id, account_id, settings, updated_at, version"
                " FROM senders ORDER BY name"
            )
        return [_sender(r) for r in rows]

    def sender(self, name: str) -> StoredSender | None:
        with self.tx() as db:
            row = db.one(
                "SELECT name, provider, business_id, account_id, settings, updated_at, version"
                " FROM senders WHERE name = ?",
                (name,),
            )
        return None if row is None else _sender(row)

    def put_sender(self, sender: StoredSender) -> StoredSender:
        """Add or replace a sender; returns it with its new version."""
        with self.tx() as db:
            generation = _bump(db)
            db.run(
                "INSERT INTO senders (name, provider, business_id, account_id, settings,"
                " updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE"
                " SET provider = excluded.provider, business_id = excluded.business_id,"
                " account_id = excluded.account_id, settings = excluded.settings,"
                " updated_at = excluded.updated_at, version = excluded.version",
                (
                    sender.name,
                    sender.provider,
                    sender.business_id,
                    sender.account_id,
                    sender.settings,
                    sender.updated_at,
                    generation,
                ),
            )
        return replace(sender, version=generation)

    def delete_sender(self, name: str) -> bool:
        with self.tx() as db:
            gone = db.run("DELETE FROM senders WHERE name = ?", (name,))
            if gone:
                _bump(db)
        return gone > 0

    def senders_generation(self) -> int:
        """A number that changes whenever a stored sender does (cheap to poll)."""
        with self.tx() as db:
            row = db.one("SELECT value FROM counters WHERE name = 'senders'")
        return int(row[0]) if row else 0

    # -- schema ------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The migration version applied; 0 on a store made before versions (or new)."""
        try:
            with self.tx() as db:
                return current_version(db)
        except self.missing_table:
            return 0

    def migrate(self) -> list[int]:
        """Apply the migrations this store lacks; returns their versions."""
        with self.tx() as db:
            return apply(db, self.migrations)


def _statuses(
    deliveries: Sequence[Delivery], recorded: Sequence[Recorded]
) -> list[tuple[str, str, float]]:
    """(message id, status, time) of every new delivery status stored: for the outbox."""
    out = []
    for d, r in zip(deliveries, recorded, strict=True):
        if not r.new or r.error is not None:
            continue
        for e in d.events:
            if e.type == "MessageStatus":
                message_id, status = e.payload.get("message_id"), e.payload.get("status")
                if (
                    isinstance(message_id, str)
                    and isinstance(status, str)
                    and encodable(message_id)  # a lone surrogate is no id we sent
                ):
                    out.append((message_id, status, d.received_at))
    return out


def _sender(row: tuple[Any, ...]) -> StoredSender:
    name, provider, business_id, account_id, settings, updated_at, version = row
    return StoredSender(
        name, provider, business_id, account_id, bytes(settings), updated_at, version
    )


def _bump(db: Db) -> int:
    row = db.one("UPDATE counters SET value = value + 1 WHERE name = 'senders' RETURNING value")
    assert row is not None  # the migration inserts the row
    return int(row[0])


def need_schema(store: SqlStore) -> None:
    """Raise unless ``store``'s schema is the one this release uses."""
    have, want = store.schema_version(), latest(store.migrations)
    if have < want:
        raise ConfigError(
            "gateway.store",
            f"the store's schema is at version {have}, this release needs {want}:"
            " run `flowgateway store migrate`",
        )
    if have > want:
        raise ConfigError(
            "gateway.store",
            f"the store's schema is at version {have}, newer than this release knows ({want})",
        )
