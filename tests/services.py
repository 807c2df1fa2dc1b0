"""The servers some tests use for real: PostgreSQL and Redis on this machine.

Where one is unreachable (a laptop without it) those tests skip, saying which server and
where. ``FLOWGATEWAY_REQUIRE_SERVICES=1`` (set by ``.ci/run``) makes that a failure, so
CI can never pass by skipping them. ``FLOWGATEWAY_POSTGRES_URL`` and
``FLOWGATEWAY_REDIS_URL`` point elsewhere than the defaults.
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get(
    "FLOWGATEWAY_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("FLOWGATEWAY_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRED = os.environ.get("FLOWGATEWAY_REQUIRE_SERVICES", "") not in ("", "0")


@functools.cache
def _unreachable(url: str) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    try:
        with socket.create_connection((host, port or 0), timeout=1.0):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def need(name: str, url: str) -> None:
    """Skip (or, in CI, fail) unless ``url``'s server accepts connections."""
    problem = _unreachable(url)
    if problem is None:
        return
    message = f"{name} is not reachable at {problem} (start it, or set its URL variable)"
    if REQUIRED:
        pytest.fail(f"{message}; FLOWGATEWAY_REQUIRE_SERVICES is set", pytrace=False)
    pytest.skip(message)


def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL store URL with a schema of its own, dropped afterwards."""
    need("PostgreSQL", POSTGRES_URL)
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
