"""PostgreSQL only: the shared schema changes only when asked, once, under a lock; the
URL's password never shows; a bad schema name or server is a ConfigError."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gateway.errors import ConfigError
from gateway.store import open_store
from gateway.store.migrations import POSTGRES, latest
from tests.services import POSTGRES_URL, postgres_schema_url


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_schema_url()


def test_a_shared_schema_is_migrated_only_when_asked(pg_url: str) -> None:
    with pytest.raises(ConfigError, match="run `flowgateway store migrate`"):
        open_store(pg_url)  # PostgreSQL: never behind the other processes' backs
    store = open_store(pg_url, migrate=True)
    assert store.schema_version() == latest(POSTGRES)
    store.close()
    open_store(pg_url).close()  # migrated: opens


def test_concurrent_migrations_apply_each_version_once(pg_url: str) -> None:
    results: list[object] = []

    def migrate() -> None:
        try:
            store = open_store(pg_url, migrate=True)
            results.append(store.schema_version())
            store.close()
        except Exception as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [latest(POSTGRES)] * 4


def test_the_password_never_shows_and_bad_urls_are_config_errors() -> None:
    from gateway.redact import redact_url
    from gateway.store.postgres import split_schema

    assert redact_url("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"
    assert split_schema("postgres://h/db?schema=abc&sslmode=disable") == (
        "postgresql://h/db?sslmode=disable",
        "abc",
    )
    with pytest.raises(ConfigError, match="schema must be"):
        split_schema("postgresql://h/db?schema=Robert'); DROP TABLE")
    with pytest.raises(ConfigError) as info:
        open_store("postgresql://u:s3cret@127.0.0.1:1/db?connect_timeout=1", migrate=True)
    assert "s3cret" not in str(info.value)
    assert "cannot open the store" in str(info.value)


def test_tables_live_in_their_own_schema(pg_url: str) -> None:
    import psycopg

    open_store(pg_url, migrate=True).close()
    schema = pg_url.rpartition("schema=")[2]
    with psycopg.connect(POSTGRES_URL) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        }
    assert {"deliveries", "events", "jobs", "senders", "flowgateway_schema"} <= tables
