"""Versioned schema migrations, one list per engine.

The applied version lives in ``flowgateway_schema``; a store opened on an older schema
applies what it lacks (SQLite, by default) or refuses to start until ``flowgateway store
migrate`` has run (PostgreSQL, unless ``migrate = true``), so a deploy never changes a
shared schema behind the other processes' backs. Version 1 is the inbox as it was before
versions existed: its ``IF NOT EXISTS`` statements adopt an existing SQLite file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.store.sql import Db


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    summary: str
    statements: tuple[str, ...]


def current_version(db: Db) -> int:
    """The schema version applied (the table must exist: :func:`apply` creates it)."""
    row = db.one("SELECT MAX(version) FROM flowgateway_schema")
    return int(row[0]) if row and row[0] is not None else 0


def apply(db: Db, migrations: tuple[Migration, ...]) -> list[int]:
    """Apply the migrations above the current version, in order, in ``db``'s
    transaction (which holds the write lock, so two processes cannot both apply one)."""
    db.run(
        "CREATE TABLE IF NOT EXISTS flowgateway_schema (version INTEGER PRIMARY KEY,"
        " summary TEXT NOT NULL)"
    )
    have = current_version(db)
    done = []
    for m in migrations:
        if m.version <= have:
            continue
        for statement in m.statements:
            db.run(statement)
        db.run(
            "INSERT INTO flowgateway_schema (version, summary) VALUES (?, ?)",
            (m.version, m.summary),
        )
        done.append(m.version)
    return done


def latest(migrations: tuple[Migration, ...]) -> int:
    return max(m.version for m in migrations)


def _versions(t: dict[str, str]) -> tuple[Migration, ...]:
    """Every engine's migrations from one text, ``t`` naming its types: ``id`` (an
    auto-increment key), ``int``, ``real``, ``blob`` and ``key`` (the dedup key's type)."""
    return (
        Migration(
            1,
            "inbox: deliveries, events, jobs",
            (
                f"CREATE TABLE IF NOT EXISTS deliveries (id {t['id']}, sender TEXT NOT NULL,"
                f" provider TEXT NOT NULL, received_at {t['real']} NOT NULL,"
                f" headers TEXT NOT NULL, body {t['blob']} NOT NULL)",
                f"CREATE TABLE IF NOT EXISTS events (id {t['id']},"
                f" delivery_id {t['int']} NOT NULL REFERENCES deliveries(id),"
                f" dedup_key {t['key']} NOT NULL UNIQUE, sender TEXT NOT NULL,"
                " provider TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,"
                f" created_at {t['real']} NOT NULL)",
                f"CREATE TABLE IF NOT EXISTS jobs (id {t['id']},"
                f" event_id {t['int']} NOT NULL REFERENCES events(id), handler TEXT NOT NULL,"
                " status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
                f" next_at {t['real']} NOT NULL, last_error TEXT,"
                f" updated_at {t['real']} NOT NULL, UNIQUE (event_id, handler))",
                "CREATE INDEX IF NOT EXISTS jobs_due ON jobs (status, next_at)",
            ),
        ),
        Migration(
            2,
            "leases, unroutable callbacks, senders",
            (
                "ALTER TABLE jobs ADD COLUMN owner TEXT",
                f"ALTER TABLE jobs ADD COLUMN lease_until {t['real']}",
                "CREATE INDEX jobs_lease ON jobs (status, lease_until)",
                # Left running by a release without leases: expired, so taken over.
                "UPDATE jobs SET lease_until = 0 WHERE status = 'running'",
                "ALTER TABLE deliveries ADD COLUMN unroutable TEXT",
                "CREATE INDEX deliveries_age ON deliveries (received_at)",
                "CREATE INDEX events_delivery ON events (delivery_id)",
                "CREATE INDEX events_age ON events (created_at)",
                "CREATE TABLE senders (name TEXT PRIMARY KEY, provider TEXT NOT NULL,"
                f" business_id TEXT, account_id TEXT, settings {t['blob']} NOT NULL,"
                f" updated_at {t['real']} NOT NULL, version {t['int']} NOT NULL)",
                f"CREATE TABLE counters (name TEXT PRIMARY KEY, value {t['int']} NOT NULL)",
                "INSERT INTO counters (name, value) VALUES ('senders', 0)",
            ),
        ),
        Migration(
            3,
            "outbox: durable sends and their delivery",
            (
                f"CREATE TABLE outbox (id {t['id']}, key TEXT NOT NULL UNIQUE,"
                " sender TEXT NOT NULL, provider TEXT NOT NULL, recipient TEXT NOT NULL,"
                " message TEXT NOT NULL,"
                " status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
                f" next_at {t['real']} NOT NULL, owner TEXT, lease_until {t['real']},"
                " message_id TEXT, error_class TEXT, error TEXT,"
                " delivery TEXT, delivery_rank INTEGER NOT NULL DEFAULT 0,"
                f" delivery_at {t['real']},"
                f" created_at {t['real']} NOT NULL, updated_at {t['real']} NOT NULL)",
                "CREATE INDEX outbox_due ON outbox (status, next_at)",
                "CREATE INDEX outbox_lease ON outbox (status, lease_until)",
                "CREATE INDEX outbox_message ON outbox (message_id)",
            ),
        ),
    )


SQLITE = _versions(
    # Version 1 is byte for byte what release 0.1 created (``IF NOT EXISTS`` adopts it).
    {"id": "INTEGER PRIMARY KEY", "int": "INTEGER", "real": "REAL", "blob": "BLOB", "key": "TEXT"}
)
POSTGRES = _versions(
    {
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "int": "BIGINT",
        "real": "DOUBLE PRECISION",
        "blob": "BYTEA",
        # BYTEA: a key holding a lone surrogate (valid JSON, not UTF-8) is kept exactly.
        "key": "BYTEA",
    }
)
