"""The embedded store: one SQLite file (stdlib sqlite3, WAL, ``synchronous=FULL``).

Every transaction starts with ``BEGIN IMMEDIATE``, which takes the file's write lock:
two processes on one file serialize their claims, so no job is leased twice (SQLite's
equivalent of ``FOR UPDATE SKIP LOCKED``). The files hold raw bodies with personal data:
they are created owner-only (0600).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from gateway.errors import ConfigError
from gateway.http import encodable
from gateway.store import migrations
from gateway.store.base import Queue
from gateway.store.sql import Db, SqlStore, need_schema


class SQLiteStore(SqlStore):
    """A :class:`~gateway.store.base.Store` in one SQLite file, safe to share between
    threads and between processes on one host.

    ``busy_timeout`` is how long a write waits for a lock another process holds before
    it fails with "database is locked". ``create=False`` (the inspection tools) refuses a
    file that does not exist instead of making an empty one. ``migrate=False`` refuses a
    file whose schema is older than this release instead of upgrading it.
    """

    migrations = migrations.SQLITE
    item_errors: ClassVar[tuple[type[Exception], ...]] = (
        sqlite3.IntegrityError,
        sqlite3.DataError,
        sqlite3.InterfaceError,  # a value sqlite3 cannot bind
        sqlite3.ProgrammingError,
    )

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        create: bool = True,
        migrate: bool = True,
    ) -> None:
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self._busy_ms = max(0, round(busy_timeout * 1000))
        self._lock = threading.Lock()
        if self.path != ":memory:":
            if not create and not Path(self.path).is_file():
                raise ConfigError("gateway.store", f"no store at {self.path}")
            _create_private(Path(self.path))
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            reason = f"cannot open the store {self.path}: {exc}"
            raise ConfigError("gateway.store", reason) from None
        # SQLite does not call its busy handler while another connection recovers the
        # WAL of a process that died (SQLITE_BUSY_RECOVERY): "locked" at open is retried
        # until busy_timeout, like any other lock.
        deadline = time.monotonic() + max(busy_timeout, 1.0)
        while True:
            try:
                self._open(migrate)
                return
            except sqlite3.Error as exc:
                locked = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
                if locked and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                self._db.close()
                reason = f"cannot open the store {self.path}: {exc}"
                raise ConfigError("gateway.store", reason) from None

    def _open(self, migrate: bool) -> None:
        # The timeout first: switching a new file to WAL takes a lock that another
        # process opening it at the same moment may hold.
        self._db.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # acknowledged means on disk
        # Read the version first: a store already migrated (every start but the
        # first) takes no write lock to open, however busy other processes are.
        if migrate and self.schema_version() < migrations.latest(self.migrations):
            self.migrate()
        else:
            need_schema(self)

    @contextlib.contextmanager
    def tx(self) -> Iterator[Db]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteDb(self._db)
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:
                # A transaction left open would make every later BEGIN fail.
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        """The migration version applied (0: none); a plain read, no write lock."""
        with self._lock:
            try:
                return migrations.current_version(_SQLiteDb(self._db))
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                return 0  # nothing applied yet

    def bind_key(self, key: str) -> str | bytes:
        """``key``, or its exact bytes when it holds a lone surrogate (JSON's ``\\udc00``
        decodes to one; UTF-8 cannot carry it). SQLite keeps such a key as a BLOB, which
        equals only the same bytes: redeliveries still deduplicate, nothing else collides."""
        return key if encodable(key) else key.encode("utf-8", "surrogatepass")

    def _lease(
        self, db: Db, q: Queue, owner: str, now: float, limit: int, lease: float
    ) -> list[int]:
        bump = "attempts = attempts + 1, " if q.bump else ""
        rows = db.all(
            f"UPDATE {q.table} SET status = ?, {bump}owner = ?, lease_until = ?,"  # noqa: S608
            f" updated_at = ? WHERE id IN (SELECT id FROM {q.table} WHERE status = ?"
            f" AND next_at <= ? UNION ALL SELECT id FROM {q.table} WHERE status = ?"
            " AND lease_until < ? ORDER BY id LIMIT ?) RETURNING id",
            (q.held, owner, now + lease, now, q.ready, now, q.held, now, limit),
        )
        return sorted(r[0] for r in rows)

    def check(self, timeout: float = 1.0) -> None:
        """Raise unless a write transaction can start within ``timeout`` seconds (the
        readiness probe: nothing is written)."""
        if not self._lock.acquire(timeout=timeout):
            raise TimeoutError(f"the store stayed busy for {timeout:g}s")
        try:
            self._db.execute(f"PRAGMA busy_timeout={min(self._busy_ms, round(timeout * 1000))}")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("ROLLBACK")
            finally:
                self._db.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        finally:
            self._lock.release()

    def maintain(self) -> None:
        """Checkpoint the WAL and truncate it, so the files stay bounded under steady
        load (a busy reader elsewhere only postpones it to the next call)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _SQLiteDb:
    __slots__ = ("_c",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._c = connection

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._c.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._c.execute(sql, args).fetchall()

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._c.execute(sql, args).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        return self._c.executemany(sql, rows).rowcount


def _create_private(path: Path) -> None:
    """Create the store file (and its directory) owner-only before SQLite opens it:
    SQLite gives the WAL and SHM files the database file's permissions."""
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise ConfigError(
                "gateway.store", f"cannot create the store's directory {parent}: {exc.strerror}"
            ) from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(
            "gateway.store", f"cannot open the store {path}: {exc.strerror}"
        ) from None
    try:
        with contextlib.suppress(OSError):  # not ours to change: leave it as it is
            os.fchmod(fd, 0o600)  # a file made by an older version was 0644
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(f"{path}{suffix}", 0o600)
