"""Where the receiver's inbox and the run-time senders live: a URL, embedded by default.

``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db`` (or a bare path): one
SQLite file, no server. ``postgresql://user@host/db?schema=name``: PostgreSQL (extra
``postgres``), for processes on several hosts. :func:`open_store` opens either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

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

if TYPE_CHECKING:
    from gateway.config import GatewayConfig

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
    "no_outbox_store",
    "open_configured_store",
    "open_store",
    "sqlite_path",
    "store_scheme",
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


STORE_SCHEMES = ("sqlite", "postgresql", "postgres")
"""The store URL schemes :func:`open_store` opens; a bare path is ``sqlite``."""


def store_scheme(url: str) -> str:
    """The scheme of a store URL (``sqlite`` for a bare path); ``ConfigError`` for one
    not in :data:`STORE_SCHEMES`."""
    scheme = url.partition("://")[0] if "://" in url else "sqlite"
    if scheme not in STORE_SCHEMES:
        raise ConfigError(
            "gateway.store", f"unknown store {scheme!r}: use sqlite:/// or postgresql://"
        )
    return scheme


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
    store_scheme(url)  # a SQLite URL is handled above: postgresql, postgres, or this raises
    from gateway.store.postgres import PostgresStore

    return PostgresStore(url, pool_size=pool_size, migrate=bool(migrate))


def no_outbox_store() -> ConfigError:
    """The error of an outbox use without ``[gateway] store``."""
    return ConfigError("gateway.store", "the outbox lives in the store: set [gateway] store")


@overload
def open_configured_store(
    config: GatewayConfig, *, required: Literal[True], create: bool = True
) -> Store: ...
@overload
def open_configured_store(
    config: GatewayConfig, *, required: bool = False, create: bool = True
) -> Store | None: ...
def open_configured_store(
    config: GatewayConfig, *, required: bool = False, create: bool = True
) -> Store | None:
    """The store ``[gateway] store`` names, migrated as ``store_migrate`` says; None when
    it is unset, or with ``required`` (the outbox) :func:`no_outbox_store` raised.
    ``create=False``: as :func:`open_store`."""
    url = config.gateway.store
    if url is None:
        if required:
            raise no_outbox_store()
        return None
    return open_store(url, migrate=config.gateway.store_migrate, create=create)
