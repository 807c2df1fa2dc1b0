"""Where the receiver's inbox and the run-time senders live: a URL, embedded by default.

``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db`` (or a bare path): one
SQLite file, no server. ``postgresql://user@host/db?schema=name``: PostgreSQL (extra
``postgres``), for processes on several hosts. :func:`open_store` opens either.
"""

from __future__ import annotations

from pathlib import Path

from gateway.errors import ConfigError
from gateway.store.base import (
    Delivery,
    Job,
    JobDetail,
    JobRow,
    NewEvent,
    Outcome,
    Pruned,
    Recorded,
    Store,
    StoredSender,
    UnroutableRow,
)

__all__ = [
    "Delivery",
    "Job",
    "JobDetail",
    "JobRow",
    "NewEvent",
    "Outcome",
    "Pruned",
    "Recorded",
    "Store",
    "StoredSender",
    "UnroutableRow",
    "open_store",
    "sqlite_path",
]


def sqlite_path(url: str) -> str | None:
    """The file a SQLite store URL (or bare path) names; None for another engine."""
    if url.startswith("sqlite://"):
        rest = url.removeprefix("sqlite://")
        if not rest.startswith("/"):
            raise ConfigError(
                "gateway.store", "a SQLite URL is sqlite:///relative or sqlite:////absolute"
            )
        return rest[1:] or ":memory:"
    if "://" in url:
        return None
    return url


def open_store(
    url: str,
    *,
    migrate: bool | None = None,
    create: bool = True,
    busy_timeout: float = 5.0,
    pool_size: int = 8,
) -> Store:
    """Open the store ``url`` names.

    ``migrate``: apply missing schema migrations on open. None (the default) means yes
    for SQLite (the embedded store upgrades itself) and no for PostgreSQL (a shared schema
    changes only through ``flowgateway store migrate``, or ``migrate = true``).
    ``create=False`` refuses a SQLite file that does not exist (the inspection tools).
    """
    path = sqlite_path(url)
    if path is not None:
        from gateway.store.sqlite import SQLiteStore

        if not path.strip():
            raise ConfigError("gateway.store", "must name a file")
        return SQLiteStore(
            Path(path) if path != ":memory:" else path,
            busy_timeout=busy_timeout,
            create=create,
            migrate=True if migrate is None else migrate,
        )
    scheme = url.partition("://")[0]
    if scheme in ("postgresql", "postgres"):
        from gateway.store.postgres import PostgresStore

        return PostgresStore(url, pool_size=pool_size, migrate=bool(migrate))
    raise ConfigError("gateway.store", f"unknown store {scheme!r}: use sqlite:/// or postgresql://")
