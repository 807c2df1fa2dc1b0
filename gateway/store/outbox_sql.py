"""The outbox's SQL, for both engines (mixed into :class:`~gateway.store.sql.SqlStore`).

A send is ``queued`` → ``claimed`` (a worker holds its lease; nothing has left) →
``sending`` (committed just before the request goes out) → ``sent`` / ``failed`` /
``unknown``. The split between claimed and sending is what makes a crash safe both ways:
a claimed send whose worker died was never sent, so another worker takes it over once
the lease expires; a *sending* one may have reached the provider, so it becomes
``unknown`` for a person or a rule to decide — never sent twice automatically.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from gateway.store.base import (
    DELIVERY_RANK,
    OUTBOX,
    Enqueued,
    NewSend,
    OutboxJob,
    OutboxRow,
    Queue,
    SendOutcome,
    clip,
    status_key,
)

if TYPE_CHECKING:
    from gateway.store.sql import Db

_ROW = (
    "id, key, sender, provider, recipient, status, attempts, message_id, error_class, error,"
    " delivery, delivery_at, created_at, updated_at, owner, message"
)


class OutboxSql:
    """Outbox operations over an engine's transactions (see the module docstring)."""

    @abstractmethod
    def tx(self) -> AbstractContextManager[Db]: ...

    @abstractmethod
    def _lease(
        self, db: Db, q: Queue, owner: str, now: float, limit: int, lease: float
    ) -> list[int]: ...

    @abstractmethod
    def _extend(
        self, table: str, statuses: str, owner: str, ids: Sequence[int], until: float
    ) -> set[int]: ...

    def enqueue(self, sends: Sequence[NewSend], now: float) -> list[Enqueued]:
        """Keep ``sends`` (one transaction); a key already there adds nothing."""
        out = []
        with self.tx() as db:
            for s in sends:
                row = db.one(
                    "INSERT INTO outbox (key, sender, provider, recipient, message, status,"
                    " next_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)"
                    " ON CONFLICT (key) DO NOTHING RETURNING id",
                    (s.key, s.sender, s.provider, s.recipient, s.message, now, now, now),
                )
                if row is not None:
                    out.append(Enqueued(row[0], s.key, True))
                    continue
                found = db.one("SELECT id FROM outbox WHERE key = ?", (s.key,))
                assert found is not None
                out.append(Enqueued(found[0], s.key, False))
        return out

    def claim_outbox(self, owner: str, now: float, limit: int, lease: float) -> list[OutboxJob]:
        """Lease up to ``limit`` due sends to ``owner``. Sends left *sending* by a worker
        that died become ``unknown`` here (they may have reached the provider)."""
        with self.tx() as db:
            db.run(
                "UPDATE outbox SET status = 'unknown', owner = NULL, lease_until = NULL,"
                " error_class = 'OutcomeUnknown', error = ?, updated_at = ?"
                " WHERE status = 'sending' AND lease_until < ?",
                ("its worker stopped while the request may have been out", now, now),
            )
            ids = self._lease(db, OUTBOX, owner, now, limit, lease)
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            rows = db.all(
                f"SELECT id, key, sender, message, attempts FROM outbox WHERE id IN ({marks})"  # noqa: S608
                " ORDER BY id",
                ids,
            )
        return [OutboxJob(*r) for r in rows]

    def mark_sending(self, owner: str, ids: Sequence[int], now: float) -> set[int]:
        """``owner``'s claimed sends are about to go out: from here a crash makes them
        ``unknown``. Returns the ids it still held."""
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        with self.tx() as db:
            rows = db.all(
                "UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = ?"  # noqa: S608
                f" WHERE id IN ({marks}) AND owner = ? AND status = 'claimed' RETURNING id",
                (now, *ids, owner),
            )
        return {r[0] for r in rows}

    def heartbeat_outbox(self, owner: str, ids: Sequence[int], until: float) -> set[int]:
        return self._extend("outbox", "('claimed', 'sending')", owner, ids, until)

    def settle_outbox(self, owner: str, outcomes: Sequence[SendOutcome], now: float) -> int:
        """Record what became of ``owner``'s sends; a send another worker took over is
        left to it. A sent one takes the furthest status webhook already stored for its
        message id (a fast "delivered" can beat this write). Returns how many changed."""
        changed = 0
        with self.tx() as db:
            for o in outcomes:
                delivery, rank, at = "sent", DELIVERY_RANK["sent"], now
                if o.status == "sent" and o.message_id:
                    delivery, rank, at = self._furthest(db, o.id, o.message_id, now)
                changed += db.run(
                    "UPDATE outbox SET status = ?, message_id = ?, error_class = ?, error = ?,"
                    " next_at = ?, delivery = ?, delivery_rank = ?, delivery_at = ?,"
                    " owner = NULL, lease_until = NULL, updated_at = ?"
                    " WHERE id = ? AND owner = ? AND status IN ('claimed', 'sending')",
                    (
                        o.status,
                        o.message_id,
                        o.error_class,
                        clip(o.error),
                        o.next_at if o.next_at is not None else now,
                        delivery if o.status == "sent" else None,
                        rank if o.status == "sent" else 0,
                        at if o.status == "sent" else None,
                        now,
                        o.id,
                        owner,
                    ),
                )
        return changed

    def _furthest(self, db: Db, entry: int, message_id: str, now: float) -> tuple[str, int, float]:
        row = db.one("SELECT provider FROM outbox WHERE id = ?", (entry,))
        best = ("sent", DELIVERY_RANK["sent"], now)
        if row is None:
            return best
        later = {  # the stored key of each status past "sent"
            self.bind_key(status_key(row[0], message_id, status)): (status, rank)
            for status, rank in DELIVERY_RANK.items()
            if rank > best[1]
        }
        marks = ", ".join("?" * len(later))
        found = db.all(
            f"SELECT dedup_key, created_at FROM events WHERE dedup_key IN ({marks})",  # noqa: S608
            tuple(later),
        )
        for key, created_at in found:
            status, rank = later[key]
            if rank > best[1]:
                best = (status, rank, created_at)
        return best

    @abstractmethod
    def bind_key(self, key: str) -> Any:
        """A dedup key as the engine stores it (the inbox's events)."""

    def link_statuses(self, db: Db, updates: Sequence[tuple[str, str, float]]) -> None:
        """Status webhooks (message id, status, time) move sent sends forward."""
        rows = [
            (status, DELIVERY_RANK[status], at, message_id, DELIVERY_RANK[status])
            for message_id, status, at in updates
            if status in DELIVERY_RANK
        ]
        db.many(
            "UPDATE outbox SET delivery = ?, delivery_rank = ?, delivery_at = ?"
            " WHERE message_id = ? AND delivery_rank < ? AND delivery_rank < 4",
            rows,
        )

    def outbox(self, status: str | None = None, limit: int = 100) -> list[OutboxRow]:
        query = f"SELECT {_ROW} FROM outbox"  # noqa: S608 - column names only
        args: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        with self.tx() as db:
            rows = db.all(query + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [OutboxRow(*r) for r in rows]

    def outbox_entry(self, entry: int | str) -> OutboxRow | None:
        """One entry by id or by idempotency key."""
        column = "id" if isinstance(entry, int) else "key"
        with self.tx() as db:
            row = db.one(f"SELECT {_ROW} FROM outbox WHERE {column} = ?", (entry,))  # noqa: S608
        return None if row is None else OutboxRow(*row)

    def outbox_retry(self, ids: Iterable[int] = (), *, status: str | None = None) -> int:
        """Queue again sends a person decided on: by id, or all ``unknown``/``failed``
        ones. Never a send in flight or already sent."""
        reset = (
            "UPDATE outbox SET status = 'queued', next_at = 0, error_class = NULL,"
            " error = NULL, owner = NULL, lease_until = NULL WHERE status IN"
            " ('unknown', 'failed', 'cancelled')"
        )
        return self._update_chosen(reset, ids, status)

    def outbox_cancel(self, ids: Iterable[int] = (), *, status: str | None = None) -> int:
        """Cancel sends not yet out (queued, unknown, failed); never one in flight."""
        cancel = (
            "UPDATE outbox SET status = 'cancelled', owner = NULL, lease_until = NULL"
            " WHERE status IN ('queued', 'unknown', 'failed')"
        )
        return self._update_chosen(cancel, ids, status)

    def _update_chosen(self, update: str, ids: Iterable[int], status: str | None) -> int:
        """``update`` (ending in a WHERE clause) on the sends of ``status``, else by id."""
        with self.tx() as db:
            if status is not None:
                return db.run(f"{update} AND status = ?", (status,))
            return db.many(f"{update} AND id = ?", [(i,) for i in ids])

    def outbox_counts(self) -> dict[str, int]:
        """Sends per status, and sent ones per delivery state."""
        with self.tx() as db:
            out = dict(db.all("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
            for delivery, n in db.all(
                "SELECT delivery, COUNT(*) FROM outbox WHERE delivery IS NOT NULL GROUP BY delivery"
            ):
                out[f"delivery:{delivery}"] = n
        return out
