"""The store that spans hosts: PostgreSQL through psycopg 3 and its connection pool.

Jobs are claimed with ``FOR UPDATE SKIP LOCKED``: any number of receivers on any number
of hosts take disjoint jobs without waiting on each other. The tables live in their own
schema (``flowgateway`` unless the URL's ``schema`` parameter names another), so they
never meet an application's own ``events`` or ``jobs``.

The calls are synchronous, like SQLite's: the receiver runs every store call on its store
threads (``[receiver] inbox_threads``), and the pool holds one connection per thread, so
the event loop never waits on the database and the same SQL serves both engines.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gateway.errors import ConfigError
from gateway.extras import require
from gateway.redact import redact_url
from gateway.store import migrations
from gateway.store.base import Queue
from gateway.store.sql import Db, SqlStore, need_schema

require("postgres", "the PostgreSQL store")

import psycopg  # noqa: E402
from psycopg import errors as pg_errors  # noqa: E402
from psycopg_pool import ConnectionPool, PoolTimeout  # noqa: E402

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_LOCK_ID = 0x464C4F57  # "FLOW": the advisory lock migrations take


class PostgresStore(SqlStore):
    """A :class:`~gateway.store.base.Store` on PostgreSQL (``postgresql://…`` URL).

    ``pool_size`` connections at most (one per store thread is enough); ``timeout`` bounds
    the wait for a connection. ``migrate=True`` applies missing migrations on open;
    otherwise a schema older than this release is refused with the command to run.
    """

    migrations = migrations.POSTGRES
    item_errors: ClassVar[tuple[type[Exception], ...]] = (
        pg_errors.DataError,
        pg_errors.IntegrityError,
        psycopg.ProgrammingError,  # a value psycopg cannot adapt
    )
    missing_table: ClassVar[tuple[type[BaseException], ...]] = (pg_errors.UndefinedTable,)

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        timeout: float = 10.0,
        migrate: bool = False,
    ) -> None:
        conninfo, self.schema = split_schema(url)
        self.url = redact_url(url)
        self._timeout = timeout
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=timeout,
            kwargs={"autocommit": True, "options": f"-c search_path={self.schema}"},
            open=False,
            name="flowgateway",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
            if migrate:
                self.migrate()
            else:
                need_schema(self)
        except (psycopg.Error, PoolTimeout) as exc:
            self._pool.close()
            raise ConfigError(
                "gateway.store", f"cannot open the store {self.url}: {_reason(exc)}"
            ) from None
        except ConfigError:
            self._pool.close()
            raise

    @contextmanager
    def tx(self) -> Iterator[Db]:
        with self._pool.connection() as conn, conn.transaction():
            yield _PgDb(conn)

    def bind_key(self, key: str) -> bytes:
        # BYTEA, every key: the exact UTF-8 bytes, a lone surrogate included.
        return key.encode("utf-8", "surrogatepass")

    def _lease(
        self, db: Db, q: Queue, owner: str, now: float, limit: int, lease: float
    ) -> list[int]:
        bump = f"attempts = {q.table}.attempts + 1, " if q.bump else ""
        rows = db.all(
            f"WITH due AS (SELECT id FROM {q.table} WHERE (status = ? AND next_at <= ?)"  # noqa: S608
            " OR (status = ? AND lease_until < ?) ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)"
            f" UPDATE {q.table} SET status = ?, {bump}owner = ?, lease_until = ?,"
            f" updated_at = ? FROM due WHERE {q.table}.id = due.id RETURNING {q.table}.id",
            (q.ready, now, q.held, now, limit, q.held, owner, now + lease, now),
        )
        return sorted(r[0] for r in rows)

    def migrate(self) -> list[int]:
        with self.tx() as db:
            # One migrator at a time across every host; the others wait, then find it done.
            db.run("SELECT pg_advisory_xact_lock(?)", (_LOCK_ID,))
            db.run(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            return migrations.apply(db, self.migrations)

    def check(self, timeout: float = 1.0) -> None:
        """Raise unless the database answers within ``timeout`` seconds."""
        try:
            with self._pool.connection(timeout=timeout) as conn:
                conn.execute("SELECT 1")
        except PoolTimeout:
            raise TimeoutError(f"no store connection within {timeout:g}s") from None

    def close(self) -> None:
        self._pool.close()


class _PgDb:
    __slots__ = ("_c",)

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._c = connection

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self._c.execute(_pg(sql), args, prepare=True).fetchone()

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._c.execute(_pg(sql), args, prepare=True).fetchall()

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._c.execute(_pg(sql), args).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        with self._c.cursor() as cur:
            cur.executemany(_pg(sql), rows)
            return cur.rowcount


@functools.lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (our SQL has no ``%`` and no ``?`` in text)."""
    return sql.replace("?", "%s")


def split_schema(url: str) -> tuple[str, str]:
    """The libpq URL without our ``schema`` parameter, and that schema's name."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "flowgateway"
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if not _SCHEMA_NAME.match(schema):
        raise ConfigError(
            "gateway.store", "schema must be a lower-case SQL name (letters, digits, _)"
        )
    scheme = "postgresql" if parts.scheme.startswith("postgres") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(kept), "")), schema


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
